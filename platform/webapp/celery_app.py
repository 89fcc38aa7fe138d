"""The Celery application: ``celery -A webapp.celery_app worker``.

Settings come from Django's settings under the ``CELERY_`` prefix; tasks live in each app's
``tasks.py``. Tasks take ids, not objects, and treat the database row as the truth about a
job's state (see docs/architecture.md).
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

app = Celery("webapp")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
