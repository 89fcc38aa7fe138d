"""``make run`` and ``make dev``: bring up web server, workers, beat and (if needed) Redis together.

Runs before Django is configured, so it only prepares the environment: a secret key kept in
the data directory, migrations, static files, a private Redis when ``REDIS_URL`` is not set.
Then it hands over to honcho, which runs the Procfile in the foreground with prefixed logs
and stops every process on Ctrl-C.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from webapp.lib import redis_server
from webapp.lib.datadir import ROOT, use_secret_key


def manage(*args: str) -> None:
    result = subprocess.run([sys.executable, str(ROOT / "manage.py"), *args])
    if result.returncode != 0:
        sys.exit(f"Stopped: `manage.py {args[0]}` failed; the reason is in its last line above.")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dev", action="store_true", help="DEBUG on, auto-reload")
    args = parser.parse_args(argv)

    directory = use_secret_key()
    env = os.environ
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "platform"), env.get("PYTHONPATH", "")])
    # The Procfile's commands (gunicorn, celery, python) come from this virtualenv.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    if args.dev:
        env["DEBUG"] = "true"
    port = env.get("PORT", "8000")
    if not args.dev:  # gunicorn's processes share their metrics through this folder
        env.setdefault("PROMETHEUS_MULTIPROC_DIR", str(directory / "prometheus"))

    processes = ["web", "short", "training", "beat"]  # a worker for each queue
    if not env.get("REDIS_URL"):
        redis_port = redis_server.free_port()
        env["REDIS_PORT"] = str(redis_port)
        env["REDIS_DIR"] = str(directory / "redis")
        env["REDIS_URL"] = f"redis://127.0.0.1:{redis_port}/0"
        processes.append("redis")

    manage("migrate", "--noinput", "--verbosity", "1")
    if not args.dev:
        manage("collectstatic", "--noinput", "--verbosity", "0")

    procfile = ROOT / ("Procfile.dev" if args.dev else "Procfile")
    print(
        f"\nThe platform is starting on http://127.0.0.1:{port}/\n"
        "Open it in a browser: on a fresh install it asks you to create the first account.\n"
        f"Data directory: {directory}. Redis: {env['REDIS_URL']}. Stop everything with Ctrl-C.\n",
        flush=True,
    )
    honcho = [sys.executable, "-m", "honcho", "-f", str(procfile), "-d", str(ROOT)]
    os.execv(sys.executable, [*honcho, "start", "-p", port, *processes])


if __name__ == "__main__":
    main()
