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
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from live import peak_memory_mb, platform


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

        with platform(tmp / "data") as (client, _):
            started = time.monotonic()
            created = client.upload(csv)
            uploaded = time.monotonic() - started
            dataset = client.wait(f"/api/v1/datasets/{created['id']}", {"ready", "failed"})
            total = time.monotonic() - started
            print(f"Status: {dataset['status']} {dataset.get('error', '')}")
            print(f"Upload: {uploaded:.1f} s; upload to ready: {total:.1f} s")
            print(f"Peak memory: web {peak_memory_mb('webapp.wsgi'):.0f} MB, "
                  f"worker {peak_memory_mb('webapp.celery_app'):.0f} MB "
                  f"(file {size_mb:.0f} MB)")  # fmt: skip


if __name__ == "__main__":
    main()
