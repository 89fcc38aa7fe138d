"""Errors as users meet them: under ``/api/`` every error is JSON, and a database that does not
answer is a 503 saying so, not a 500.

Django answers some requests before any API code runs (an unknown path, a body over the size
limit, a failed CSRF check) and ninja answers a wrong method with plain text; ``JsonErrors``
turns those answers into the API's one error shape (``ErrorOut``) with the same status.
``server_error`` is the project's 500 handler: it tells a lost database connection from a bug.
"""

from __future__ import annotations

import logging
import sys

import pydantic
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.template import loader
from ninja import Field, Schema

from webapp.lib.files import human_size

logger = logging.getLogger(__name__)

API_PREFIX = "/api/"
DATABASE_DOWN = (
    "The database is not answering right now, so nothing was read or changed. "
    "Try again in a moment."
)
INTERNAL = "Something went wrong on our side; it has been logged."
# Seconds a client should wait before trying again while the database is down.
RETRY_AFTER = 10


def is_api(request) -> bool:
    return request.path.startswith(API_PREFIX)


class ErrorOut(Schema):
    """Every error of the API: one sentence, and one line per problem where there are several
    (a field, or a row and column, first)."""

    detail: str = Field(..., description="What went wrong, in one sentence")
    errors: list[str] = Field(
        [], description="One line per problem, each naming its field, or its row and column"
    )


def problems(lines: list[str]) -> dict:
    """An ``ErrorOut`` body for a request with several problems: the count and the first in
    ``detail``, each one in ``errors``."""
    return {"detail": f"{len(lines)} problem(s) in the request: {lines[0]}.", "errors": lines}


def json_error(status: int, message: str, **headers: str) -> JsonResponse:
    response = JsonResponse({"detail": message, "errors": []}, status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def body_too_large() -> str:
    limit = human_size(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
    return (
        f"The request body is larger than the {limit} this server reads (MAX_REQUEST_BODY); "
        "send fewer rows per request, or score a file as a batch."
    )


class JsonErrors:
    """Middleware: an error answered anywhere under ``/api/`` reaches the client as JSON."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if is_api(request) and response.status_code >= 400 and not _is_json(response):
            return _as_json(request, response)
        return response

    def process_exception(self, request, exception):
        if is_api(request) and isinstance(exception, RequestDataTooBig):
            return json_error(413, body_too_large())
        return None


def _is_json(response) -> bool:
    return response.get("Content-Type", "").startswith("application/json")


def _as_json(request, response) -> JsonResponse:
    status = response.status_code
    if status == 404:
        message = f"There is no {request.path} in this API; see /api/v1/docs for what there is."
    elif status == 405:
        allowed = response.get("Allow", "")
        message = f"{request.method} is not allowed on {request.path}; it answers {allowed}."
    elif status == 403:
        message = (
            "Forbidden. From a program, authenticate with 'Authorization: Bearer <token>'; "
            "a browser form needs its CSRF token."
        )
    elif status == 400:
        message = "The request could not be read: check its headers and body."
    elif status >= 500 and status != 503:
        message = INTERNAL
    else:
        message = response.reason_phrase
    answer = json_error(status, message)
    for name, value in response.items():
        if name.lower() not in ("content-type", "content-length"):
            answer[name] = value
    answer.cookies = response.cookies
    return answer


def _database_down(error: BaseException | None) -> bool:
    """Whether ``error`` is a lost database connection, also when it surfaced while an API
    answer was being written: a list read lazily fails inside pydantic, which keeps only
    the error's name and message."""
    if isinstance(error, (OperationalError, InterfaceError)):
        return True
    if isinstance(error, pydantic.ValidationError):
        prefixes = tuple(f"{kind.__name__}: " for kind in (OperationalError, InterfaceError))
        return any(
            str(e.get("ctx", {}).get("error", "")).startswith(prefixes)
            for e in error.errors(include_url=False)
            if e["type"] == "get_attribute_error"
        )
    return False


def server_error(request):
    """The 500 handler: a 503 with a plain message when the database is away, else a 500."""
    error = sys.exc_info()[1]
    if _database_down(error):
        logger.warning("Database unavailable for %s: %s", request.path, error)
        if is_api(request):
            return json_error(503, DATABASE_DOWN, Retry_After=str(RETRY_AFTER))
        # A page of its own: base.html would ask the database for the user.
        body = loader.render_to_string("503.html", {"message": DATABASE_DOWN})
        response = HttpResponse(body, status=503)
        response["Retry-After"] = str(RETRY_AFTER)
        return response
    if is_api(request):
        return json_error(500, INTERNAL)
    return HttpResponse(loader.render_to_string("500.html"), status=500)
