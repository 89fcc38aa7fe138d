"""Files that belong to database rows."""

from __future__ import annotations

import shutil
from pathlib import Path

from django.db import transaction


def remove_directory_on_commit(directory: Path) -> None:
    """Remove ``directory`` once the deletion of its row is committed, not if it rolls back."""
    transaction.on_commit(lambda: shutil.rmtree(directory, ignore_errors=True))


def store_upload(uploaded, destination: Path) -> None:
    """Put an uploaded file at ``destination``."""
    # A file streamed to disk by the upload handler moves in place without a copy; anything
    # else (small in-memory files in tests) is written in chunks.
    if hasattr(uploaded, "temporary_file_path"):
        shutil.move(uploaded.temporary_file_path(), destination)
        return
    with destination.open("wb") as out:
        for chunk in uploaded.chunks():
            out.write(chunk)
