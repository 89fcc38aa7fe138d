"""Logs a log collector can read: one JSON object a line (``LOG_FORMAT=json``), each carrying
the id of the request or the Celery task it was written for, so that one request's or one
job's lines can be found among many processes'.

A request's id is the ``X-Request-ID`` its proxy sent (when it looks like one) or a new one,
and the response carries it back; a task's is Celery's own.
"""

import json
import logging
import re
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime

from celery import current_task
from django.core.signals import request_finished

REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)
# What a proxy's id may look like: anything else is replaced rather than written to the logs.
GOOD_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


class RequestId:
    """Middleware: every request gets an id, in the logs of what it does and in the
    ``X-Request-ID`` of its response."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        sent = request.headers.get("X-Request-ID", "")
        request_id = sent if GOOD_ID.fullmatch(sent) else uuid.uuid4().hex
        # Kept until the request has finished (``forget_request``): Django logs a 4xx after
        # the middleware has returned.
        REQUEST_ID.set(request_id)
        response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response


def forget_request(**kwargs) -> None:
    REQUEST_ID.set(None)


request_finished.connect(forget_request, dispatch_uid="webapp.lib.logs.forget_request")


class Context(logging.Filter):
    """Adds ``request_id`` and ``task_id`` (None outside a request or a task) to each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = REQUEST_ID.get()
        record.task_id = getattr(current_task.request, "id", None) if current_task else None
        return True


class JsonFormatter(logging.Formatter):
    """A record as one line of JSON: time (UTC, ISO 8601), level, logger, message, the request
    and task ids, and the traceback of an exception."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
            "task_id": getattr(record, "task_id", None),
            "process": record.process,
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)
