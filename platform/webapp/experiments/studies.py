"""Where a search's Optuna study lives, so that every training worker on every machine can
take its trials: the platform's PostgreSQL when it runs on one (Optuna's RDBStorage, in
tables of its own beside Django's), else a journal file in the search's folder on the shared
data volume (the engine's default)."""

from __future__ import annotations

import contextlib
import logging
from urllib.parse import quote

from django.db import connection

logger = logging.getLogger(__name__)


def storage_url() -> str | None:
    """The study storage's database URL; None for the journal on the data volume."""
    if connection.vendor != "postgresql":
        return None
    db = connection.settings_dict  # the test database, under the test runner
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    host = db["HOST"] or "localhost"
    if "/" in host:  # a Unix socket folder
        return f"postgresql+psycopg://{credentials}@/{db['NAME']}?host={quote(host)}"
    port = f":{db['PORT']}" if db["PORT"] else ""
    return f"postgresql+psycopg://{credentials}@{host}{port}/{db['NAME']}"


def create_tables() -> None:
    """Create Optuna's tables, once, at migration time: two searches starting together must
    not race to create them."""
    url = storage_url()
    if url:
        from automl import close_storage, open_storage

        close_storage(open_storage(url))


def delete_study(name: str) -> None:
    """Forget a finished search's study (its leaderboard is in the platform's own tables)."""
    url = storage_url()
    if not url:
        return  # the journal goes with the search's folder
    import optuna

    from automl import close_storage, open_storage

    storage = None
    try:
        storage = open_storage(url)
        with contextlib.suppress(KeyError):
            optuna.delete_study(study_name=name, storage=storage)
    except Exception:  # a leftover study costs a few rows, never the run
        logger.exception("Could not delete the study %s", name)
    finally:
        if storage is not None:
            close_storage(storage)
