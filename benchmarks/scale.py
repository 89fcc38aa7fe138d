"""A team on one machine: what waits behind training, and two people training at once.

Starts a platform with the Procfile's commands (benchmarks/live.py: gunicorn, the short and
training workers and a private Redis) on a temporary data directory, with two people, ada and
bo, and prints:

- the seconds until a 6 KB upload is ready on an idle server, and while one of ada's
  experiments trains (target: the same, within a few seconds);
- for three experiments of ada's and then one of bo's, more than the training worker runs at
  once: when each started, its models and its best score (bo's first goes before ada's
  third; QUOTA_EXPERIMENTS is raised to 4 for this);
- for one experiment each, launched together: when each started, its models and best score.

    .venv/bin/python benchmarks/scale.py               # Quick budgets (60 s)
    .venv/bin/python benchmarks/scale.py --budget 30

With ``--workers FILE TARGET`` it measures instead one search over 1 and then 2 worker
processes (``AutoML(n_jobs=k)``, the mechanism the platform's training workers share), on the
same table and budget: candidates completed, the best validation score, wall time and the
peak memory of the coordinator and of its largest helper.

    .venv/bin/python benchmarks/scale.py --workers ../shared/datasets/churn_modelling.csv.gz Exited
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from live import ROOT, Client, new_user, platform

CUSTOMERS = ROOT / "tests" / "data" / "customers.csv"
FINAL = {"ready", "failed", "finished", "cancelled"}


def dataset(client: Client) -> int:
    created = client.upload(CUSTOMERS)
    client.wait(f"/api/v1/datasets/{created['id']}", FINAL, every=0.1)
    return created["id"]


def upload_seconds(client: Client) -> float:
    """Seconds from sending a small file until it is ready (or failed)."""
    started = time.monotonic()
    created = client.upload(CUSTOMERS)
    client.wait(f"/api/v1/datasets/{created['id']}", FINAL, every=0.1)
    seconds = time.monotonic() - started
    client.request("DELETE", f"/api/v1/datasets/{created['id']}")
    return seconds


def launch(client: Client, dataset_id: int, budget: int) -> int:
    body = {"dataset": dataset_id, "target": "churned", "time_budget": budget}
    return client.post("/api/v1/experiments", body)["id"]


def report(runs: list[tuple[str, Client, int]], since: float) -> None:
    """Wait for each run to end; print when it started (counted from ``since``) and what it did."""
    started: dict[int, float] = {}
    while len(started) < len(runs):
        for _, client, run in runs:
            state = client.get(f"/api/v1/experiments/{run}")
            if run not in started and state["status"] != "queued":
                started[run] = time.monotonic() - since
        time.sleep(0.2)
    for who, client, run in runs:
        state = client.wait(f"/api/v1/experiments/{run}", FINAL)
        board = [row for row in state["leaderboard"] if row["state"] == "complete"]
        best = max((row["score"] for row in board), default=float("nan"))
        print(f"  {who:<12} started after {started[run]:6.1f} s, {state['status']}, "
              f"{len(board)} models, best {best:.4f}")  # fmt: skip


def one_search(path: str, target: str, budget: int, jobs: int) -> None:
    """A fit with ``jobs`` processes, in this process; prints its figures as JSON."""
    sys.path.insert(0, str(ROOT))
    from automl import AutoML, read_table

    data = read_table(path)
    started = time.monotonic()
    run = AutoML(time_budget=budget, n_jobs=jobs).fit(data, target=target)
    board = run.leaderboard_
    done = board[(board["state"] == "complete") & (board["family"] != "ensemble")]
    print(json.dumps({
        "jobs": jobs, "candidates": len(done), "workers": run.n_workers_,
        "best": float(board["score"].iloc[0]), "metric": run.metric_.name,
        "seconds": time.monotonic() - started,
        "coordinator_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "helper_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
    }))  # fmt: skip


def workers(path: str, target: str, budget: int) -> None:
    print(f"{Path(path).name}, {budget} s budget, one search over 1 and 2 worker processes:")
    for jobs in (1, 2):
        # A fresh process each, so that its peak memory is its own.
        command = [sys.executable, __file__, "--one", path, target, str(budget), str(jobs)]
        out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
        r = json.loads(out.strip().splitlines()[-1])
        helper = f", largest helper {r['helper_mb']:.0f} MB" if jobs > 1 else ""
        print(f"  {jobs} process(es): {r['candidates']} candidates from {r['workers']} "
              f"worker(s), best {r['metric']} {r['best']:.4f}, {r['seconds']:.1f} s, "
              f"coordinator {r['coordinator_mb']:.0f} MB{helper}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=60, help="seconds per experiment")
    parser.add_argument("--workers", nargs=2, metavar=("FILE", "TARGET"),
                        help="measure one search over 1 and 2 processes instead")  # fmt: skip
    parser.add_argument("--one", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        path, target, budget, jobs = args.one
        one_search(path, target, int(budget), int(jobs))
        return
    if args.workers:
        workers(*args.workers, args.budget)
        return
    with (
        tempfile.TemporaryDirectory() as tmp,
        platform(Path(tmp) / "data", QUOTA_EXPERIMENTS="4") as (bench, _processes),
    ):
        ada, bo = (Client(bench.port, new_user(bench.env, name)) for name in ("ada", "bo"))
        theirs = {"ada": dataset(ada), "bo": dataset(bo)}
        print(f"A 6 KB upload, idle: ready in {upload_seconds(bo):.1f} s")
        run = launch(ada, theirs["ada"], args.budget)
        ada.wait(f"/api/v1/experiments/{run}", {"running"} | FINAL, every=0.2)
        time.sleep(min(args.budget / 3, 10))
        print(f"A 6 KB upload while ada trains: ready in {upload_seconds(bo):.1f} s")
        ada.wait(f"/api/v1/experiments/{run}", FINAL)

        print("ada launches three experiments, then bo one:")
        since = time.monotonic()
        runs = [(f"ada, {n}", ada, launch(ada, theirs["ada"], args.budget))
                for n in ("first", "second", "third")]  # fmt: skip
        runs.append(("bo, first", bo, launch(bo, theirs["bo"], args.budget)))
        report(runs, since)

        print("ada and bo launch one experiment each:")
        since = time.monotonic()
        runs = [("ada", ada, launch(ada, theirs["ada"], args.budget)),
                ("bo", bo, launch(bo, theirs["bo"], args.budget))]  # fmt: skip
        report(runs, since)


if __name__ == "__main__":
    main()
