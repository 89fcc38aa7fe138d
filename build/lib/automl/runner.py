"""Which process does a piece of work, and whether it still does: the one rule for the
engine's trials and the platform's jobs.

A runner is named ``host:pid:start time``. Its own machine can tell whether it still runs;
the start time tells it from a later process that reuses its id (a restarted container).
Another machine cannot, and waits for the work's heartbeat to fall silent instead.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path


def runner_name() -> str:
    """This process, as written on the work it runs: ``host:pid:start time``."""
    fields = _proc_fields(os.getpid())
    return f"{worker_name()}:{fields[19] if fields else 0}"


def worker_name() -> str:
    """This process as people read it (a leaderboard row's worker): ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


def runner_alive(runner: str) -> bool | None:
    """Whether the process named ``runner`` still runs: None when it ran on another machine
    (or is no runner's name)."""
    host, _, rest = runner.partition(":")
    pid, _, started = rest.partition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return None
    fields = _proc_fields(int(pid))
    if fields is None:
        if Path("/proc/self/stat").exists():
            return False
        try:  # no /proc on this system: ask the kernel
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    # A zombie runs nothing (nothing reaps orphans in a container without an init), and
    # another start time means the id was reused by a new process.
    return fields[0] not in ("Z", "X") and fields[19] == started


def _proc_fields(pid: int) -> list[str] | None:
    """The fields of ``/proc/<pid>/stat`` after the command name; None when unreadable."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
