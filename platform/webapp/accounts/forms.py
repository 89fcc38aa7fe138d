import unicodedata

from django import forms
from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm, UserCreationForm

from webapp.lib import limits
from webapp.lib.security import client_address


class SignupForm(UserCreationForm):
    class Meta(UserCreationForm.Meta):
        fields = ["username"]


class NewUserForm(UserCreationForm):
    """An account an administrator creates for someone, with a password to pass on."""

    is_staff = forms.BooleanField(required=False, label="Administrator",
                                  help_text="Manages the team and sees this page.")  # fmt: skip

    class Meta(UserCreationForm.Meta):
        fields = ["username", "is_staff"]


class InvitationForm(forms.Form):
    note = forms.CharField(max_length=200, required=False, label="Who it is for",
                           help_text="To recognise it in the list.")  # fmt: skip
    is_staff = forms.BooleanField(required=False, label="Administrator")


class QuotaForm(forms.Form):
    """One user's quotas; an empty field means the server's default."""

    storage_gb = forms.DecimalField(required=False, min_value=0, max_value=100_000,
                                    decimal_places=1, label="Storage (GB)")  # fmt: skip
    experiments = forms.IntegerField(required=False, min_value=0, max_value=1000,
                                     label="Experiments at once")  # fmt: skip
    jobs = forms.IntegerField(required=False, min_value=0, max_value=10_000,
                              label="Jobs at once")  # fmt: skip


class TokenForm(forms.Form):
    name = forms.CharField(
        max_length=100,
        help_text="What the token is for, such as “nightly scoring script”.",
    )


def _login_limits() -> tuple[limits.Limit, limits.Limit]:
    seconds = settings.LOGIN_LOCKOUT_SECONDS
    return (
        limits.Limit("login-account", settings.LOGIN_FAILURES_PER_ACCOUNT, seconds),
        limits.Limit("login-address", settings.LOGIN_FAILURES_PER_ADDRESS, seconds),
    )


class ThrottledLogin:
    """For an authentication form: failed logins are counted per account and per address;
    ``LOGIN_FAILURES_PER_*`` of them within ``LOGIN_LOCKOUT_SECONDS`` lock logins there out,
    whatever the password, for ``LOGIN_LOCKOUT_SECONDS``. A success clears the account's
    count."""

    throttled = False

    def clean(self):
        account, address = _login_limits()
        # As the username field reads it (NFKC): a full-width "admin" counts against "admin".
        username = unicodedata.normalize("NFKC", self.data.get("username") or "")
        username = username.strip().casefold()
        origin = client_address(self.request) if self.request else ""
        wait = max(limits.locked(account, username) or 0, limits.locked(address, origin) or 0)
        if wait:
            self.throttled = True
            raise forms.ValidationError(
                f"Too many failed attempts: try again in {limits.in_words(wait)}.",
                code="throttled",
            )
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            limits.fail(account, username)
            limits.fail(address, origin)
            raise
        limits.clear(account, username)
        return cleaned


class LoginForm(ThrottledLogin, AuthenticationForm):
    pass


class AdminLoginForm(ThrottledLogin, AdminAuthenticationForm):
    pass
