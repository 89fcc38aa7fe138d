"""Account endpoints of the JSON API, and the bearer-token authentication it uses."""

from datetime import datetime

from django.conf import settings
from ninja import Router, Schema, Status
from ninja.pagination import paginate
from ninja.security import APIKeyCookie, HttpBearer

from webapp.accounts.models import ApiToken
from webapp.lib.ownership import get_owned_or_404
from webapp.lib.pages import Page


class TokenAuth(HttpBearer):
    """``Authorization: Bearer <token>`` with a personal API token."""

    def authenticate(self, request, token: str):
        user = ApiToken.user_for_key(token)
        if user is not None:
            request.user = user
        return user


class SessionAuth(APIKeyCookie):
    """A logged-in browser session, CSRF-checked for unsafe methods.

    Unlike ninja's ``django_auth``, a request with no session is simply not authenticated
    here, so a program with a wrong token gets 401, not a puzzling "CSRF check failed".
    """

    param_name = settings.SESSION_COOKIE_NAME

    def _get_key(self, request):
        return super()._get_key(request) if request.user.is_authenticated else None

    def authenticate(self, request, key):
        return request.user if request.user.is_authenticated else None


def request_user(request):
    """The user a request comes from, by session or personal token; None if neither."""
    if request.user.is_authenticated:
        return request.user
    key = bearer(request)
    return ApiToken.user_for_key(key) if key else None


def bearer(request) -> str:
    """The key of an ``Authorization: Bearer <key>`` header, or ""."""
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    return key.strip() if scheme.lower() == "bearer" else ""


router = Router(tags=["account"])


class UserOut(Schema):
    id: int
    username: str
    email: str


class TokenOut(Schema):
    id: int
    name: str
    prefix: str
    created: datetime
    last_used: datetime | None


@router.get("/me", response=UserOut, summary="The account the request is authenticated as")
def me(request):
    return request.user


@router.get("/tokens", response=list[TokenOut], summary="Your API tokens (never their keys)")
@paginate(Page)
def list_tokens(request):
    return ApiToken.objects.owned_by(request.user)


@router.delete("/tokens/{token_id}", response={204: None}, summary="Revoke one of your tokens")
def revoke_token(request, token_id: int):
    get_owned_or_404(ApiToken, request.user, pk=token_id).delete()
    return Status(204, None)
