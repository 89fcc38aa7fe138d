"""Secret keys shown once and stored only as a digest (API tokens, later deployment keys).

Keys are 256 random bits, so a plain SHA-256 digest is enough: there is nothing to guess that
a slow password hash would protect. The digest is unique and indexed, so looking a key up is a
single query that does not compare secrets byte by byte in Python.
"""

from __future__ import annotations

import hashlib
import secrets


def generate(prefix: str) -> str:
    """A new key such as ``aml_...``; the prefix tells a leaked key's kind at a glance."""
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def artifact_signing_key() -> bytes:
    """The key model artifacts are signed with, so a file swapped on disk is refused on load.

    Derived from SECRET_KEY under its own label, so the signature reveals nothing usable
    elsewhere (Django's signing uses other labels).
    """
    from django.conf import settings

    return hashlib.sha256(b"automl.artifacts:" + settings.SECRET_KEY.encode()).digest()
