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
    for queue in ("short", "training"):  # one service per queue, as in the Procfile
        assert shlex.split(services[queue]["command"]) == procfile_command(queue)


def test_compose_has_web_workers_redis_and_postgres_sharing_the_data_volume():
    services = COMPOSE["services"]
    assert {"web", "short", "training", "redis", "db"} <= set(services)
    assert services["db"]["image"].startswith("postgres:")
    assert services["redis"]["image"].startswith("redis:")
    for name in ("web", "short", "training"):
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
    for service in ("web", "short", "training"):
        for name in COMPOSE["services"][service]["environment"]:
            assert f"`{name}`" in README, name


def test_the_image_puts_platform_on_the_path_as_the_procfile_expects():
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    assert "PYTHONPATH=/app/platform:/app" in dockerfile
    assert '"gunicorn", "--config", "python:webapp.gunicorn_conf", "webapp.wsgi"' in dockerfile


def dockerfile_env() -> dict[str, str]:
    """The ``ENV`` of the image: ``ENV A=1 \\ B=2`` lines, continuations joined."""
    text = (ROOT / "docker" / "Dockerfile").read_text().replace("\\\n", " ")
    env = {}
    for line in text.splitlines():
        if line.startswith("ENV "):
            env.update(pair.split("=", 1) for pair in shlex.split(line[4:]))
    return env


def env_file(path: Path) -> dict[str, str]:
    """What compose reads from an env file: ``KEY=value`` lines, comments left out."""
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {k.strip(): v.strip() for k, v in pairs if not k.lstrip().startswith("#")}


def effective_env(service: str) -> dict[str, str]:
    """A service's environment as compose builds it from ``.env.example`` copied to ``.env``:
    the image's ENV, then env_file, then ``environment`` (each overriding the one before)."""
    spec = COMPOSE["services"][service]
    env = dockerfile_env()
    if "env_file" in spec:
        env.update(env_file(ROOT / "docker" / ".env.example"))
    for name, value in spec.get("environment", {}).items():
        env[name] = re.sub(r"\$\{(\w+)[^}]*\}", lambda m: f"<{m.group(1)}>", str(value))
    return env


def test_the_web_container_listens_where_compose_publishes_it():
    env = effective_env("web")
    assert env["HOST"] == "0.0.0.0" and env["PORT"] == "8000"
    assert env["ALLOWED_HOSTS"] == "automl.example.com"
    assert env["DATA_DIR"] == "/data" and env["DATABASE_URL"].startswith("postgres://automl:<")
    published = COMPOSE["services"]["web"]["ports"]
    assert published == ["${PUBLISH:-127.0.0.1:8000}:8000"]  # the operator's choice
    for service in ("short", "training", "beat", "migrate"):
        assert effective_env(service)["DATA_DIR"] == "/data"


def test_the_healthcheck_passes_with_production_allowed_hosts(client, settings):
    env = effective_env("web")
    check = COMPOSE["services"]["web"]["healthcheck"]["test"]
    url = re.search(r"http://[^']+", check[-1]).group()
    assert url == f"http://127.0.0.1:{env['PORT']}/livez"
    settings.ALLOWED_HOSTS = env["ALLOWED_HOSTS"].split(",")
    settings.SECURE_SSL_REDIRECT = True
    response = client.get("/livez", HTTP_HOST="127.0.0.1:8000")
    assert response.status_code == 200 and response.content == b"ok"
    # Any other path asked by that address is refused, as production must.
    assert client.get("/healthz", HTTP_HOST="127.0.0.1:8000").status_code == 400


def test_the_image_has_no_build_tools():
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    installed = re.findall(r"apt-get install[^&]*", dockerfile)
    assert installed and all("libgomp1" in line for line in installed)
    for tool in ("gcc", "g++", "build-essential", "make", "git", "-dev "):
        assert tool not in " ".join(installed), tool
