"""Serving benchmark: the prediction endpoint of a real platform under load.

Starts the production server (gunicorn, the Procfile's command, 2 workers for 2 cores), trains
and deploys a model on a shared dataset through the JSON API, then loads the endpoint from
this process over loopback with keep-alive connections: single-row and 100-row requests at 1,
10 and 100 concurrent clients, each for a fixed time. Reports throughput, p50/p99 latency and
errors next to the bare in-process ``predict_proba`` time of the same model on the same rows,
and the in-process time of its reason codes (``Model.explain``, what ``"explain": true`` adds).

    python benchmarks/serve.py                                  # churn_modelling, 10 s each
    python benchmarks/serve.py --dataset titanic --seconds 5 --workers 2
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import statistics
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

from live import ROOT, platform

sys.path.insert(0, str(ROOT))


def deploy(client, path: Path, target: str, exclude, budget: int) -> tuple[str, str, int, int]:
    """Train on ``path``, deploy the best model and build the runner-up; returns slug, key,
    the deployed model's id and the runner-up's."""
    dataset = client.upload(path)
    dataset = client.wait(f"/api/v1/datasets/{dataset['id']}", {"ready", "failed"})
    body = {"dataset": dataset["id"], "target": target, "time_budget": budget,
            "exclude": exclude}  # fmt: skip
    experiment = client.post("/api/v1/experiments", body)
    state = client.wait(f"/api/v1/experiments/{experiment['id']}", {"finished", "failed"})
    assert state["status"] == "finished", state["error"]
    created = client.post("/api/v1/deployments", {"model_id": state["best_model_id"]})
    other = next(row["model_id"] for row in state["leaderboard"] if row["rank"] == 2)
    client.post(f"/api/v1/models/{other}/build")
    client.wait(f"/api/v1/models/{other}", {"ready", "failed"}, key="artifact")
    return created["slug"], created["api_key"], state["best_model_id"], other


def rows_from(client, slug: str, key: str, path: Path, n: int) -> list[dict]:
    """``n`` real rows of the data, typed as the deployment's schema says."""
    from automl import read_table

    client.token, owner = key, client.token
    columns = client.get(f"/api/v1/deployments/{slug}")["columns"]
    client.token = owner
    frame = read_table(path).head(n)
    rows = []
    for record in frame.to_dict("records"):
        row = {}
        for column in columns:
            value = record.get(column["name"])
            if value is None or value != value:  # missing
                row[column["name"]] = None
            elif column["kind"] == "numeric":
                row[column["name"]] = float(value)
            elif column["kind"] == "boolean":
                row[column["name"]] = bool(value)
            else:
                row[column["name"]] = str(value)
        rows.append(row)
    return rows


def bare_times(client, model_id: int, rows: list[dict], repeats: int) -> dict[str, dict]:
    """Median in-process prediction time (ms) for 1 and 100 rows of the model as deployed:
    through pandas (``predict_proba``), through the compiled fast path the server uses, and
    its reason codes."""
    import pandas as pd

    from automl import load
    from automl.fast import compile_rows, single_threaded

    status, archive = client.request("GET", f"/api/v1/models/{model_id}/artifact")
    assert status == 200
    folder = Path(tempfile.mkdtemp())
    zipfile.ZipFile(io.BytesIO(archive)).extractall(folder)
    model = load(folder)
    single_threaded(model)
    method = "predict_proba" if model.is_classifier else "predict"
    fast = compile_rows(model, columns_of(rows[:2]))
    times = {"pandas": {}, "fast": {}, "explain": {}}
    for size in (1, 100):
        paths = {"pandas": (getattr(model, method), pd.DataFrame(rows[:size])),
                 "explain": (model.explain, pd.DataFrame(rows[:size]))}  # fmt: skip
        if fast is not None:
            paths["fast"] = (getattr(fast, method), columns_of(rows[:size]))
        for name, (call, data) in paths.items():
            call(data)
            samples = []
            for _ in range(repeats):
                started = time.perf_counter()
                call(data)
                samples.append(time.perf_counter() - started)
            times[name][size] = statistics.median(samples) * 1000
    return times


def columns_of(rows: list[dict]) -> dict[str, list]:
    return {name: [row[name] for row in rows] for name in rows[0]}


