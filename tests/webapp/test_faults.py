"""Faults of the real services: Redis restarted, PostgreSQL restarted under load, a full disk,
and a whole worker killed mid-job. Nothing queued is lost, nothing stays "running", nothing
partial stays on disk, and every answer meanwhile is a plain 503 or a failed state in words.

The restarts use a platform of the test's own (Redis, a worker and the web server, started with
the Procfile's commands on the test database), so the suite's services are never disturbed.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import socket
import subprocess
import threading
import time
from pathlib import Path
from urllib.error import HTTPError
from urllib.request import Request, urlopen

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.utils import timezone

from tests.conftest import ROOT, _service_env, _stop, procfile_command
from tests.webapp.conftest import CUSTOMERS
from tests.webapp.workers import kill_whole, own_worker
from webapp.datasets.models import Dataset
from webapp.datasets.tasks import ingest_dataset
from webapp.experiments.models import Experiment
from webapp.lib import redis_server
from webapp.lib.files import DISK_FULL

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def wait_for(check, timeout: float, every: float = 0.2):
    """Call ``check`` until it returns something true, or the timeout passes; its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(every)


def call(url: str, token: str | None = None, *, body: dict | None = None) -> tuple[int, dict]:
    request = Request(url, data=json.dumps(body).encode() if body is not None else None)
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    if body is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}")
    except HTTPError as err:
        answer = err
    raw = answer.read()
    assert answer.headers.get("Content-Type", "").startswith("application/json"), raw[:300]
    return answer.code, json.loads(raw)


def upload(url: str, token: str, path: Path) -> tuple[int, dict]:
    boundary = "----fault-test"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"'
            "\r\nContent-Type: text/csv\r\n\r\n"
        ).encode()
        + path.read_bytes()
        + f"\r\n--{boundary}--\r\n".encode()
    )
    request = Request(url, data=body)
    request.add_header("Authorization", f"Bearer {token}")
    request.add_header("Content-Type", f"multipart/form-data; boundary={boundary}")
    try:
        with urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except HTTPError as err:
        return err.code, json.loads(err.read())


class Platform:
    """Redis, a worker per queue and the web server of a test's own, on the test database."""

    def __init__(self, tmp_path: Path, static_root: Path, **env: str):
        self.redis_port, self.port = redis_server.free_port(), redis_server.free_port()
        self.redis_dir = tmp_path / "redis"
        self.redis_url = f"redis://127.0.0.1:{self.redis_port}/0"
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = _service_env(self.redis_url, PORT=str(self.port),
                                STATIC_ROOT=str(static_root), **env)  # fmt: skip
        self.processes: dict[str, subprocess.Popen] = {}

    def start_redis(self) -> None:
        self.processes["redis"] = redis_server.start(self.redis_port, self.redis_dir)

    def start(self, name: str) -> subprocess.Popen:
        command = procfile_command(name)
        if name in ("short", "training"):
            command += ["--hostname", f"fault-{name}-{os.getpid()}-{time.monotonic_ns()}@%h"]
        self.processes[name] = subprocess.Popen(
            command, cwd=ROOT, env=self.env, start_new_session=True
        )
        return self.processes[name]

    def __enter__(self) -> Platform:
        self.start_redis()
        self.start("short")
        self.start("training")
        self.start("web")
        assert wait_for(self._answers, 60), "the web server did not start"
        return self

    def _answers(self) -> bool:
        try:
            urlopen(f"{self.url}/livez", timeout=2)
        except OSError:
            return False
        return True

    def __exit__(self, *exc) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                _stop(process)


@pytest.fixture
def owner(transactional_db, django_user_model):
    from webapp.accounts.models import ApiToken

    user = django_user_model.objects.create_user("ada", password="a-long-password-1")
    _, token = ApiToken.issue(user, "faults")
    return user, token


