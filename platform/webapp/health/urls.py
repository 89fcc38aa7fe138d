from django.urls import path

from webapp.health import views

app_name = "health"

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("healthz/badge", views.worker_badge, name="worker_badge"),
    path("metrics", views.prometheus, name="metrics"),
]
