from django.urls import path

from webapp.experiments import views

app_name = "experiments"

urlpatterns = [
    path("", views.index, name="index"),
    path("new/<int:dataset_id>/", views.new, name="new"),
    path("<int:experiment_id>/", views.detail, name="detail"),
    path("<int:experiment_id>/cancel", views.cancel, name="cancel"),
    path("<int:experiment_id>/restart", views.restart, name="restart"),
    path("<int:experiment_id>/delete", views.delete, name="delete"),
    path("<int:experiment_id>/compare", views.compare, name="compare"),
    path("<int:experiment_id>/leaderboard.csv", views.leaderboard_csv, name="leaderboard_csv"),
    path("models/<int:candidate_id>/", views.model, name="model"),
    path("models/<int:candidate_id>/build", views.build, name="build"),
    path("models/<int:candidate_id>/artifact", views.artifact, name="artifact"),
    path("models/<int:candidate_id>/onnx", views.onnx, name="onnx"),
    path("models/<int:candidate_id>/fairness", views.fairness, name="fairness"),
    path("models/<int:candidate_id>/report", views.report, name="report"),
]
