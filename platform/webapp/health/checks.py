"""Is each part of the platform up? Used by ``/healthz`` and the header's worker indicator."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import redis
from django.conf import settings
from django.db import DatabaseError, connection

from webapp.celery_app import app as celery_app

# Long enough for a busy worker's main process to answer, short enough for a health probe.
WORKER_PING_TIMEOUT = 1.0


@dataclass(frozen=True)
class Status:
    ok: bool
    detail: str

    def to_dict(self) -> dict:
        return asdict(self)


def database() -> Status:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as err:
        return Status(False, f"The database does not answer ({type(err).__name__}).")
    return Status(True, f"{connection.vendor} answers")


def broker() -> Status:
    client = redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1)
    try:
        client.ping()
    except redis.RedisError as err:
        return Status(False, f"Redis does not answer ({type(err).__name__}).")
    finally:
        client.close()
    return Status(True, "Redis answers")


def workers() -> Status:
    """Whether at least one Celery worker answers a ping (only ask when Redis is up)."""
    with celery_app.connection_for_write(settings.CELERY_BROKER_URL) as connection:
        replies = celery_app.control.ping(
            timeout=WORKER_PING_TIMEOUT, limit=1, connection=connection
        )
    if not replies:
        return Status(
            False, "No Celery worker is running: jobs wait in the queue until one starts."
        )
    return Status(True, "A Celery worker answers")


def everything() -> dict[str, Status]:
    statuses = {"database": database(), "redis": broker()}
    if statuses["redis"].ok:
        statuses["workers"] = workers()
    else:
        statuses["workers"] = Status(False, "Workers cannot be reached while Redis is down.")
    return statuses
