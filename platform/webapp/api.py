"""The JSON API under ``/api/v1/``, with its OpenAPI schema and interactive docs.

Every endpoint needs a personal token (``Authorization: Bearer <token>``) or a logged-in
session; anything else gets a 401 with a JSON message. Each app adds its own router.
"""

from __future__ import annotations

import contextvars
import functools

from ninja import NinjaAPI
from ninja.errors import AuthenticationError, ValidationError

from webapp.accounts.api import SessionAuth, TokenAuth, request_user
from webapp.accounts.api import router as accounts_router
from webapp.accounts.quotas import QuotaExceeded
from webapp.datasets.api import router as datasets_router
from webapp.deployments import openapi as deployment_openapi
from webapp.deployments.api import router as deployments_router
from webapp.deployments.models import Deployment
from webapp.deployments.serving import RequestError
from webapp.experiments.api import router as experiments_router
from webapp.lib.errors import problems

# Who is reading the schema: their deployments are added to it, with their real columns.
reader = contextvars.ContextVar("reader", default=None)


def _read_by(view):
    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        token = reader.set(request_user(request))
        try:
            return view(request, *args, **kwargs)
        finally:
            reader.reset(token)

    return wrapped


class PlatformAPI(NinjaAPI):
    def create_response(self, request, data, *, status=None, temporal_response=None):
        # One error shape whoever answers (ninja's own 404s too): see ErrorOut.
        code = temporal_response.status_code if temporal_response else status
        if code >= 400 and isinstance(data, dict) and "detail" in data:
            data = {**data, "errors": data.get("errors", [])}
        return super().create_response(
            request, data, status=status, temporal_response=temporal_response
        )

    def get_openapi_schema(self, *args, **kwargs):
        schema = super().get_openapi_schema(*args, **kwargs)
        user = reader.get()
        if user is not None:
            owned = Deployment.objects.owned_by(user).select_related(
                "current__candidate__experiment"
            )
            for deployment in owned:
                schema["paths"].update(deployment_openapi.paths(deployment))
        # The prediction endpoints check a deployment's key themselves (an unknown deployment
        # is a 404 before any key is looked at), so ninja cannot declare the scheme for them.
        schema["components"].setdefault("securitySchemes", {})["DeploymentKey"] = {
            "type": "http",
            "scheme": "bearer",
            "description": "A deployment's key, shown when it is created: `dep_...`",
        }
        _declare_common_errors(schema)
        return schema


ERROR = {"$ref": "#/components/schemas/ErrorOut"}
COMMON_ERRORS = {
    "401": "Not authenticated",
    "404": "Not found, or not yours",
    "422": "The request does not fit this schema: each line of errors names a field",
}


def _declare_common_errors(schema: dict) -> None:
    """Declare the answers every endpoint of a kind gives, where its own declaration does
    not: 401 without credentials, 404 for an id or slug that is not yours, 422 for a request
    that does not validate."""
    for item in schema["paths"].values():
        for operation in item.values():
            statuses = []
            if operation.get("security"):
                statuses.append("401")
            parameters = operation.get("parameters", [])
            if any(p["in"] == "path" for p in parameters):
                statuses.append("404")
            if parameters or "requestBody" in operation:
                statuses.append("422")
            # ninja keys the declared answers by number, openapi_extra by string: one key each,
            # or the JSON holds "401" twice and Swagger UI refuses to render the document.
            operation["responses"] = {str(k): v for k, v in operation["responses"].items()}
            for status in statuses:
                operation["responses"].setdefault(status, {
                    "description": COMMON_ERRORS[status],
                    "content": {"application/json": {"schema": ERROR}},
                })  # fmt: skip


api = PlatformAPI(
    title="AutoML platform API",
    version="1",
    description=(
        "Upload data, train models and call them. Authenticate with a personal token from "
        "your account page: `Authorization: Bearer <token>`."
    ),
    auth=[TokenAuth(), SessionAuth()],
    urls_namespace="api",
    docs_url="/docs",
    docs_decorator=_read_by,
)
api.add_router("/", accounts_router)
api.add_router("/", datasets_router)
api.add_router("/", experiments_router)
api.add_router("/", deployments_router)


@api.exception_handler(RequestError)
def request_error(request, exc: RequestError):
    response = api.create_response(request, exc.body(), status=exc.status)
    for name, value in exc.headers.items():
        response[name] = value
    return response


@api.exception_handler(QuotaExceeded)
def over_quota(request, exc: QuotaExceeded):
    return api.create_response(request, {"detail": str(exc)}, status=exc.status)


@api.exception_handler(ValidationError)
def invalid(request, exc: ValidationError):
    """ninja's validation errors in the API's one shape: a line per field, named as sent."""
    lines = [f"{_field(error.get('loc', ()))}: {error.get('msg', 'invalid')}"
             for error in exc.errors]  # fmt: skip
    return api.create_response(request, problems(lines or ["invalid request"]), status=422)


def _field(location) -> str:
    parts = [str(part) for part in location]
    while parts and parts[0] in ("body", "payload", "query", "path", "form", "file"):
        parts.pop(0)
    return ".".join(parts) or "request"


@api.exception_handler(AuthenticationError)
def unauthenticated(request, exc):
    message = (
        "Authentication required: send 'Authorization: Bearer <token>' with a token from "
        "your account page, or log in."
    )
    return api.create_response(request, {"detail": message}, status=401)
