from django.urls import path

from webapp.deployments import views

app_name = "deployments"

urlpatterns = [
    path("", views.index, name="index"),
]