@pytest.fixture
def ready_dataset(owner, monkeypatch):
    user, _ = owner
    with monkeypatch.context() as patch:  # read right here, not by the suite's worker
        patch.setattr(Dataset, "send", lambda self: None)
        dataset = Dataset.create_from_upload(
            user, SimpleUploadedFile("c.csv", CUSTOMERS.read_bytes())
        )
    ingest_dataset(dataset.pk)
    dataset.refresh_from_db()
    assert dataset.status == "ready", dataset.error
    return dataset


LAUNCH = {"target": "churned", "time_budget": 12, "families": ["linear", "random_forest"],
          "validation": {"method": "cv", "folds": 3}}  # fmt: skip


# Redis ------------------------------------------------------------------------------------------


def test_a_redis_restart_loses_no_queued_job_and_the_running_one_finishes(
    owner, ready_dataset, static_root, tmp_path
):
    _, token = owner
    with Platform(tmp_path, static_root) as platform:
        api = f"{platform.url}/api/v1"
        status, running = call(f"{api}/experiments", token,
                               body={**LAUNCH, "dataset": ready_dataset.pk})  # fmt: skip
        assert status == 201, running
        assert wait_for(lambda: Experiment.objects.filter(pk=running["id"], n_trials__gte=1)
                        .exists(), 90)  # fmt: skip
        # Behind the run on the only worker: a second experiment and a file to read.
        status, queued = call(f"{api}/experiments", token,
                              body={**LAUNCH, "dataset": ready_dataset.pk})  # fmt: skip
        assert status == 201
        status, uploaded = upload(f"{api}/datasets", token, CUSTOMERS)
        assert status == 201, uploaded
        time.sleep(1.5)  # Redis writes its append-only file every second

        platform.processes["redis"].kill()  # a crash, not a clean shutdown
        platform.processes["redis"].wait()
        status, health = call(f"{platform.url}/healthz")
        assert status == 503 and "redis" in health["down"]  # the page's badge says so too
        status, listed = call(f"{api}/datasets", token)  # pages that need no queue still work
        assert status == 200 and listed["total"] == 2
        time.sleep(2)
        platform.start_redis()

        def ended(pk):
            return Experiment.objects.filter(pk=pk, status__in=["finished", "failed"]).first()

        first = wait_for(lambda: ended(running["id"]), 180)
        second = wait_for(lambda: ended(queued["id"]), 180)
        read = wait_for(lambda: Dataset.objects.filter(pk=uploaded["id"], status="ready").first(),
                        120)  # fmt: skip
    assert first and first.status == "finished" and first.attempts <= 2, first and first.error
    assert second and second.status == "finished", second and second.error
    assert read, Dataset.objects.get(pk=uploaded["id"]).error


# PostgreSQL -------------------------------------------------------------------------------------


class Proxy:
    """A TCP relay to the database that can be cut, as a restart of PostgreSQL looks to the
    platform: every connection drops, and new ones are refused until it comes back."""

    def __init__(self, target: tuple[str, int]):
        self.target, self.port = target, redis_server.free_port()
        self.sockets: list[socket.socket] = []
        self.listener: socket.socket | None = None
        self._lock = threading.Lock()

    def open(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", self.port), reuse_port=True)
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            self.listener.close()
            for sock in self.sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self.sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            with self._lock:
                self.sockets += [client, server]
            threading.Thread(target=self._relay, args=(client, server), daemon=True).start()

    @staticmethod
    def _relay(a: socket.socket, b: socket.socket) -> None:
        try:
            while True:
                readable, _, _ = select.select([a, b], [], [], 1)
                for source in readable:
                    data = source.recv(65536)
                    if not data:
                        return
                    (b if source is a else a).sendall(data)
        except OSError:
            return


# SQLite is a file, with no server to restart: this runs in CI's PostgreSQL pass of the suite.
@pytest.mark.skipif(connection.vendor != "postgresql", reason="restarts a PostgreSQL server")
def test_postgres_restarted_under_load_is_a_503_then_recovers_without_restarts(
    owner, static_root, tmp_path
):
    _, token = owner
    db = connection.settings_dict
    proxy = Proxy((db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432)))
    proxy.open()
    credentials = f"{db['USER']}:{db['PASSWORD']}"
    through = f"postgres://{credentials}@127.0.0.1:{proxy.port}/{db['NAME']}"
    answers: list[tuple[int, dict]] = []
    stop = threading.Event()
    with Platform(tmp_path, static_root, DATABASE_URL=through) as platform:

        def load():
            while not stop.is_set():
                answers.append(call(f"{platform.url}/api/v1/datasets", token))
                time.sleep(0.05)

        threading.Thread(target=load, daemon=True).start()
        assert wait_for(lambda: any(s == 200 for s, _ in answers), 30)
        proxy.cut()
        assert wait_for(lambda: any(s == 503 for s, _ in answers), 30)
        time.sleep(3)
        proxy.open()
        count = len(answers)
        assert wait_for(lambda: any(s == 200 for s, _ in answers[count:]), 30)
        stop.set()
        # The worker came back too: a file uploaded now is read.
        status, uploaded = upload(f"{platform.url}/api/v1/datasets", token, CUSTOMERS)
        assert status == 201, uploaded
        assert wait_for(lambda: Dataset.objects.filter(pk=uploaded["id"], status="ready")
                        .exists(), 90)  # fmt: skip
    statuses = {status for status, _ in answers}
    assert statuses <= {200, 503}, statuses
    down = [body for status, body in answers if status == 503]
    assert all("The database is not answering" in body["detail"] for body in down)


