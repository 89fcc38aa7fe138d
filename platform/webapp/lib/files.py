"""Files that belong to database rows."""

from __future__ import annotations

import shutil
from pathlib import Path

from django.db import transaction


def remove_directory_on_commit(directory: Path) -> None:
    """Remove ``directory`` once the deletion of its row is committed, not if it rolls back."""
    transaction.on_commit(lambda: shutil.rmtree(directory, ignore_errors=True))
