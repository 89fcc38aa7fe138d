from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model, login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse_lazy
from django.views.decorators.http import require_POST

from webapp.accounts.forms import SignupForm, TokenForm
from webapp.accounts.models import ApiToken
from webapp.lib.ownership import get_owned_or_404


def _is_fresh_install() -> bool:
    return not get_user_model().objects.exists()


def _signup_open() -> bool:
    return settings.ALLOW_SIGNUP or _is_fresh_install()


def home(request):
    if request.user.is_authenticated:
        return redirect("datasets:index")
    return redirect("accounts:signup" if _is_fresh_install() else "accounts:login")


def signup(request):
    if request.user.is_authenticated:
        return redirect("datasets:index")
    if not _signup_open():
        messages.info(
            request, "Sign-up is closed on this server: ask an administrator for an account."
        )
        return redirect("accounts:login")

    is_first = _is_fresh_install()
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save(commit=False)
        # The first account administers the install: there are no default credentials.
        user.is_staff = user.is_superuser = _is_fresh_install()
        user.save()
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, f"Welcome, {user.username}. Your account is ready.")
        return redirect("datasets:index")
    return render(request, "accounts/signup.html", {"form": form, "is_first": is_first})


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def get(self, request, *args, **kwargs):
        if _is_fresh_install():
            return redirect("accounts:signup")
        return super().get(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        return super().get_context_data(signup_open=_signup_open(), **kwargs)


class PasswordChangeView(auth_views.PasswordChangeView):
    template_name = "accounts/password_change.html"
    success_url = reverse_lazy("accounts:profile")

    def form_valid(self, form):
        messages.success(self.request, "Your password has been changed.")
        return super().form_valid(form)


def _profile(request, form=None, status=200):
    context = {
        "tokens": ApiToken.objects.owned_by(request.user),
        "form": form or TokenForm(),
        # Set by create_token just before its redirect, and shown this once.
        "new_token": request.session.pop("new_token", None),
    }
    return render(request, "accounts/profile.html", context, status=status)


@login_required
def profile(request):
    return _profile(request)


@login_required
@require_POST
def create_token(request):
    form = TokenForm(request.POST)
    if not form.is_valid():
        return _profile(request, form, status=400)
    token, key = ApiToken.issue(request.user, form.cleaned_data["name"])
    # Redirect rather than render, so that reloading the page cannot create a second token.
    request.session["new_token"] = {"name": token.name, "key": key}
    return redirect("accounts:profile")


@login_required
@require_POST
def revoke_token(request, token_id: int):
    token = get_owned_or_404(ApiToken, request.user, pk=token_id)
    token.delete()
    messages.success(request, f"Token “{token.name}” revoked: programs using it are now refused.")
    return redirect("accounts:profile")
