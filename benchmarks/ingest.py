"""Ingestion benchmark: upload a large CSV to a real platform and time it until it is ready.

Starts its own platform (gunicorn, a Celery worker and a private Redis, with the Procfile's
commands, on a temporary data directory), generates a CSV of mixed columns, uploads it
through the JSON API as a streamed multipart body, polls until the dataset is ready, and
reports the times and the peak memory (VmHWM) of the web and worker processes.

    python benchmarks/ingest.py                  # 1,000,000 rows x 30 columns, about 200 MB
    python benchmarks/ingest.py --rows 100000
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "platform"))

from webapp.lib import redis_server  # noqa: E402


def make_csv(path: Path, n_rows: int, seed: int = 0) -> None:
    """30 columns: 12 numeric, 8 categorical, 4 dates, 3 yes/no, 2 IDs-ish codes, 1 text."""
    rng = np.random.default_rng(seed)
    chunk = 200_000
    for start in range(0, n_rows, chunk):
        n = min(chunk, n_rows - start)
        columns = {f"num_{i}": rng.normal(100, 30, n).round(3) for i in range(12)}
        for i in range(8):
            columns[f"cat_{i}"] = rng.choice([f"c{j}" for j in range(5 + i * 3)], n)
        for i in range(4):
            days = rng.integers(0, 3650, n).astype("timedelta64[D]")
            columns[f"date_{i}"] = (np.datetime64("2015-01-01") + days).astype(str)
        for i in range(3):
            columns[f"flag_{i}"] = rng.choice(["yes", "no"], n)
        columns["code_a"] = [f"A{v:07d}" for v in rng.integers(0, 10**7, n)]
        columns["code_b"] = rng.integers(0, 10**6, n)
        columns["comment"] = rng.choice(["fine", "late delivery", "great service", ""], n)
        pd.DataFrame(columns).to_csv(path, mode="a", header=start == 0, index=False)


def peak_memory_mb(pattern: str) -> float:
    """The largest peak resident size among processes whose command line has ``pattern``."""
    peaks = []
    pids = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout
    for pid in pids.split():
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmHWM:"):
                peaks.append(int(line.split()[1]) / 1024)
    return max(peaks, default=0.0)


def upload(port: int, token: str, path: Path) -> dict:
    """POST the file as multipart/form-data, streamed from disk in 1 MB chunks."""
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{path.name}"\r\n'
        "Content-Type: text/csv\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    connection.putrequest("POST", "/api/v1/datasets")
    connection.putheader("Authorization", f"Bearer {token}")
    connection.putheader("Content-Type", f"multipart/form-data; boundary={boundary}")
    connection.putheader("Content-Length", str(len(head) + path.stat().st_size + len(tail)))
    connection.endheaders()
    connection.send(head)
    with path.open("rb") as file:
        while block := file.read(1024 * 1024):
            connection.send(block)
    connection.send(tail)
    response = connection.getresponse()
    return json.loads(response.read())


def get(port: int, token: str, url: str) -> dict:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", url, headers={"Authorization": f"Bearer {token}"})
    return json.loads(connection.getresponse().read())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        csv = tmp / "big.csv"
        started = time.monotonic()
        make_csv(csv, args.rows)
        size_mb = csv.stat().st_size / 1024**2
        seconds = time.monotonic() - started
        print(f"Generated {args.rows:,} rows, {size_mb:.0f} MB in {seconds:.0f} s")

        port, redis_port = redis_server.free_port(), redis_server.free_port()
        env = {
            **os.environ,
            "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
            "PYTHONPATH": f"{ROOT / 'platform'}{os.pathsep}{ROOT}",
            "DATA_DIR": str(tmp / "data"),
            "SECRET_KEY": "benchmark",
            "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "PORT": str(port),
            "WEB_CONCURRENCY": "1",
        }
        env.pop("DATABASE_URL", None)
        manage = [sys.executable, str(ROOT / "manage.py")]
        subprocess.run([*manage, "migrate", "-v0"], env=env, check=True)
        subprocess.run([*manage, "collectstatic", "--noinput", "-v0"], env=env, check=True)
        subprocess.run(
            [*manage, "shell", "-c", "from django.contrib.auth.models import User;"
             "User.objects.create_user('bench', password='x')"],
            env=env, check=True,
        )  # fmt: skip
        token = subprocess.run(
            [*manage, "apitoken", "bench"], env=env, check=True, capture_output=True, text=True
        ).stdout.strip()
        redis = redis_server.start(redis_port, tmp / "redis")
        procfile = dict(
            line.split(":", 1) for line in (ROOT / "Procfile").read_text().splitlines() if line
        )
        web = subprocess.Popen(shlex.split(procfile["web"]), cwd=ROOT, env=env,
                               stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)  # fmt: skip
        worker = subprocess.Popen(shlex.split(procfile["worker"]), cwd=ROOT, env=env,
                                  stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL)  # fmt: skip
        try:
            time.sleep(6)
            started = time.monotonic()
            created = upload(port, token, csv)
            uploaded = time.monotonic() - started
            while True:
                dataset = get(port, token, f"/api/v1/datasets/{created['id']}")
                if dataset["status"] in ("ready", "failed"):
                    break
                time.sleep(0.5)
            total = time.monotonic() - started
            print(f"Status: {dataset['status']} {dataset.get('error', '')}")
            print(f"Upload: {uploaded:.1f} s; upload to ready: {total:.1f} s")
            print(f"Peak memory: web {peak_memory_mb('webapp.wsgi'):.0f} MB, "
                  f"worker {peak_memory_mb('webapp.celery_app'):.0f} MB "
                  f"(file {size_mb:.0f} MB)")  # fmt: skip
        finally:
            for process in (web, worker, redis):
                process.terminate()
                process.wait(timeout=60)


if __name__ == "__main__":
    main()
