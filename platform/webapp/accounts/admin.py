from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin

from webapp.accounts.forms import AdminLoginForm
from webapp.accounts.models import ApiToken, FirstAccount, Invitation, Quota

# The admin's login counts failed attempts like the platform's own login page.
admin.site.login_form = AdminLoginForm


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "owner", "prefix", "created", "last_used"]
    readonly_fields = ["prefix", "digest", "created", "last_used"]


@admin.register(Invitation)
class InvitationAdmin(admin.ModelAdmin):
    list_display = ["prefix", "note", "is_staff", "created_by", "expires", "accepted_by"]
    readonly_fields = ["prefix", "digest", "created", "accepted_by", "accepted"]


@admin.register(Quota)
class QuotaAdmin(admin.ModelAdmin):
    list_display = ["user", "storage", "experiments", "jobs"]


@admin.register(FirstAccount)
class FirstAccountAdmin(admin.ModelAdmin):
    """The lock that makes only one sign-up the install's first account: shown, never edited."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class QuotaInline(admin.StackedInline):
    model = Quota
    can_delete = True
    verbose_name_plural = "quotas (empty: the server's defaults)"


User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class UserWithQuotaAdmin(UserAdmin):
    inlines = [QuotaInline]