def switching(client, slug: str, models: tuple[int, int], stop: threading.Event) -> int:
    """Redeploy and roll back in turn until ``stop``; returns the number of switches."""
    switches = 0
    client.post(f"/api/v1/deployments/{slug}/versions", {"model_id": models[1]})
    while not stop.is_set():
        client.post(f"/api/v1/deployments/{slug}/rollback", {"version": 1 + switches % 2})
        switches += 1
        time.sleep(0.05)
    return switches


async def load_test(port, path, key, body: bytes, clients: int, seconds: float) -> dict:
    request = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    latencies: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds

    async def one_client():
        nonlocal errors
        reader = writer = None
        while time.monotonic() < deadline:
            if writer is None:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            started = time.perf_counter()
            try:
                writer.write(request)
                status = int((await reader.readline()).split()[1])
                length, closing = 0, False
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.decode().partition(":")
                    if name.lower() == "content-length":
                        length = int(value)
                    elif name.lower() == "connection" and "close" in value.lower():
                        closing = True
                await reader.readexactly(length)
            except (OSError, IndexError, ValueError, asyncio.IncompleteReadError):
                errors += 1
                writer = None
                continue
            latencies.append(time.perf_counter() - started)
            errors += status != 200
            if closing:
                writer.close()
                writer = None

    await asyncio.gather(*(one_client() for _ in range(clients)))
    latencies.sort()
    return {
        "requests": len(latencies),
        "per_second": len(latencies) / seconds,
        "p50": latencies[len(latencies) // 2] * 1000 if latencies else None,
        "p99": latencies[int(len(latencies) * 0.99)] * 1000 if latencies else None,
        "errors": errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "datasets")
    parser.add_argument("--dataset", default="churn_modelling")
    parser.add_argument("--budget", type=int, default=30, help="training budget, seconds")
    parser.add_argument("--seconds", type=float, default=10, help="per load scenario")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per worker")
    args = parser.parse_args()
    manifest = json.loads((args.data / "manifest.json").read_text())
    spec = next(d for d in manifest["datasets"] if d["name"] == args.dataset)
    path = args.data / spec["file"]
    # The server's capacity is measured, not the keys' rate limit (600 a minute by default).
    settings = {"WEB_CONCURRENCY": str(args.workers), "WEB_THREADS": str(args.threads),
                "PREDICT_RATE_LIMIT": "0"}  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp, platform(Path(tmp), **settings) as (client, _):
        slug, key, model_id, other_id = deploy(
            client, path, spec["target"], spec.get("drop_columns") or [], args.budget
        )
        rows = rows_from(client, slug, key, path, 100)
        bare = bare_times(client, model_id, rows, repeats=200)
        url = f"/api/v1/deployments/{slug}/predict"
        print(f"{args.dataset}: model {model_id}, gunicorn {args.workers} workers × "
              f"{args.threads} threads, {args.seconds:g} s per scenario\n")  # fmt: skip
        print(
            "| rows/request | clients | requests/s | p50 ms | p99 ms | errors "
            "| bare: pandas | bare: fast path | bare: explain |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        for size in (1, 100):
            body = json.dumps({"rows": rows[:size]}).encode()
            asyncio.run(load_test(client.port, url, key, body, 4, 2))  # warm every worker
            for clients in (1, 10, 100):
                result = asyncio.run(load_test(client.port, url, key, body, clients, args.seconds))
                fast = bare["fast"].get(size)
                print(
                    f"| {size} | {clients} | {result['per_second']:.0f} | {result['p50']:.1f} | "
                    f"{result['p99']:.1f} | {result['errors']} | {bare['pandas'][size]:.2f} | "
                    f"{'none' if fast is None else f'{fast:.2f}'} | "
                    f"{bare['explain'][size]:.2f} |",
                    flush=True,
                )
        # Versions switched back and forth under load: no request may fail.
        stop, switches = threading.Event(), []
        switcher = threading.Thread(
            target=lambda: switches.append(switching(client, slug, (model_id, other_id), stop))
        )
        switcher.start()
        body = json.dumps({"rows": rows[:1]}).encode()
        result = asyncio.run(load_test(client.port, url, key, body, 10, args.seconds))
        stop.set()
        switcher.join()
        print(f"\nWhile switching versions {switches[0]} times: {result['requests']} requests, "
              f"{result['errors']} errors, p99 {result['p99']:.1f} ms")  # fmt: skip


if __name__ == "__main__":
    main()
