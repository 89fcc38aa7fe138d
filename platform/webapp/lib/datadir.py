"""The data directory and the secret key kept in it, read the same way by every entry point.

``make run`` (the launcher) and ``manage.py`` both call ``use_secret_key``, so a management
command run from the shell signs and reads what the running platform does. Imports nothing
from Django: it runs before settings exist.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def data_dir() -> Path:
    """``DATA_DIR`` from the environment (``var`` by default), relative to the repository."""
    path = Path(os.environ.get("DATA_DIR", "var"))
    return path if path.is_absolute() else ROOT / path


def secret_key(directory: Path) -> str:
    """The key from the environment, else the one generated on first start and kept here."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    path = directory / "secret_key"
    if not path.exists():
        directory.mkdir(parents=True, exist_ok=True)
        # Readable by the owner only: whoever reads it can forge sessions.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first: read theirs
        else:
            with os.fdopen(fd, "w") as file:
                file.write(secrets.token_urlsafe(50))
    return path.read_text().strip()


def use_secret_key() -> Path:
    """Set ``SECRET_KEY`` (unless already set) and ``DATA_DIR`` in this process's environment;
    return the data directory."""
    directory = data_dir()
    os.environ["DATA_DIR"] = str(directory)
    os.environ["SECRET_KEY"] = secret_key(directory)
    return directory
