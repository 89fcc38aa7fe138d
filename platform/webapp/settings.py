"""Settings for the platform, read from the environment.

Every variable is documented in docker/.env.example and the README. Bad or missing values
fail loudly at start-up rather than halfway through a request.
"""

from __future__ import annotations

import os
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from webapp.lib.memory import machine_memory

BASE_DIR = Path(__file__).resolve().parents[2]

env = environ.Env()


def envbool(name: str, default: bool) -> bool:
    """Like ``env.bool``, but a typo such as DEBUG=ture fails instead of meaning False."""
    value = env.str(name, default=str(default)).strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off", ""}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {value!r}.")


DEBUG = envbool("DEBUG", False)

DATA_DIR = Path(env.str("DATA_DIR", default="var"))
if not DATA_DIR.is_absolute():
    DATA_DIR = BASE_DIR / DATA_DIR
# SQLite cannot create the folder its file lives in; a fresh install has none yet.
DATA_DIR.mkdir(parents=True, exist_ok=True)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set it in the environment (`make run` generates one in "
            "the data directory on first start)."
        )
    SECRET_KEY = "insecure-development-key"  # only ever used with DEBUG on

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# Behind the TLS-terminating proxy the README describes: trust its X-Forwarded-Proto (and the
# address it adds to X-Forwarded-For), and nobody else's; cookies then travel over HTTPS only,
# unless SECURE_COOKIES says otherwise.
BEHIND_PROXY = envbool("BEHIND_PROXY", False)
if BEHIND_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", False)
SESSION_COOKIE_SECURE = envbool("SECURE_COOKIES", BEHIND_PROXY)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", False)
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
# Preloading HSTS commits a domain to HTTPS in every browser for good; most installs sit on an
# internal host name where that is wrong, so it stays opt-in and its reminder stays quiet.
SILENCED_SYSTEM_CHECKS = ["security.W021"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.humanize",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    # In INSTALLED_APPS, django-ninja serves Swagger UI from its own static files, not a CDN.
    "ninja",
    "webapp.accounts",
    "webapp.health",
    "webapp.datasets",
    "webapp.experiments",
    "webapp.deployments",
]

MIDDLEWARE = [
    "webapp.health.middleware.Liveness",
    "webapp.lib.logs.RequestId",
    "django.middleware.security.SecurityMiddleware",
    "webapp.lib.security.ContentSecurityPolicy",
    # Inside the two above, so the JSON it answers with carries their headers too.
    "webapp.lib.errors.JsonErrors",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "webapp.urls"
WSGI_APPLICATION = "webapp.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# SQLite under the data directory unless DATABASE_URL says otherwise (PostgreSQL in production).
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        # The web server and the workers write to the same file: WAL lets readers go on while
        # one writes, and IMMEDIATE transactions wait for the lock instead of failing with
        # "database is locked" halfway through.
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not memory, so that a Celery worker started by the test suite sees the test data.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test.sqlite3")}
# Connections are kept between requests: opening one (and, for SQLite, setting its journal
# mode) costs milliseconds, more than a prediction.
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "datasets:index"
LOGOUT_REDIRECT_URL = "accounts:login"
# After the first account (which a fresh install always lets someone create), accounts come
# from the administrator: invitations or the team page. ALLOW_SIGNUP opens sign-up to anyone
# who can reach the server.
ALLOW_SIGNUP = envbool("ALLOW_SIGNUP", False)
# Failed logins allowed per account and per address within LOGIN_LOCKOUT_SECONDS; past them,
# logins there wait until the period ends (on /accounts/ and /admin/ alike).
LOGIN_FAILURES_PER_ACCOUNT = env.int("LOGIN_FAILURES_PER_ACCOUNT", default=5)
LOGIN_FAILURES_PER_ADDRESS = env.int("LOGIN_FAILURES_PER_ADDRESS", default=20)
LOGIN_LOCKOUT_SECONDS = env.int("LOGIN_LOCKOUT_SECONDS", default=900)
# What each user may use unless an administrator sets otherwise on the team page: bytes
# stored (uploads, models, scored files), experiments running or queued at once, and jobs
# waiting or running at once (experiments included).
QUOTA_STORAGE = env.int("QUOTA_STORAGE", default=20 * 1024**3)
QUOTA_EXPERIMENTS = env.int("QUOTA_EXPERIMENTS", default=2)
QUOTA_JOBS = env.int("QUOTA_JOBS", default=10)

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / ".staticfiles")))
MEDIA_ROOT = DATA_DIR / "media"
# Uploads stream to files beside their destination, so storing one is a rename, not a copy.
FILE_UPLOAD_TEMP_DIR = DATA_DIR / "tmp"
FILE_UPLOAD_TEMP_DIR.mkdir(parents=True, exist_ok=True)
FILE_UPLOAD_HANDLERS = ["webapp.lib.uploads.LimitedUploadHandler"]
MAX_UPLOAD_SIZE = env.int("MAX_UPLOAD_SIZE", default=2 * 1024**3)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# Redis is the Celery broker and result store, and the cache shared by web and workers.
REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
    }
}