# A full disk ------------------------------------------------------------------------------------


@pytest.fixture
def full_disk(tmp_path):
    """A 3 MB disk of its own (tmpfs) and a way to fill it to all but ``room`` bytes."""
    mount = tmp_path / "disk"
    mount.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount)],
                             capture_output=True, text=True)  # fmt: skip
    if mounted.returncode != 0:
        # As root (CI, containers) the mount must work, so a failure there fails the tests;
        # only a developer's unprivileged run, which cannot mount at all, passes over them.
        if os.geteuid() == 0:
            pytest.fail(f"could not mount a small disk: {mounted.stderr.strip()}")
        pytest.skip(f"mounting a small disk needs root: {mounted.stderr.strip()}")

    def fill(room: int = 0) -> None:
        free = os.statvfs(mount).f_bavail * os.statvfs(mount).f_frsize
        with (mount / "filler").open("ab") as filler, contextlib.suppress(OSError):
            filler.write(b"\0" * max(free - room, 0))

    try:
        yield mount, fill
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def leftovers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.endswith(".partial") or ".tmp-" in p.name]


def test_a_full_disk_refuses_an_upload_in_words_and_keeps_nothing(client, alice, full_disk,
                                                                  settings):  # fmt: skip
    mount, fill = full_disk
    settings.FILE_UPLOAD_TEMP_DIR = mount
    settings.MEDIA_ROOT = mount / "media"
    fill(room=50_000)
    big = SimpleUploadedFile("big.csv", CUSTOMERS.read_bytes() * 20)  # 200 KB
    client.force_login(alice)
    response = client.post("/api/v1/datasets", {"file": big})
    assert response.status_code == 507 and response.json()["detail"] == DISK_FULL
    assert not Dataset.objects.exists()
    assert sorted(p.name for p in mount.iterdir()) == ["filler"]


def test_a_full_disk_fails_reading_a_file_in_words(alice, full_disk, settings, monkeypatch):
    mount, fill = full_disk
    settings.MEDIA_ROOT = mount / "media"
    monkeypatch.setattr(Dataset, "send", lambda self: None)  # read below, in this process
    dataset = Dataset.create_from_upload(alice, SimpleUploadedFile("c.csv", CUSTOMERS.read_bytes()))
    fill(room=0)
    ingest_dataset(dataset.pk)
    dataset.refresh_from_db()
    assert dataset.status == "failed" and dataset.error == DISK_FULL
    assert not leftovers(mount) and not dataset.parquet_path.exists()


def _move_to(dataset, mount, settings) -> None:
    """Keep the data directory, with ``dataset``'s files, on the small disk at ``mount``."""
    source = dataset.directory
    settings.MEDIA_ROOT = mount / "media"
    dataset.directory.mkdir(parents=True)
    for path in source.iterdir():
        (dataset.directory / path.name).write_bytes(path.read_bytes())


