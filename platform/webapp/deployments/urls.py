from django.urls import path

from webapp.deployments import views

app_name = "deployments"

urlpatterns = [
    path("", views.index, name="index"),
    path("new/<int:candidate_id>", views.create, name="create"),
    path("<slug:slug>/", views.detail, name="detail"),
    path("<slug:slug>/versions", views.add_version, name="add_version"),
    path("<slug:slug>/rollback/<int:number>", views.rollback, name="rollback"),
    path("<slug:slug>/status", views.set_status, name="set_status"),
    path("<slug:slug>/keys", views.create_key, name="create_key"),
    path("<slug:slug>/keys/<int:key_id>/revoke", views.revoke_key, name="revoke_key"),
    path("<slug:slug>/delete", views.delete, name="delete"),
    path("<slug:slug>/batches", views.create_batch, name="create_batch"),
    path("<slug:slug>/batches/<int:batch_id>/result", views.batch_result, name="batch_result"),
    path("<slug:slug>/batches/<int:batch_id>/delete", views.delete_batch, name="delete_batch"),
    path("<slug:slug>/batches/<int:batch_id>/restart", views.restart_batch, name="restart_batch"),
]
