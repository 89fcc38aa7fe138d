import pytest

from tests.webapp.factories import make_user


@pytest.fixture(scope="session", autouse=True)
def _static_files(static_root):
    """Pages render with the production static storage, whose manifest collectstatic writes."""


@pytest.fixture
def eager(monkeypatch):
    """Tasks run in the test's process when enqueued, so unit tests see their results."""
    from webapp.celery_app import app

    monkeypatch.setitem(app.conf, "task_always_eager", True)


@pytest.fixture
def alice(db):
    return make_user("alice")


@pytest.fixture
def bob(db):
    return make_user("bob")
