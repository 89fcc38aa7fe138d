"""The web platform: a Django project whose heavy work runs on Celery workers.

``platform/`` is a sys.path root, not a package (see docs/architecture.md). Entry points put it
on ``sys.path``; the repository root, where the ``automl`` engine lives, comes along here so
that every process that imports ``webapp`` can import the engine too.
"""

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.append(_ROOT)

from .celery_app import app as celery_app  # noqa: E402

__all__ = ["celery_app"]
