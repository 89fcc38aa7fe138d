from django.urls import path

from webapp.datasets import views

app_name = "datasets"

urlpatterns = [
    path("", views.index, name="index"),
    path("upload/", views.upload, name="upload"),
    path("<int:dataset_id>/", views.detail, name="detail"),
    path("<int:dataset_id>/kind/", views.set_kind, name="set_kind"),
    path("<int:dataset_id>/target/", views.set_target, name="set_target"),
    path("<int:dataset_id>/keep/", views.set_keep, name="set_keep"),
    path("<int:dataset_id>/reingest/", views.reingest, name="reingest"),
    path("<int:dataset_id>/delete/", views.delete, name="delete"),
]
