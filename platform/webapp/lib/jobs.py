"""One lifecycle for every row whose work runs on a worker: a dataset being read, an
experiment training, a batch being scored.

A job is claimed by one process (``Job.claim``), which writes a heartbeat while it works
(``Heartbeat``). A job whose process is gone (no longer alive on this machine, or silent for
``HEARTBEAT_TIMEOUT`` on another) is sent again once, then failed with a reason: the reaper
(``reap``, which Celery beat runs) does that, and a redelivered message does the same when it
arrives first. A waiting job whose message the broker no longer holds (lost in a restart, or
taken by a worker that was then killed) is sent again by the reaper, and a person may start
any stuck job again (``start_again``). Duplicated or late messages find the job taken, ended
or re-queued and do nothing.
``running`` wraps the work: heartbeat, the worker's memory ceiling, and every known failure
(an engine error, memory, a full disk, the time limit) written on the row in words.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import ClassVar

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection, models, transaction
from django.utils import timezone

from automl import runner_alive, runner_name
from webapp.lib import broker, memory
from webapp.lib.files import DISK_FULL, human_size, is_disk_full, remove_partials

logger = logging.getLogger(__name__)

TOO_LONG = (
    "The job took longer than this worker allows (TASK_SOFT_TIME_LIMIT); choose a shorter "
    "time budget or a smaller file."
)
QUEUE_DOWN = "The job queue (Redis) could not be reached, so the job never started. Try again."
# A live process whose job has not beaten for this long is not doing it (its end could not be
# written, say, while the database was away): the job counts as lost all the same.
STUCK_AFTER = timedelta(minutes=15)
# Seconds between attempts to write a job's end while the database does not answer.
END_RETRIES = (1, 2, 4, 8, 15)


def heartbeat_timeout() -> timedelta:
    return timedelta(seconds=settings.HEARTBEAT_TIMEOUT)


class Job(models.Model):
    """A row whose work a worker does. Subclasses name their waiting and working statuses
    (``QUEUED``, ``RUNNING``), the ``directory`` their files live in, and define ``celery_task``,
    ``fail`` and ``lost_worker_message``."""

    attempts = models.PositiveSmallIntegerField(default=0)
    runner = models.CharField(max_length=300, blank=True)
    heartbeat = models.DateTimeField(null=True, blank=True)
    # When its message was last sent (first, when the row was made): one the broker still
    # lacks well after is lost.
    sent = models.DateTimeField(default=timezone.now)

    QUEUED: ClassVar[str]
    RUNNING: ClassVar[str]
    directory: Path
    # A job whose worker died twice would most likely kill a third (out of memory).
    MAX_ATTEMPTS: ClassVar[int] = 2

    class Meta:
        abstract = True

    @classmethod
    def celery_task(cls):
        """The Celery task that does the work, given the job's id."""
        raise NotImplementedError

    def send(self) -> None:
        """Queue the job's task (see ``enqueue``)."""
        self.enqueue()

    def enqueue(self, **options) -> None:
        """Send the task with this job's id once the transaction commits; a broker that
        cannot be reached fails the job in words rather than leaving it waiting for ever."""
        self.sent = timezone.now()
        type(self).objects.filter(pk=self.pk).update(sent=self.sent)
        broker.send_on_commit(self.celery_task(), self.pk, lambda: self.fail(QUEUE_DOWN), **options)

    def fail(self, reason: str) -> None:
        raise NotImplementedError

    def lost_worker_message(self) -> str:
        raise NotImplementedError

    def may_claim(self, task_id: str | None) -> bool:
        """Whether this row (locked) is for the message ``task_id`` to take."""
        return self.status in (self.QUEUED, self.RUNNING)

    def on_claim(self) -> None:
        """Reset what a new attempt starts afresh (the row is locked and saved after)."""

    def claim(self, task_id: str | None = None) -> bool:
        """Take the job for this process: True when the caller should do the work now.

        A message redelivered after its worker died finds the job still running under a dead
        process and takes it again, up to ``MAX_ATTEMPTS`` times; then the job fails.
        """
        with transaction.atomic():
            row = type(self).objects.select_for_update().get(pk=self.pk)
            if not row.may_claim(task_id):
                return False
            if row.status == self.RUNNING and not row.runner_lost():
                return False
            if row.attempts >= self.MAX_ATTEMPTS:
                row.fail(row.lost_worker_message())
                return False
            if row.attempts:  # taken again: what the lost attempt was writing is nobody's now
                remove_partials(row.directory)
            row.status, row.runner = self.RUNNING, runner_name()
            row.heartbeat = timezone.now()
            row.attempts += 1
            row.on_claim()
            row.save()
        self.refresh_from_db()
        return True

    def runner_lost(self) -> bool:
        """Whether the process doing this job is gone: it is not alive on this machine, or
        (on another machine) its heartbeat stopped; or it lives but has not beaten for
        ``STUCK_AFTER``, so it no longer does this job."""
        silent_since = timezone.now() - (self.heartbeat or timezone.now() - STUCK_AFTER * 2)
        alive = runner_alive(self.runner)
        if alive is not None:
            return not alive or silent_since > STUCK_AFTER
        return self.heartbeat is None or silent_since > heartbeat_timeout()

    def mine(self, runner: str | None = None) -> models.QuerySet:
        """This job, as long as ``runner`` (by default the one it was claimed by) does it:
        every write a worker makes goes through it, so a process that lost the job changes
        nothing."""
        runner = self.runner if runner is None else runner
        return type(self).objects.filter(pk=self.pk, runner=runner, status=self.RUNNING)

    def unfinished(self) -> models.QuerySet:
        """This job while it waits, or runs under the runner this object knows: how a job is
        ended (failed, cancelled), so a worker that lost it to another ends nothing."""
        return type(self).objects.filter(
            pk=self.pk, status__in=[self.QUEUED, self.RUNNING], runner=self.runner
        )

    @property
    def is_stalled(self) -> bool:
        """Running, though its worker is gone and the reaper has not sent it again yet."""
        return self.status == self.RUNNING and self.runner_lost()

    @property
    def is_stuck(self) -> bool:
        """Stalled, or waiting for a message the broker lost: what "Start again" is for (pages
        ask it, so it looks at the broker once)."""
        if self.status == self.QUEUED:
            if not self._waited_long():
                return False
            return bool(broker.lost(self.celery_task(), [self.pk], look_twice=False))
        return self.is_stalled

    def _waited_long(self) -> bool:
        return self.sent < timezone.now() - heartbeat_timeout()

    def start_again(self) -> bool:
        """Send a stuck job again because a person asked, with its attempts counted afresh;
        False when it is not stuck (it ended meanwhile, or a worker has it)."""
        with transaction.atomic():
            row = type(self).objects.select_for_update().get(pk=self.pk)
            if not row.is_stuck:
                return False
            row.status, row.runner, row.attempts = self.QUEUED, "", 0
            row.save(update_fields=["status", "runner", "attempts"])
            row.send()
        self.refresh_from_db()
        return True

    def should_stop(self) -> bool:
        """Whether the work should end early (read by the heartbeat)."""
        return False

    def beat(self, runner: str) -> bool:
        """Record that ``runner`` still works; False when it should stop: the job ended, was
        handed to another worker, or ``should_stop`` says so."""
        beating = self.mine(runner).update(heartbeat=timezone.now())
        return bool(beating) and not self.should_stop()

    def requeue_or_fail(self) -> None:
        """What the reaper does with a job whose worker died."""
        if self.attempts >= self.MAX_ATTEMPTS:
            self.fail(self.lost_worker_message())
            return
        type(self).objects.filter(pk=self.pk).update(status=self.QUEUED, runner="")
        self.status, self.runner = self.QUEUED, ""
        self.send()


