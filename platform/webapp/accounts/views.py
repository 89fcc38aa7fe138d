from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth import get_user_model, login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse, reverse_lazy
from django.views.decorators.http import require_POST

from webapp.accounts import quotas
from webapp.accounts.forms import (
    InvitationForm,
    LoginForm,
    NewUserForm,
    QuotaForm,
    SignupForm,
    TokenForm,
)
from webapp.accounts.models import ApiToken, FirstAccount, Invitation, Quota
from webapp.lib.ownership import get_owned_or_404

GB = 1024**3
CLOSED = "Sign-up is closed on this server: ask an administrator for an invitation."


def _is_fresh_install() -> bool:
    return not get_user_model().objects.exists()


def _signup_open() -> bool:
    return settings.ALLOW_SIGNUP or _is_fresh_install()


def home(request):
    if request.user.is_authenticated:
        return redirect("datasets:index")
    return redirect("accounts:signup" if _is_fresh_install() else "accounts:login")


def _welcome(request, user):
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    messages.success(request, f"Welcome, {user.username}. Your account is ready.")
    return redirect("datasets:index")


def signup(request):
    if request.user.is_authenticated:
        return redirect("datasets:index")
    if not _signup_open():
        messages.info(request, CLOSED)
        return redirect("accounts:login")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            # Under the lock, the first of two simultaneous sign-ups is the only first one.
            FirstAccount.lock()
            is_first = _is_fresh_install()
            if not (is_first or settings.ALLOW_SIGNUP):
                messages.info(request, CLOSED)
                return redirect("accounts:login")
            user = form.save(commit=False)
            # The first account administers the install: there are no default credentials.
            user.is_staff = user.is_superuser = is_first
            user.save()
        return _welcome(request, user)
    context = {"form": form, "is_first": _is_fresh_install()}
    return render(request, "accounts/signup.html", context)


def accept_invitation(request, key: str):
    invitation = Invitation.find(key)
    if invitation is None:
        return render(request, "accounts/invitation.html", {"invitation": None}, status=404)
    if request.user.is_authenticated:
        messages.info(request, "You are logged in already: log out to accept an invitation.")
        return redirect("datasets:index")
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            locked = Invitation.pending().select_for_update().filter(pk=invitation.pk).first()
            if locked is None:  # accepted or expired in the meantime
                raise Http404("This invitation has been used.")
            user = form.save(commit=False)
            user.is_staff = locked.is_staff
            user.save()
            locked.accepted_by, locked.accepted = user, user.date_joined
            locked.save(update_fields=["accepted_by", "accepted"])
        return _welcome(request, user)
    return render(request, "accounts/invitation.html", {"invitation": invitation, "form": form})


class LoginView(auth_views.LoginView):
    template_name = "accounts/login.html"
    authentication_form = LoginForm
    redirect_authenticated_user = True

    def get(self, request, *args, **kwargs):
        if _is_fresh_install():
            return redirect("accounts:signup")
        return super().get(request, *args, **kwargs)

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if form.throttled:
            response.status_code = 429
        return response

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
        "usage": quotas.usage(request.user),
        "allowance": quotas.allowance(request.user),
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


# The team page: the administrators' place for accounts, invitations and quotas.
def _members() -> list:
    members = list(get_user_model().objects.select_related("quota").order_by("username"))
    for member in members:
        member.usage, member.allowance = quotas.usage(member), quotas.allowance(member)
        quota = getattr(member, "quota", None)
        member.quota_form = QuotaForm(
            initial={
                "storage_gb": None if quota is None or quota.storage is None
                else Decimal(quota.storage) / GB,
                "experiments": quota.experiments if quota else None,
                "jobs": quota.jobs if quota else None,
            },
            prefix=f"user-{member.pk}",
        )  # fmt: skip
    return members


def _team(request, *, new_user=None, invitation=None, status=200):
    context = {
        "members": _members(),
        "invitations": Invitation.pending().select_related("created_by"),
        "new_user_form": new_user or NewUserForm(),
        "invitation_form": invitation or InvitationForm(),
        "new_link": request.session.pop("new_invitation", None),
        "defaults": {
            "storage": settings.QUOTA_STORAGE,
            "experiments": settings.QUOTA_EXPERIMENTS,
            "jobs": settings.QUOTA_JOBS,
        },
        "signup_open": settings.ALLOW_SIGNUP,
    }
    return render(request, "accounts/team.html", context, status=status)


@staff_member_required(login_url="accounts:login")
def team(request):
    return _team(request)


@staff_member_required(login_url="accounts:login")
@require_POST
def invite(request):
    form = InvitationForm(request.POST)
    if not form.is_valid():
        return _team(request, invitation=form, status=400)
    invitation, key = Invitation.issue(
        request.user, note=form.cleaned_data["note"], is_staff=form.cleaned_data["is_staff"]
    )
    link = request.build_absolute_uri(reverse("accounts:invitation", args=[key]))
    # Shown once, after a redirect: only the key's digest is kept.
    request.session["new_invitation"] = {"link": link, "note": invitation.note}
    return redirect(reverse("accounts:team") + "#invitations")


@staff_member_required(login_url="accounts:login")
@require_POST
def cancel_invitation(request, invitation_id: int):
    Invitation.pending().filter(pk=invitation_id).delete()
    messages.success(request, "Invitation cancelled: its link no longer works.")
    return redirect(reverse("accounts:team") + "#invitations")


@staff_member_required(login_url="accounts:login")
@require_POST
def create_user(request):
    form = NewUserForm(request.POST)
    if not form.is_valid():
        return _team(request, new_user=form, status=400)
    user = form.save()
    messages.success(request, f"Account “{user.username}” created: pass on its password.")
    return redirect("accounts:team")


def _manageable(request, member) -> bool:
    """Whether the administrator asking may change ``member``: a superuser only by another."""
    if member.is_superuser and not request.user.is_superuser:
        messages.error(request, f"Only a superuser can change {member.username}, a superuser.")
        return False
    return True


@staff_member_required(login_url="accounts:login")
@require_POST
def set_quota(request, user_id: int):
    member = get_object_or_404(get_user_model(), pk=user_id)
    if not _manageable(request, member):
        return redirect("accounts:team")
    form = QuotaForm(request.POST, prefix=f"user-{member.pk}")
    if not form.is_valid():
        messages.error(request, f"Quotas of {member.username}: " + form.errors.as_text())
        return redirect("accounts:team")
    data = form.cleaned_data
    storage = None if data["storage_gb"] is None else int(data["storage_gb"] * GB)
    Quota.objects.update_or_create(
        user=member,
        defaults={"storage": storage, "experiments": data["experiments"], "jobs": data["jobs"]},
    )
    messages.success(request, f"Quotas of {member.username} saved.")
    return redirect("accounts:team")


@staff_member_required(login_url="accounts:login")
@require_POST
def set_active(request, user_id: int):
    member = get_object_or_404(get_user_model(), pk=user_id)
    if member == request.user:
        messages.error(request, "You cannot deactivate your own account.")
        return redirect("accounts:team")
    if not _manageable(request, member):
        return redirect("accounts:team")
    member.is_active = request.POST.get("active") == "1"
    member.save(update_fields=["is_active"])
    state = "can log in again" if member.is_active else "can no longer log in or use its tokens"
    messages.success(request, f"{member.username} {state}.")
    return redirect("accounts:team")
