"""Files that belong to database rows: written whole or not at all, removed with their row,
counted for quotas, and swept when a killed process left pieces behind."""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from django.db import transaction

logger = logging.getLogger(__name__)

DISK_FULL = (
    "The server's disk is full, so the result could not be written and nothing partial was "
    "kept. Delete datasets or experiments you no longer need, or ask an administrator for "
    "more disk space."
)
PARTIAL = ".partial"
# A file still being written is touched every few seconds; one untouched this long belongs to
# a process that died, even on another machine sharing the data directory.
ABANDONED_AFTER = 6 * 3600


def is_disk_full(error: OSError) -> bool:
    return error.errno in (errno.ENOSPC, errno.EDQUOT)


def remove_directory_on_commit(directory: Path) -> None:
    """Remove ``directory`` once the deletion of its row is committed, not if it rolls back."""
    transaction.on_commit(lambda: shutil.rmtree(directory, ignore_errors=True))


@contextlib.contextmanager
def written_whole(path: Path) -> Iterator[Path]:
    """A path to write ``path``'s new content to: it replaces ``path`` when the block ends
    well and is removed when it fails, so readers see the old file or the new one, and a
    full disk keeps nothing partial. Its name is this writer's own, so two processes writing
    the same file (a job handed to another worker) never write into one partial file."""
    partial = path.with_name(f"{path.name}.{uuid.uuid4().hex[:12]}{PARTIAL}")
    try:
        yield partial
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


@contextlib.contextmanager
def folder_for(directory: Path) -> Iterator[Path]:
    """Make ``directory`` for a new row's files; when the block fails (a full disk, a database
    that does not answer) the folder goes, so no files are left without their row."""
    directory.mkdir(parents=True, exist_ok=True)
    try:
        yield directory
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise


def store_upload(uploaded, destination: Path) -> None:
    """Put an uploaded file at ``destination``; nothing is left there if that fails."""
    with written_whole(destination) as partial:
        # A file streamed to disk by the upload handler moves in place without a copy;
        # anything else (small in-memory files in tests) is written in chunks.
        if hasattr(uploaded, "temporary_file_path"):
            shutil.move(uploaded.temporary_file_path(), partial)
            return
        with partial.open("wb") as out:
            for chunk in uploaded.chunks():
                out.write(chunk)


def remove_partials(directory: Path) -> None:
    """Remove the partial files under ``directory``, which a job taken from a lost worker
    will never finish (a live writer that lost the job then fails to put its file in place)."""
    for path in directory.rglob(f"*{PARTIAL}") if directory.is_dir() else ():
        _remove(path)


def human_size(n_bytes: float) -> str:
    for unit in ("bytes", "KB", "MB", "GB"):
        if n_bytes < 1024 or unit == "GB":
            return f"{n_bytes:.0f} {unit}" if unit == "bytes" else f"{n_bytes:.1f} {unit}"
        n_bytes /= 1024
    raise AssertionError("unreachable")


def size_on_disk(path: Path) -> int:
    """Bytes of the file, or of every file under the directory, at ``path`` (0 if none)."""
    if path.is_file():
        return path.stat().st_size
    total = 0
    for root, _, names in os.walk(path):
        for name in names:
            with contextlib.suppress(OSError):
                total += (Path(root) / name).stat().st_size
    return total


def sweep(directory: Path, model, older_than: float = ABANDONED_AFTER) -> list[Path]:
    """Remove what killed processes left under ``directory``, untouched for ``older_than``
    seconds: partial files, staging folders, and the folders named by a key (a UUID) that no
    row of ``model`` has. Returns what it removed."""
    removed: list[Path] = []
    if not directory.is_dir():
        return removed
    cutoff = time.time() - older_than
    for path in directory.rglob("*"):
        name = path.name
        if name.endswith(PARTIAL) or (name.startswith(".") and ".tmp-" in name):
            removed += _remove_if_older(path, cutoff)
    for path in directory.iterdir():
        with contextlib.suppress(ValueError):
            if path.is_dir() and not model.objects.filter(key=uuid.UUID(path.name)).exists():
                removed += _remove_if_older(path, cutoff)
    return removed


def sweep_files(directory: Path, older_than: float = ABANDONED_AFTER) -> list[Path]:
    """Remove the files directly in ``directory`` untouched for ``older_than`` seconds (the
    temporary files of uploads cut off by a killed web process)."""
    removed: list[Path] = []
    cutoff = time.time() - older_than
    for path in directory.glob("*") if directory.is_dir() else ():
        if path.is_file():
            removed += _remove_if_older(path, cutoff)
    return removed


def _remove_if_older(path: Path, cutoff: float) -> list[Path]:
    try:
        if path.lstat().st_mtime >= cutoff:
            return []
    except FileNotFoundError:
        return []  # inside a folder removed a moment ago
    _remove(path)
    return [path]


def _remove(path: Path) -> None:
    logger.info("Removing %s, left behind by a process that stopped", path)
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
