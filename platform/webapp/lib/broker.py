"""Sending work to the broker, and finding out what it still holds.

A job's row says it waits for a worker; the broker (Redis) holds the message a worker will
take. The two can disagree: the broker was down when the job was sent, or it restarted and
lost the last second of its append-only file, or it was emptied, or the worker that had
taken the message (reserved it, before starting) was killed, which leaves the message
unacknowledged until the visibility timeout, hours later. ``send_on_commit`` covers the first
(the job fails in words at once); ``lost`` finds rows whose message is gone, so the reapers
can send them again.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Callable, Iterable

from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)

# A message only now being taken leaves the queue a moment before the worker records it as
# taken (kombu's unacknowledged hash): a message missing from both is looked for once more.
SECOND_LOOK_SECONDS = 1.0
# How long the live workers are given to say which taken messages they hold.
ASK_WORKERS_SECONDS = 1.0


def send_on_commit(task, job_id: int, on_failure: Callable[[], None], **options) -> None:
    """Send ``task`` for ``job_id`` once the transaction commits, so no worker reads a row
    that is not written yet; ``on_failure`` records that the broker could not be reached."""

    def send():
        try:
            task.apply_async((job_id,), **options)
        except Exception:
            logger.exception("Could not send %s for %s", task.name, job_id)
            on_failure()

    transaction.on_commit(send)


def lost(task, job_ids: Iterable[int], *, look_twice: bool = True) -> set[int]:
    """The ids among ``job_ids`` that no message of ``task`` is for, neither waiting in a
    queue nor taken by a worker and not yet acknowledged: their message was lost. Empty
    when the broker cannot be read (a broker that is down loses nothing yet). One look is
    enough where a rare false alarm costs only a duplicate message, which does nothing."""
    missing = set(job_ids)
    for attempt in range(2 if look_twice else 1):
        if not missing:
            break
        if attempt:
            time.sleep(SECOND_LOOK_SECONDS)
        held = _held_messages()
        if held is None:
            return set()
        waiting, taken = held
        missing -= {job_id for name, job_id in waiting if name == task.name}
        # A taken message is held while a live worker has it: only those of missing jobs
        # are asked about, so a queue that simply waits costs no question to the workers.
        taken = {task_id: job_id for task_id, (name, job_id) in taken.items()
                 if name == task.name and job_id in missing}  # fmt: skip
        if taken:
            missing -= {taken[task_id] for task_id in _known_to_workers(list(taken))}
    return missing


def _known_to_workers(task_ids: list[str]) -> set[str]:
    """The ids among ``task_ids`` that a live worker, on any machine, has reserved, scheduled
    or is running; all of them when the workers cannot be asked (nothing is lost then)."""
    from webapp.celery_app import app

    try:
        answers = app.control.inspect(timeout=ASK_WORKERS_SECONDS).query_task(*task_ids)
    except Exception:
        logger.warning("Could not ask the workers which messages they hold", exc_info=True)
        return set(task_ids)
    return {task_id for known in (answers or {}).values() for task_id in known}


def _held_messages() -> tuple[set, dict] | None:
    """What the broker holds for this platform's queues: (task name, first argument) of each
    waiting message, and the same by task id for each taken one not yet acknowledged; None
    when it cannot be read."""
    from webapp.celery_app import app

    try:
        with app.connection_for_read() as connection:
            connection.ensure_connection(max_retries=1)  # down: say so now, not after retries
            channel = connection.default_channel
            client = channel.client
            queues = {settings.SHORT_QUEUE, settings.TRAINING_QUEUE, *settings.WORKER_QUEUES}
            # Each priority step is a list of its own; read before the taken messages, so a
            # message moving from one to the other meanwhile is seen in the second.
            keys = {channel._q_for_pri(queue, step) for queue in queues
                    for step in channel.priority_steps}  # fmt: skip
            waiting = [message for key in sorted(keys) for message in client.lrange(key, 0, -1)]
            taken = [json.loads(held)[0] for held in client.hvals(channel.unacked_key)]
    except Exception:
        logger.warning("Could not read the broker's queues", exc_info=True)
        return None
    waiting = {held[1:] for held in map(_read, waiting) if held}
    return waiting, {held[0]: held[1:] for held in map(_read, taken) if held}


def _read(message) -> tuple[str, str, object] | None:
    """(task id, task name, first argument) of a task message."""
    try:
        payload = json.loads(message) if isinstance(message, str | bytes) else message
        body = payload["body"]
        if payload.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        args = json.loads(body)[0]
        headers = payload["headers"]
        return headers["id"], headers["task"], args[0] if args else None
    except (ValueError, KeyError, IndexError, TypeError):
        return None  # not a task message of ours