def reap(model: type[Job]) -> None:
    """Send again once, or fail, the jobs of ``model`` whose worker is gone, and send again
    the waiting ones whose message was lost.

    Only jobs silent for ``HEARTBEAT_TIMEOUT``: a pool process killed mid-job has its message
    redelivered at once, and that redelivery takes the job first.
    """
    _resend_lost(model)
    silent = models.Q(heartbeat__lt=timezone.now() - heartbeat_timeout())
    for job in model.objects.filter(silent | models.Q(heartbeat=None), status=model.RUNNING):
        if not job.runner_lost():
            continue
        with transaction.atomic():  # look again under a lock: it may have ended since
            row = model.objects.select_for_update().filter(pk=job.pk).first()
            if row and row.status == model.RUNNING and row.runner_lost():
                logger.warning("%s %s lost its worker %s", model.__name__, row.pk, row.runner)
                row.requeue_or_fail()


class Heartbeat:
    """A thread that records, every few seconds, that this process still does the job, and
    notices when it should stop (``stopped``)."""

    def __init__(self, job: Job):
        self.job = job
        self.runner = runner_name()
        self._stop = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join()

    def stopped(self) -> bool:
        return self._stop.is_set()

    def _beat(self) -> None:
        try:
            while not self._done.wait(settings.HEARTBEAT_SECONDS):
                try:
                    if not self.job.beat(self.runner):
                        self._stop.set()
                except Exception:  # a database hiccup must not end the job; the next beat retries
                    logger.exception("Heartbeat of %s %s failed", type(self.job).__name__,
                                     self.job.pk)  # fmt: skip
                    close_old_connections()
        finally:
            connection.close()


