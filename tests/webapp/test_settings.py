"""Settings come from the environment and refuse bad values at start-up."""

import os
import runpy
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

SETTINGS = Path(__file__).resolve().parents[2] / "platform" / "webapp" / "settings.py"
KEEP = ("PATH", "HOME")


@pytest.fixture
def load(monkeypatch, tmp_path):
    """Evaluate settings.py afresh under exactly the given environment."""

    def load(**env):
        import os

        for name in list(os.environ):
            if name not in KEEP:
                monkeypatch.delenv(name)
        monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return runpy.run_path(str(SETTINGS))

    return load


def test_it_refuses_to_start_without_secret_key_in_production(load):
    with pytest.raises(ImproperlyConfigured, match="SECRET_KEY"):
        load()


def test_debug_runs_without_secret_key(load):
    settings = load(DEBUG="true")
    assert settings["DEBUG"] is True
    assert settings["SECRET_KEY"]


def test_defaults_are_sqlite_under_the_data_directory(load, tmp_path):
    settings = load(SECRET_KEY="k")
    db = settings["DATABASES"]["default"]
    assert db["ENGINE"] == "django.db.backends.sqlite3"
    assert Path(db["NAME"]) == tmp_path / "data" / "db.sqlite3"
    assert settings["MEDIA_ROOT"] == tmp_path / "data" / "media"
    assert (tmp_path / "data").is_dir()
    assert settings["DEBUG"] is False
    assert settings["ALLOWED_HOSTS"] == ["127.0.0.1", "localhost"]


def test_it_reads_postgres_redis_and_hosts_from_the_environment(load):
    settings = load(
        SECRET_KEY="k",
        DATABASE_URL="postgres://automl:s%40cret@db.internal:5433/automl",
        REDIS_URL="redis://cache.internal:6379/2",
        ALLOWED_HOSTS="automl.example.com,10.0.0.5",
    )
    db = settings["DATABASES"]["default"]
    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["HOST"], db["PORT"], db["NAME"], db["PASSWORD"]) == (
        "db.internal",
        5433,
        "automl",
        "s@cret",
    )
    assert settings["CELERY_BROKER_URL"] == "redis://cache.internal:6379/2"
    assert settings["CACHES"]["default"]["LOCATION"] == "redis://cache.internal:6379/2"
    assert settings["ALLOWED_HOSTS"] == ["automl.example.com", "10.0.0.5"]


def test_relative_data_dir_resolves_from_the_repository_root(load):
    settings = load(SECRET_KEY="k", DATA_DIR="var/test/relative")
    assert settings["DATA_DIR"] == settings["BASE_DIR"] / "var" / "test" / "relative"


def test_bad_boolean_fails_loudly(load):
    with pytest.raises(ImproperlyConfigured, match="DEBUG must be true or false"):
        load(SECRET_KEY="k", DEBUG="maybe")


def test_celery_keeps_long_jobs_safe(load):
    settings = load(SECRET_KEY="k")
    assert settings["CELERY_TASK_ACKS_LATE"] is True
    assert settings["CELERY_TASK_REJECT_ON_WORKER_LOST"] is True
    assert settings["CELERY_WORKER_PREFETCH_MULTIPLIER"] == 1
    soft, hard = settings["CELERY_TASK_SOFT_TIME_LIMIT"], settings["CELERY_TASK_TIME_LIMIT"]
    visibility = settings["CELERY_BROKER_TRANSPORT_OPTIONS"]["visibility_timeout"]
    assert soft < hard < visibility


def test_time_limits_above_the_visibility_timeout_are_refused(load):
    with pytest.raises(ImproperlyConfigured, match="delivered twice"):
        load(SECRET_KEY="k", TASK_SOFT_TIME_LIMIT="3000", BROKER_VISIBILITY_TIMEOUT="3000")


def test_behind_a_proxy_cookies_are_secure_and_forwarded_proto_trusted(load):
    plain = load(SECRET_KEY="k")
    assert not plain["SESSION_COOKIE_SECURE"] and "SECURE_PROXY_SSL_HEADER" not in plain
    proxied = load(SECRET_KEY="k", BEHIND_PROXY="true")
    assert proxied["SESSION_COOKIE_SECURE"] and proxied["CSRF_COOKIE_SECURE"]
    assert proxied["SECURE_PROXY_SSL_HEADER"] == ("HTTP_X_FORWARDED_PROTO", "https")
    assert not load(SECRET_KEY="k", BEHIND_PROXY="true", SECURE_COOKIES="false")[
        "SESSION_COOKIE_SECURE"
    ]


def test_production_settings_pass_the_deploy_check(tmp_path):
    import os
    import subprocess
    import sys

    root = SETTINGS.parents[2]
    env = {
        "PATH": os.environ["PATH"],
        "DATA_DIR": str(tmp_path),
        "SECRET_KEY": "a-long-random-production-key-" + "x" * 40,
        "ALLOWED_HOSTS": "automl.example.com",
        "SECURE_SSL_REDIRECT": "true",
        "SECURE_COOKIES": "true",
        "SECURE_HSTS_SECONDS": "31536000",
        "BEHIND_PROXY": "true",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_training_has_a_queue_of_its_own_and_its_jobs_share_the_cores(load):
    from webapp.celery_app import app

    router = app.amqp.router
    assert router.route({}, "webapp.experiments.tasks.train_experiment")["queue"].name == "training"
    short = ["datasets.tasks.ingest_dataset", "deployments.tasks.score_batch",
             "experiments.tasks.build_model", "experiments.tasks.reap_experiments"]  # fmt: skip
    for task in short:
        assert router.route({}, f"webapp.{task}")["queue"].name == "short"
    two = load(SECRET_KEY="x", TRAINING_CONCURRENCY="2", SHORT_CONCURRENCY="3")
    assert two["WORKER_QUEUES"] == {"short": 3, "training": 2}
    assert two["TRAINING_THREADS"] == max(len(os.sched_getaffinity(0)) // 2, 1)
    assert two["JOB_MEMORY_LIMIT"] == int(0.6 * two["machine_memory"]() / 5)


@pytest.mark.parametrize(
    ("queues", "given", "expected"),
    [(["training"], None, 4), (["short"], None, 1), (["short", "training"], None, 5),
     (["training"], 7, None)],
)  # fmt: skip
def test_a_worker_runs_as_many_jobs_as_its_queues_allow(settings, queues, given, expected):
    from types import SimpleNamespace

    from webapp.celery_app import _concurrency_of_its_queues

    settings.WORKER_QUEUES = {"short": 1, "training": 4}
    conf = SimpleNamespace(worker_concurrency=None)
    _concurrency_of_its_queues("w@h", conf=conf, options={"queues": queues, "concurrency": given})
    assert conf.worker_concurrency == expected  # a --concurrency given is left to Celery


def test_the_format_is_chosen_by_the_environment(load):
    settings = load(SECRET_KEY="k", LOG_FORMAT="json")
    assert settings["LOGGING"]["handlers"]["console"]["formatter"] == "json"
    assert settings["CELERY_WORKER_HIJACK_ROOT_LOGGER"] is False
    assert load(SECRET_KEY="k")["LOGGING"]["handlers"]["console"]["formatter"] == "plain"
    with pytest.raises(ImproperlyConfigured, match="LOG_FORMAT must be plain or json"):
        load(SECRET_KEY="k", LOG_FORMAT="xml")
