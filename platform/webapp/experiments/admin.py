from django.contrib import admin

from webapp.experiments.models import Candidate, Experiment


@admin.register(Experiment)
class ExperimentAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "dataset", "status", "n_trials", "attempts", "created"]
    list_filter = ["status"]
    readonly_fields = ["key", "task_id", "runner", "heartbeat", "pipelines"]


@admin.register(Candidate)
class CandidateAdmin(admin.ModelAdmin):
    list_display = ["model_id", "experiment", "family", "state", "score", "artifact"]
    list_filter = ["state", "artifact"]
    readonly_fields = ["evaluation", "importance"]
