"""Gunicorn settings: ``gunicorn --config python:webapp.gunicorn_conf webapp.wsgi``.

Binds to loopback by default, so a single-machine install is not reachable from the network
until ``HOST`` says so (the Docker image sets ``HOST=0.0.0.0``). ``WEB_CONCURRENCY`` sets the
number of worker processes, as gunicorn documents.
"""

import os
import shutil

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("WEB_THREADS", "4"))
# Uploads of large files stream for minutes; the engine never runs in the web process.
timeout = int(os.environ.get("WEB_TIMEOUT", "300"))
accesslog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# Nothing here uses gunicorn's control socket, and a fixed socket path collides between installs.
control_socket_disable = True


def on_starting(server):
    """An empty folder for the web processes' metrics (prometheus_client's multiprocess mode,
    see ``webapp.health.metrics``): an earlier run's counts are not this one's."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        shutil.rmtree(folder, ignore_errors=True)
        os.makedirs(folder)


def child_exit(server, worker):
    """A web process's metrics files stop counting as live when it exits (see
    ``webapp.health.metrics``)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
