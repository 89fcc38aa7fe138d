import pytest
from django.core.management import call_command

from tests.webapp.factories import make_user


@pytest.fixture(scope="session", autouse=True)
def _static_files(tmp_path_factory):
    """Pages render with the production static storage, whose manifest collectstatic writes."""
    from django.test.utils import override_settings

    with override_settings(STATIC_ROOT=tmp_path_factory.mktemp("static")):
        call_command("collectstatic", "--noinput", verbosity=0)
        yield


@pytest.fixture
def alice(db):
    return make_user("alice")


@pytest.fixture
def bob(db):
    return make_user("bob")
