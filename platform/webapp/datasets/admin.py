from django.contrib import admin

from webapp.datasets.models import Dataset


@admin.register(Dataset)
class DatasetAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "status", "n_rows", "n_columns", "size", "created"]
    list_filter = ["status"]
    readonly_fields = ["key", "profile", "preview", "target_profile", "dialect"]
