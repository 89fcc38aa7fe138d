"""How to split the cores between training processes: k runs at once, t threads each.

Starts ``--processes`` engine runs at the same moment, each in its own process with
``n_jobs=--threads`` and the same budget, as k training workers of the platform would, and
prints for each run the candidates it finished, its best validation score and its fit
seconds. ``--passive`` sets ``OMP_WAIT_POLICY=PASSIVE`` (idle OpenMP threads sleep instead of
spinning), to see what that costs a run with several threads.

    .venv/bin/python benchmarks/threads.py                         # every split of this machine
    .venv/bin/python benchmarks/threads.py --processes 2 --threads 1 --budget 60
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATASETS = ROOT.parent / "shared" / "datasets"

RUN = """
import json, sys
from automl import AutoML, read_table
data, target, budget, threads = sys.argv[1:]
run = AutoML(time_budget=float(budget), n_jobs=int(threads))
run.fit(read_table(data), target=target)
board = run.leaderboard_
done = board[board["state"] == "complete"]
print(json.dumps({"candidates": len(done), "best": float(done["score"].iloc[0]),
                  "seconds": run.fit_seconds_}))
"""


def table(path: Path | None) -> tuple[Path, str]:
    """The table to train on: churn_modelling from ../shared, or a generated one like it."""
    if path is None and (DATASETS / "churn_modelling.csv.gz").exists():
        return DATASETS / "churn_modelling.csv.gz", "Exited"
    if path is not None:
        raise SystemExit("--data takes a table whose target is the column 'target'")
    import numpy as np
    import pandas as pd
    from sklearn.datasets import make_classification

    x, y = make_classification(n_samples=10_000, n_features=12, n_informative=6, random_state=0)
    frame = pd.DataFrame(x, columns=[f"x{i}" for i in range(x.shape[1])])
    frame["segment"] = np.random.default_rng(0).choice(list("abcdef"), len(frame))
    frame["target"] = y
    out = Path(os.environ.get("TMPDIR", "/tmp")) / "threads-bench.csv"
    frame.to_csv(out, index=False)
    return out, "target"


def measure(data: Path, target: str, processes: int, threads: int, budget: float, passive: bool):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    if passive:
        env["OMP_WAIT_POLICY"] = "PASSIVE"
    command = [sys.executable, "-c", RUN, str(data), target, str(budget), str(threads)]
    quiet = {"env": env, "stdout": subprocess.PIPE, "stderr": subprocess.DEVNULL, "text": True}
    runs = [subprocess.Popen(command, **quiet) for _ in range(processes)]
    return [json.loads(run.communicate()[0].strip().splitlines()[-1]) for run in runs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, help="runs at once (default: 1 and 2)")
    parser.add_argument("--threads", type=int, help="threads per run (default: 1 and all)")
    parser.add_argument("--budget", type=float, default=30)
    parser.add_argument("--data", type=Path)
    parser.add_argument("--passive", action="store_true", help="OMP_WAIT_POLICY=PASSIVE")
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    data, target = table(args.data)
    processes = [args.processes] if args.processes else [1, 2]
    threads = [args.threads] if args.threads else sorted({1, cores})
    print(f"{data.name}, {args.budget:g} s budget, {cores} cores")
    print(f"{'processes':>9} {'threads':>7}  candidates per run   best score per run   seconds")
    for k in processes:
        for t in threads:
            results = measure(data, target, k, t, args.budget, args.passive)
            done = " ".join(str(r["candidates"]) for r in results)
            best = " ".join(f"{r['best']:.4f}" for r in results)
            seconds = " ".join(f"{r['seconds']:.1f}" for r in results)
            print(f"{k:>9} {t:>7}  {done:<19} {best:<20} {seconds}")


if __name__ == "__main__":
    main()
