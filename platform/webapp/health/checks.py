"""Is each part of the platform up? Used by ``/healthz`` and the header's worker indicator."""

from __future__ import annotations

from dataclasses import dataclass

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
    badge: str = "No worker running"  # the header's few words when this is down

    def to_dict(self) -> dict:
        return {"ok": self.ok, "detail": self.detail}


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


# What waits while no worker serves a queue.
WAITING = {
    "short": "uploaded files, builds and batch scoring wait",
    "training": "experiments wait",
}


def served_queues() -> list[str]:
    """The queue each answering worker serves, once per worker and queue (ask only when
    Redis is up)."""
    with celery_app.connection_for_write(settings.CELERY_BROKER_URL) as connection:
        inspect = celery_app.control.inspect(timeout=WORKER_PING_TIMEOUT, connection=connection)
        replies = inspect.active_queues() or {}
    return [queue["name"] for queues in replies.values() for queue in queues]


def workers() -> Status:
    """Whether every queue has a worker that answers (only ask when Redis is up)."""
    served = set(served_queues())
    if not served:
        return Status(
            False, "No Celery worker is running: jobs wait in the queue until one starts."
        )
    missing = [queue for queue in settings.WORKER_QUEUES if queue not in served]
    if missing:
        detail = "; ".join(
            f"No worker serves the {queue} queue: {WAITING.get(queue, 'its jobs wait')} until "
            "one starts" for queue in missing
        )  # fmt: skip
        return Status(False, f"{detail}.", badge=f"No {' or '.join(missing)} worker running")
    return Status(True, f"Workers serve every queue ({', '.join(sorted(served))})")


def everything() -> dict[str, Status]:
    statuses = {"database": database(), "redis": broker()}
    if statuses["redis"].ok:
        statuses["workers"] = workers()
    else:
        statuses["workers"] = Status(False, "Workers cannot be reached while Redis is down.")
    return statuses
