"""How much memory a job may use, and the ceiling that holds it there.

A job runs under ``ceiling(JOB_MEMORY_LIMIT)``: an address-space limit on its process, so a
runaway job (a file that expands past what the readers check, a model too large for the
machine) fails itself with a MemoryError, and the kernel never has to pick a process to kill,
which could be Redis or PostgreSQL. Imports nothing from Django: settings derive their
defaults from ``machine_memory`` before Django is configured.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
from collections.abc import Iterator
from pathlib import Path

# A process reserves address space it never touches (thread stacks, malloc arenas, libraries
# mapped whole): measured at 1.5 to 1.9 GB for a training process on 2 cores, whatever the
# data's size. The ceiling counts from the address space at the job's start plus this, so
# the memory a job really uses can grow by the limit.
RESERVED = 2 * 1024**3
CGROUP_LIMITS = (
    Path("/sys/fs/cgroup/memory.max"),  # cgroup v2, as in Docker and systemd
    Path("/sys/fs/cgroup/memory/memory.limit_in_bytes"),  # cgroup v1
)


def machine_memory() -> int:
    """Bytes of memory this process may use: the machine's, or its container's if smaller."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for path in CGROUP_LIMITS:
        with contextlib.suppress(OSError, ValueError):
            total = min(total, int(path.read_text().strip()))
    return total


def is_allocation_failure(error: BaseException) -> bool:
    """Whether ``error`` is a library's way of saying memory ran out (C++ libraries raise
    their own error types with the message of ``std::bad_alloc``)."""
    return "bad_alloc" in str(error) or "Cannot allocate memory" in str(error)


def _address_space() -> int:
    with contextlib.suppress(OSError, ValueError, IndexError):
        return int(Path("/proc/self/statm").read_text().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    return 0


@contextlib.contextmanager
def ceiling(limit: int) -> Iterator[None]:
    """Limit this process's memory growth to about ``limit`` bytes while the block runs.

    Allocations beyond it fail (Python and NumPy raise MemoryError); the previous limit comes
    back afterwards. A no-op where the system has no address-space limit to set.
    """
    previous = _lower_ceiling(limit)
    try:
        yield
    finally:
        if previous is not None:
            resource.setrlimit(resource.RLIMIT_AS, previous)


def _lower_ceiling(limit: int) -> tuple[int, int] | None:
    """Set the address-space limit for ``limit`` more bytes; the limits it replaced, or None
    where none was set."""
    size = _address_space()
    if not size:  # unknown without /proc: a guess could sit below the process's own size
        return None
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        wanted = size + RESERVED + limit
        # Never looser than a limit the operator set (ulimit -v) for the worker.
        for bound in (soft, hard):
            if bound != resource.RLIM_INFINITY:
                wanted = min(wanted, bound)
        resource.setrlimit(resource.RLIMIT_AS, (wanted, hard))
    except (OSError, ValueError, AttributeError):
        return None
    return soft, hard


def return_freed() -> None:
    """Give memory freed by a job back to the system.

    glibc keeps freed memory in its heap, but later large arrays are mapped afresh (and Arrow
    allocates from its own pool), so without a trim the next step's memory comes on top of it.
    A no-op where libc has no ``malloc_trim`` (macOS, musl).
    """
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
