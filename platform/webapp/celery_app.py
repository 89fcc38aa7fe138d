"""The Celery application: ``celery -A webapp.celery_app worker``.

Settings come from Django's settings under the ``CELERY_`` prefix; tasks live in each app's
``tasks.py``. Tasks take ids, not objects, and treat the database row as the truth about a
job's state (see docs/architecture.md).
"""

import os

from celery import Celery
from celery.signals import beat_init, celeryd_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

app = Celery("webapp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@beat_init.connect
def _reap_at_start(sender, **kwargs) -> None:
    """The reapers run once as the platform starts, not only after their first interval:
    jobs whose worker died with the last run are recovered, and its leftovers swept, at once."""
    for entry in app.conf.beat_schedule.values():
        app.send_task(entry["task"], **entry.get("options", {}))


@celeryd_init.connect
def _concurrency_of_its_queues(sender, conf, options, **kwargs) -> None:
    """A worker runs as many jobs at once as the queues it serves allow (WORKER_QUEUES), unless
    its command line says ``--concurrency``."""
    from django.conf import settings

    if options.get("concurrency"):
        return
    queues = options.get("queues") or list(settings.WORKER_QUEUES)
    conf.worker_concurrency = sum(settings.WORKER_QUEUES.get(queue, 1) for queue in queues)
