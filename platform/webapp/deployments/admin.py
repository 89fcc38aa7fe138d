from django.contrib import admin

from webapp.deployments.models import Batch, Deployment, DeploymentKey, Version


class VersionInline(admin.TabularInline):
    model = Version
    fields = ["number", "candidate", "created"]
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True


class KeyInline(admin.TabularInline):
    model = DeploymentKey
    fields = ["name", "prefix", "scope", "rate_limit", "created", "revoked"]
    readonly_fields = ["name", "prefix", "created"]
    extra = 0
    can_delete = False


@admin.register(Deployment)
class DeploymentAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "owner", "status", "current", "created"]
    list_filter = ["status"]
    search_fields = ["slug", "name", "owner__username"]
    readonly_fields = ["current", "created"]
    inlines = [VersionInline, KeyInline]


@admin.register(Version)
class VersionAdmin(admin.ModelAdmin):
    list_display = ["__str__", "candidate", "created"]
    search_fields = ["deployment__slug"]
    # What a version serves is fixed when it is made: requests already rely on it.
    readonly_fields = ["deployment", "number", "candidate", "schema", "ignored_columns",
                       "classes", "created"]  # fmt: skip


@admin.register(DeploymentKey)
class DeploymentKeyAdmin(admin.ModelAdmin):
    list_display = ["name", "deployment", "prefix", "scope", "rate_limit", "created", "revoked"]
    list_filter = ["scope"]
    search_fields = ["name", "prefix", "deployment__slug"]
    # Only the digest is kept: a key cannot be shown again, only revoked or limited here.
    readonly_fields = ["deployment", "prefix", "digest", "created"]


@admin.register(Batch)
class BatchAdmin(admin.ModelAdmin):
    list_display = ["filename", "deployment", "version", "status", "rows_done", "created"]
    list_filter = ["status"]
    search_fields = ["filename", "deployment__slug"]
    readonly_fields = ["key", "runner", "heartbeat", "notes", "sent_by"]