# Celery. Jobs are long (training runs up to an hour) and must not be lost: a task is
# acknowledged only when it finishes, and re-queued if the process running it dies. Redis
# re-delivers an unacknowledged task after the visibility timeout, so every time limit sits
# below it, otherwise a task still running would be started a second time. Redelivery and
# duplicates still happen, so every task checks its database row's state before working.
CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = REDIS_URL
CELERY_RESULT_EXPIRES = 24 * 3600
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Two queues, so that nothing waits behind a training run: experiments train on "training";
# everything else (reading files, target analysis, builds, batch scoring, the reapers) runs
# on "short". Each queue has workers of its own (the Procfile's "short" and "training"), and a
# worker runs as many jobs at once as the queues it serves add up to (celery_app.py).
# By default as many training jobs run at once as there are cores, each with 4 GB of the
# memory jobs share (below): on small and mid-sized tables one process per core finishes
# about 1.6 times the models that one process with every core does (benchmarks/threads.py).
SHORT_QUEUE = env("SHORT_QUEUE", default="short")
TRAINING_QUEUE = env("TRAINING_QUEUE", default="training")
_CORES, _MEMORY = len(os.sched_getaffinity(0)), machine_memory()
WORKER_QUEUES = {
    SHORT_QUEUE: env.int("SHORT_CONCURRENCY", default=1),
    TRAINING_QUEUE: env.int(
        "TRAINING_CONCURRENCY",
        default=max(min(_CORES, int(0.6 * _MEMORY / 4 / 1024**3)), 1),
    ),
}
CELERY_TASK_DEFAULT_QUEUE = SHORT_QUEUE
CELERY_TASK_ROUTES = {
    f"webapp.experiments.tasks.{name}": {"queue": TRAINING_QUEUE}
    for name in ("train_experiment", "join_experiment")
}
# The threads each training job's models use: together the training jobs use every core once,
# because threads that outnumber the cores slow every job down.
TRAINING_THREADS = env.int(
    "TRAINING_THREADS", default=max(_CORES // max(WORKER_QUEUES[TRAINING_QUEUE], 1), 1)
)
# Each job (reading a file, training, scoring) runs under this memory ceiling, so a runaway
# job fails itself in plain words instead of the kernel killing a process, maybe Redis or
# PostgreSQL. By default the jobs running at once share 60% of the machine (or container).
JOB_MEMORY_LIMIT = env.int(
    "JOB_MEMORY_LIMIT", default=int(0.6 * _MEMORY / max(sum(WORKER_QUEUES.values()), 1))
)
# A worker process that stays large after a job (memory a library keeps) is replaced by a
# fresh one before the next job, so each job's ceiling starts from a small process.
CELERY_WORKER_MAX_MEMORY_PER_CHILD = max(JOB_MEMORY_LIMIT // 4, 1024**3) // 1024  # in KB
# What a file may expand to once read: a .gz file's text and the values it parses into, an
# Excel sheet's cells, a Parquet file's decoded columns. The readers check it before parsing,
# so a bomb stops here, in words and in seconds, well before the memory ceiling.
MAX_DECOMPRESSED_SIZE = env.int("MAX_DECOMPRESSED_SIZE", default=JOB_MEMORY_LIMIT // 4)
CELERY_TASK_SOFT_TIME_LIMIT = env.int("TASK_SOFT_TIME_LIMIT", default=2 * 3600)
CELERY_TASK_TIME_LIMIT = env.int("TASK_TIME_LIMIT", default=CELERY_TASK_SOFT_TIME_LIMIT + 300)
BROKER_VISIBILITY_TIMEOUT = env.int(
    "BROKER_VISIBILITY_TIMEOUT", default=CELERY_TASK_TIME_LIMIT + 1800
)
if not CELERY_TASK_SOFT_TIME_LIMIT < CELERY_TASK_TIME_LIMIT < BROKER_VISIBILITY_TIMEOUT:
    raise ImproperlyConfigured(
        "Celery limits must satisfy TASK_SOFT_TIME_LIMIT < TASK_TIME_LIMIT < "
        "BROKER_VISIBILITY_TIMEOUT, otherwise a running task is delivered twice."
    )
CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {"visibility_timeout": BROKER_VISIBILITY_TIMEOUT}
# Messages carry a priority, 0 first: a person's second experiment waits behind another
# person's first (Experiment.priority). Redis keeps a list per step; workers empty 0 first.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    **CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS,
    "priority_steps": list(range(10)),
    "sep": ":",
    "queue_order_strategy": "priority",
}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Nothing reads tasks' results (the database rows are the truth), so Redis keeps none; and a
# job running when the connection to Redis drops goes on to its end (its row says how it ended).
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_WORKER_SEND_TASK_EVENTS = False
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ALWAYS_EAGER = False
# Celery beat (the Procfile's "beat") runs the reapers that recover jobs whose worker died.
# Each reaper message expires after its interval: a worker busy for an hour must not find an
# hour of them waiting.
CELERY_BEAT_SCHEDULE = {
    f"reap-{name}": {"task": task, "schedule": seconds, "options": {"expires": seconds}}
    for name, task, seconds in (
        ("experiments", "webapp.experiments.tasks.reap_experiments", 30),
        ("datasets", "webapp.datasets.tasks.reap_datasets", 60),
        ("batches", "webapp.deployments.tasks.reap_batches", 60),
    )
}
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")

# Training. A run writes a heartbeat every HEARTBEAT_SECONDS; one silent for HEARTBEAT_TIMEOUT
# whose process is gone is re-queued once, then failed. A budget must end well within the
# worker's time limit, which also covers reading the data and the final refit.
HEARTBEAT_SECONDS = 2
HEARTBEAT_TIMEOUT = env.int("HEARTBEAT_TIMEOUT", default=60)
MAX_TIME_BUDGET = env.int("MAX_TIME_BUDGET", default=3600)
# Deployments: the most rows one prediction request may send, and the largest body any JSON
# request may have (a larger one gets a JSON 413 before it is parsed).
MAX_PREDICTION_ROWS = env.int("MAX_PREDICTION_ROWS", default=10_000)
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("MAX_REQUEST_BODY", default=10 * 1024**2)
# Prediction requests one deployment key may send per minute, unless the key says otherwise
# (0: no limit).
PREDICT_RATE_LIMIT = env.int("PREDICT_RATE_LIMIT", default=600)
# GET /metrics (Prometheus) answers only "Authorization: Bearer <METRICS_TOKEN>"; off if empty.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
if not MAX_TIME_BUDGET * 1.5 <= CELERY_TASK_SOFT_TIME_LIMIT:
    raise ImproperlyConfigured(
        "MAX_TIME_BUDGET must leave room within TASK_SOFT_TIME_LIMIT: at most two thirds of it."
    )

# Logs: plain lines, or one JSON object a line with the request's or task's id (LOG_FORMAT=json,
# for a log collector). Celery's workers then keep this configuration instead of their own.
LOG_FORMAT = env.str("LOG_FORMAT", default="plain")
if LOG_FORMAT not in ("plain", "json"):
    raise ImproperlyConfigured(f"LOG_FORMAT must be plain or json, not {LOG_FORMAT!r}.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"context": {"()": "webapp.lib.logs.Context"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "json": {"()": "webapp.lib.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["context"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}
CELERY_WORKER_HIJACK_ROOT_LOGGER = LOG_FORMAT != "json"
