from django.urls import path

from webapp.experiments import views

app_name = "experiments"

urlpatterns = [
    path("", views.index, name="index"),
]
