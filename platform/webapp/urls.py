from django.contrib import admin
from django.urls import include, path

from webapp.accounts.views import home
from webapp.api import api

urlpatterns = [
    path("", home, name="home"),
    path("accounts/", include("webapp.accounts.urls")),
    path("datasets/", include("webapp.datasets.urls")),
    path("experiments/", include("webapp.experiments.urls")),
    path("deployments/", include("webapp.deployments.urls")),
    path("", include("webapp.health.urls")),
    path("api/v1/", api.urls),
    path("admin/", admin.site.urls),
]

handler500 = "webapp.lib.errors.server_error"
