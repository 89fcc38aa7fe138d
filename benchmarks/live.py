"""A real platform for benchmarks: gunicorn, a Celery worker and a private Redis, started with
the Procfile's commands on a temporary data directory, and a small JSON API client for it."""

from __future__ import annotations

import http.client
import json
import os
import shlex
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "platform"))

from webapp.lib import redis_server  # noqa: E402


class Client:
    """Calls the API of the platform on ``port`` with a personal token."""

    def __init__(self, port: int, token: str):
        self.port, self.token = port, token

    def upload(self, path: Path, url: str = "/api/v1/datasets") -> dict:
        """POST the file as multipart/form-data, streamed from disk in 1 MB chunks."""
        boundary = uuid.uuid4().hex
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{path.name}"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        tail = f"\r\n--{boundary}--\r\n".encode()
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=600)
        connection.putrequest("POST", url)
        connection.putheader("Authorization", f"Bearer {self.token}")
        connection.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
        connection.putheader("Content-Length", str(len(head) + path.stat().st_size + len(tail)))
        connection.endheaders()
        connection.send(head)
        with path.open("rb") as file:
            while block := file.read(1024 * 1024):
                connection.send(block)
        connection.send(tail)
        return json.loads(connection.getresponse().read())

    def request(self, method: str, url: str, body: dict | None = None) -> tuple[int, bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"}
        connection.request(method, url, body=json.dumps(body) if body else None, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()

    def get(self, url: str) -> dict:
        return json.loads(self.request("GET", url)[1])

    def post(self, url: str, body: dict | None = None) -> dict:
        return json.loads(self.request("POST", url, body)[1])

    def wait(
        self, url: str, done: set[str], timeout: float = 3600, every: float = 0.5, key="status"
    ) -> dict:
        """GET ``url`` until its ``key`` field is one of ``done`` (or the timeout passes)."""
        deadline = time.monotonic() + timeout
        while True:
            state = self.get(url)
            if state[key] in done or time.monotonic() > deadline:
                return state
            time.sleep(every)


def manage(env: dict, code: str) -> str:
    """Run ``code`` in ``manage.py shell`` against the platform of ``env``; what it printed."""
    command = [sys.executable, str(ROOT / "manage.py"), "shell", "--no-imports", "-c", code]
    return subprocess.run(command, env=env, check=True, capture_output=True, text=True).stdout


def new_user(env: dict, username: str) -> str:
    """Create an account on the platform of ``env``; its API token."""
    return manage(env, "from django.contrib.auth.models import User; "
                  "from webapp.accounts.models import ApiToken; "
                  f"u = User.objects.create_user({username!r}, password='x'); "
                  "print(ApiToken.issue(u, 't')[1])").strip()  # fmt: skip


@contextmanager
def platform(data_dir: Path, **settings: str):
    """Start a platform on ``data_dir``, with extra environment ``settings``; yields a
    ``Client`` and the web and worker processes."""
    port, redis_port = redis_server.free_port(), redis_server.free_port()
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": f"{ROOT / 'platform'}{os.pathsep}{ROOT}",
        "DATA_DIR": str(data_dir),
        "SECRET_KEY": "benchmark",
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        **settings,
    }
    env.pop("DATABASE_URL", None)
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True)
    subprocess.run([*manage, "collectstatic", "--noinput", "-v0"], env=env, check=True)
    subprocess.run(
        [*manage, "shell", "--no-imports", "-c", "from django.contrib.auth.models import User;"
         "User.objects.create_user('bench', password='x')"],
        env=env, check=True,
    )  # fmt: skip
    token = subprocess.run(
        [*manage, "apitoken", "bench"], env=env, check=True, capture_output=True, text=True
    ).stdout.strip()
    redis = redis_server.start(redis_port, data_dir / "redis")
    procfile = dict(
        line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line
    )
    processes = {
        name: subprocess.Popen(shlex.split(procfile[name]), cwd=ROOT, env=env,
                               stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        for name in ("web", "short", "training")
    }  # fmt: skip
    try:
        client = Client(port, token)
        client.env = env  # for manage.py commands against the same platform
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                client.request("GET", "/healthz")
                break
            except OSError:
                time.sleep(0.2)
        time.sleep(3)  # the workers connect
        yield client, processes
    finally:
        for process in (*processes.values(), redis):
            process.terminate()
            process.wait(timeout=60)


def peak_memory_mb(pattern: str) -> float:
    """The largest peak resident size among processes whose command line has ``pattern``."""
    peaks = []
    pids = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout
    for pid in pids.split():
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                peaks.append(int(line.split()[1]) / 1024)
    return max(peaks, default=0.0)
