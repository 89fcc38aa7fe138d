"""Workers of a test's own, on queues of their own, and ways to kill them."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from pathlib import Path

from tests.conftest import ROOT, _service_env, procfile_command


def pool_processes(worker_pid: int) -> list[int]:
    """The pool processes (children) of the worker whose main process is ``worker_pid``."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == worker_pid:
            children.append(int(stat.parent.name))
    return children


@contextlib.contextmanager
def own_worker(redis_url: str, kind: str, queue: str, *options: str, name: str = "", **env):
    """A worker started by the Procfile's ``kind`` command, serving only ``queue`` (so the
    suite's workers never take its tasks), killed whole by the block's end unless the test
    killed it first. ``name`` sets its node name apart from other workers of ``queue``;
    ``env`` adds to its environment."""
    node = f"{name or queue}-{os.getpid()}@%h"
    command = [*procfile_command(kind), "--hostname", node, "--queues", queue, *options]
    worker = subprocess.Popen(command, cwd=ROOT, env=_service_env(redis_url, **env),
                              start_new_session=True)  # fmt: skip
    try:
        yield worker
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()


def kill_whole(worker: subprocess.Popen) -> None:
    """SIGKILL a worker's pool processes and its main process, as a machine that dies would."""
    for pid in [*pool_processes(worker.pid), worker.pid]:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
