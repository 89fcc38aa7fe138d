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
"""

from __future__ import annotations

import argparse
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=int, default=60, help="seconds per experiment")
    args = parser.parse_args()
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