def test_a_full_disk_fails_saving_a_model_in_words(
    client, ready_dataset, full_disk, settings, eager, quick_runs, monkeypatch,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    from tests.webapp.factories import launch
    from webapp.experiments import tasks

    mount, fill = full_disk
    # The dataset moves to the small disk, which fills once the search has ended: only the
    # model cannot be kept.
    _move_to(ready_dataset, mount, settings)
    save_model = tasks.save_model

    def on_a_full_disk(*args):
        fill(room=20_000)
        save_model(*args)

    monkeypatch.setattr(tasks, "save_model", on_a_full_disk)
    client.force_login(ready_dataset.owner)
    with django_capture_on_commit_callbacks(execute=True):
        launch(client, ready_dataset)
    experiment = Experiment.objects.get()
    assert experiment.status == "failed" and experiment.error == DISK_FULL
    assert experiment.candidates.exists()  # the leaderboard is kept
    assert not leftovers(mount) and not any(experiment.directory.rglob("*.zip"))


def test_a_full_disk_fails_a_search_in_words(
    client, ready_dataset, full_disk, settings, eager, quick_runs,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    from tests.webapp.factories import launch

    mount, fill = full_disk
    # Its workers share the search's state on the data volume: with no room there, the run
    # fails saying so, and leaves nothing half-written.
    _move_to(ready_dataset, mount, settings)
    fill()
    client.force_login(ready_dataset.owner)
    with django_capture_on_commit_callbacks(execute=True):
        launch(client, ready_dataset)
    experiment = Experiment.objects.get()
    assert experiment.status == "failed" and experiment.error == DISK_FULL
    assert not leftovers(mount) and not experiment.search_directory.exists()


def test_a_full_disk_fails_scoring_a_file_in_words(
    transactional_db, client, deployed, full_disk, settings, monkeypatch
):
    from webapp.deployments.models import Batch
    from webapp.deployments.tasks import score_batch

    mount, fill = full_disk
    deployment, _ = deployed
    monkeypatch.setattr(Batch, "send", lambda self: None)  # scored below, once the disk is full
    settings.DATA_DIR = mount  # where batches keep their files
    response = client.post(
        f"/deployments/{deployment.slug}/batches",
        {"file": SimpleUploadedFile("rows.csv", CUSTOMERS.read_bytes())},
    )
    assert response.status_code == 302  # fmt: skip
    batch = Batch.objects.get()
    fill(room=0)
    score_batch(batch.pk)
    batch.refresh_from_db()
    assert batch.status == "failed" and batch.error == DISK_FULL
    assert not leftovers(mount) and not batch.result_path.exists()


# A whole worker killed --------------------------------------------------------------------------


def _big_csv(path: Path, rows: int = 300_000) -> Path:
    header, *lines = CUSTOMERS.read_text().splitlines()
    with path.open("w") as out:
        out.write(header + "\n")
        for i in range(rows):
            out.write(lines[i % len(lines)] + "\n")
    return path


def _silence(job) -> None:
    """As HEARTBEAT_TIMEOUT passes with nothing beating: what the reaper waits for."""
    assert wait_for(lambda: type(job).objects.get(pk=job.pk).runner_lost(), 30)
    long_ago = timezone.now() - timezone.timedelta(hours=1)
    type(job).objects.filter(pk=job.pk).update(heartbeat=long_ago)


def test_a_worker_killed_whole_mid_ingestion_is_reaped_and_another_reads_the_file(
    owner, celery_worker, redis_url, tmp_path, monkeypatch
):
    from webapp.datasets.tasks import reap_datasets

    user, _ = owner
    with monkeypatch.context() as patch:  # sent below, to the doomed worker only
        patch.setattr(Dataset, "send", lambda self: None)
        with _big_csv(tmp_path / "big.csv").open("rb") as handle:
            upload = SimpleUploadedFile("big.csv", handle.read())
        dataset = Dataset.create_from_upload(user, upload)
    with own_worker(redis_url, "short", "doomed") as worker:
        ingest_dataset.apply_async((dataset.pk,), queue="doomed")
        assert wait_for(lambda: Dataset.objects.filter(pk=dataset.pk, status="processing")
                        .exists(), 60)  # fmt: skip
        kill_whole(worker)
    _silence(dataset)
    reap_datasets()  # sends the ingestion again, to the suite's worker
    assert wait_for(lambda: Dataset.objects.filter(pk=dataset.pk, status="ready").exists(), 120)
    dataset.refresh_from_db()
    assert dataset.n_rows == 300_000 and dataset.attempts == 2


def test_a_worker_killed_whole_mid_batch_is_reaped_and_another_scores_the_file(
    transactional_db, client, deployed, celery_worker, redis_url, tmp_path, monkeypatch
):
    from webapp.celery_app import app
    from webapp.deployments.models import Batch
    from webapp.deployments.tasks import reap_batches, score_batch

    monkeypatch.setitem(app.conf, "task_always_eager", False)  # real workers from here on
    deployment, _ = deployed
    with monkeypatch.context() as patch:  # sent below, to the doomed worker only
        patch.setattr(Batch, "send", lambda self: None)
        with _big_csv(tmp_path / "rows.csv").open("rb") as handle:
            client.post(f"/deployments/{deployment.slug}/batches",
                        {"file": SimpleUploadedFile("rows.csv", handle.read())})  # fmt: skip
    batch = Batch.objects.get()
    with own_worker(redis_url, "short", "doomed") as worker:
        score_batch.apply_async((batch.pk,), queue="doomed")
        assert wait_for(lambda: Batch.objects.get(pk=batch.pk).rows_done > 0, 90)
        kill_whole(worker)
    _silence(batch)
    reap_batches()  # sends the scoring again, to the suite's worker
    assert wait_for(lambda: Batch.objects.get(pk=batch.pk).status == "finished", 180)
    batch.refresh_from_db()
    assert batch.rows_done == 300_000 and batch.attempts == 2
    assert not list(batch.directory.glob("*.partial"))


def test_a_message_a_killed_worker_had_taken_is_sent_again_and_the_file_read(
    owner, celery_worker, redis_url, monkeypatch
):
    from webapp.datasets.tasks import reap_datasets
    from webapp.lib import broker

    user, _ = owner
    with monkeypatch.context() as patch:  # sent below, to the doomed worker only
        patch.setattr(Dataset, "send", lambda self: None)
        dataset = Dataset.create_from_upload(
            user, SimpleUploadedFile("customers.csv", CUSTOMERS.read_bytes())
        )
    with own_worker(redis_url, "short", "doomed") as worker:
        # Held for later, as a worker holds a message it has reserved: taken, unacknowledged
        # and known to that worker alone, until the visibility timeout hours from now.
        ingest_dataset.apply_async((dataset.pk,), queue="doomed", countdown=3600)
        assert wait_for(lambda: broker._known_to_workers(_taken(dataset.pk)), 60)
        assert broker.lost(ingest_dataset, [dataset.pk]) == set()
        kill_whole(worker)
    assert _taken(dataset.pk), "the killed worker's message stays taken"
    Dataset.objects.filter(pk=dataset.pk).update(sent=timezone.now() - timezone.timedelta(hours=1))
    assert broker.lost(ingest_dataset, [dataset.pk]) == {dataset.pk}
    reap_datasets()  # sends the reading again, to the suite's worker
    assert wait_for(lambda: Dataset.objects.filter(pk=dataset.pk, status="ready").exists(), 60)
    assert Dataset.objects.get(pk=dataset.pk).attempts == 1


def _taken(dataset_id: int) -> list[str]:
    """The task ids of the messages to read ``dataset_id`` that were taken from the broker and
    not acknowledged yet."""
    from webapp.lib import broker

    _, taken = broker._held_messages()
    return [task_id for task_id, held in taken.items() if held == (ingest_dataset.name, dataset_id)]
