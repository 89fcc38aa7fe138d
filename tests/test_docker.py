"""docker/ stays consistent with what users run and read: compose runs the Procfile's
commands, and every variable the code reads is documented in the README and .env.example."""

import re
import shlex
from pathlib import Path

import yaml

from tests.conftest import procfile_command

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())
README = (ROOT / "README.md").read_text()
ENV_EXAMPLE = (ROOT / "docker" / ".env.example").read_text()
# Variables the launcher sets for its own children; users never set them.
INTERNAL = {"PATH", "PYTHONPATH", "REDIS_PORT", "REDIS_DIR"}


def variables_read_by_the_code() -> set[str]:
    reader = r"(?:env\.\w+|envbool|environ\.get|getenv)"
    pattern = re.compile(reader + r"""\(\s*["']([A-Z][A-Z0-9_]+)["']""")
    sources = [*(ROOT / "platform" / "webapp").rglob("*.py")]
    return {name for path in sources for name in pattern.findall(path.read_text())} - INTERNAL


def test_compose_runs_the_procfile_commands():
    services = COMPOSE["services"]
    assert shlex.split(services["web"]["command"]) == procfile_command("web")
    assert shlex.split(services["worker"]["command"]) == procfile_command("worker")


def test_compose_has_web_worker_redis_and_postgres_sharing_the_data_volume():
    services = COMPOSE["services"]
    assert {"web", "worker", "redis", "db"} <= set(services)
    assert services["db"]["image"].startswith("postgres:")
    assert services["redis"]["image"].startswith("redis:")
    for name in ("web", "worker"):
        assert "data:/data" in services[name]["volumes"]
        assert services[name]["environment"]["DATA_DIR"] == "/data"
        assert services[name]["environment"]["REDIS_URL"].startswith("redis://redis:")
        assert services[name]["environment"]["DATABASE_URL"].startswith("postgres://")


def test_every_variable_the_code_reads_is_documented():
    names = variables_read_by_the_code()
    assert {"SECRET_KEY", "DATABASE_URL", "REDIS_URL", "DATA_DIR", "ALLOWED_HOSTS"} <= names
    assert sorted(n for n in names if f"`{n}`" not in README) == []
    assert sorted(n for n in names if not re.search(rf"^#? ?{n}=", ENV_EXAMPLE, re.M)) == []


def test_compose_sets_only_documented_variables():
    for service in ("web", "worker"):
        for name in COMPOSE["services"][service]["environment"]:
            assert f"`{name}`" in README, name


def test_the_image_puts_platform_on_the_path_as_the_procfile_expects():
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    assert "PYTHONPATH=/app/platform:/app" in dockerfile
    assert '"gunicorn", "--config", "python:webapp.gunicorn_conf", "webapp.wsgi"' in dockerfile