def failure_reason(error: BaseException) -> str | None:
    """The plain reason for a known failure of a job's work, or None for a bug."""
    from automl import AutoMLError, TooLargeError

    if isinstance(error, TooLargeError):
        return (
            f"{error} Split the file, or ask an administrator to raise MAX_DECOMPRESSED_SIZE "
            "(and JOB_MEMORY_LIMIT, if this machine has the memory)."
        )
    if isinstance(error, AutoMLError):
        return str(error)
    if isinstance(error, MemoryError) or memory.is_allocation_failure(error):
        return (
            f"The job needed more memory than the {human_size(settings.JOB_MEMORY_LIMIT)} a job "
            "may use on this server (JOB_MEMORY_LIMIT). Try a smaller file, fewer columns or a "
            "sample of the rows, or ask an administrator to raise the limit."
        )
    if isinstance(error, OSError) and is_disk_full(error):
        return DISK_FULL
    if isinstance(error, SoftTimeLimitExceeded):
        return TOO_LONG
    return None


@contextlib.contextmanager
def running(job: Job, internal_error: str) -> Iterator[Heartbeat]:
    """Do a claimed job's work under a heartbeat and the worker's memory ceiling; a failure
    ends the job failed with its reason (``internal_error`` for a bug, which is logged)."""
    with Heartbeat(job) as heartbeat:
        try:
            with memory.ceiling(settings.JOB_MEMORY_LIMIT):
                yield heartbeat
        except Exception as error:  # MemoryError included: it is an Exception
            reason = failure_reason(error)
            if reason is None:
                logger.exception("%s %s failed", type(job).__name__, job.pk)
            _write_end(job, reason or internal_error)
        finally:
            memory.return_freed()


def _resend_lost(model: type[Job]) -> None:
    """Send again the jobs waiting for ``HEARTBEAT_TIMEOUT`` whose message the broker lacks."""
    since = timezone.now() - heartbeat_timeout()
    waiting = list(
        model.objects.filter(sent__lt=since, status=model.QUEUED).values_list("pk", flat=True)
    )
    for pk in sorted(broker.lost(model.celery_task(), waiting)):
        with transaction.atomic():
            row = model.objects.select_for_update().filter(pk=pk, status=model.QUEUED).first()
            if row and row._waited_long():  # not sent again meanwhile
                logger.warning("%s %s lost its message: sending it again", model.__name__, pk)
                row.send()


def _write_end(job: Job, reason: str) -> None:
    """``job.fail(reason)``, tried again while the database does not answer (a restart takes
    seconds); if it never does, the reaper finds the job silent and deals with it."""
    for delay in (*END_RETRIES, None):
        try:
            job.fail(reason)
            return
        except DatabaseError:
            if delay is None:
                logger.exception("Could not record the end of %s %s", type(job).__name__, job.pk)
                return
            close_old_connections()
            time.sleep(delay)
