"""The engine's errors. Each message is one plain sentence an analyst can act on.

Callers catch ``AutoMLError`` to tell expected problems (bad data, bad arguments, a damaged
artifact) from bugs; the CLI prints the message and exits with status 2, the platform shows it.
"""


class AutoMLError(Exception):
    """Base class of every error the engine raises on purpose."""


class DataError(AutoMLError, ValueError):
    """The data cannot be used as given: unreadable file, missing target, a single class, ..."""


class TooLargeError(DataError):
    """A file is, or expands to, more than a reader's ``max_bytes`` (in ``limit``)."""

    def __init__(self, message: str, limit: int):
        super().__init__(message)
        self.limit = limit


class ArtifactError(AutoMLError):
    """A saved model cannot be loaded: missing files, tampered content, incompatible format."""


class NotFittedError(AutoMLError, AttributeError):
    """A model was used before ``fit``."""
