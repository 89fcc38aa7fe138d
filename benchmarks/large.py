"""Budget on a large table: does a fit on many rows end within its budget?

Generates a seeded table (numbers, categories, a noisy target), fits the engine with the given
budget and prints the fit's seconds, peak memory, the rows the search and the final model
trained on and the leaderboard's size. Not a timed test: run it by hand.

    .venv/bin/python benchmarks/large.py                      # 500,000 rows, 60 s
    .venv/bin/python benchmarks/large.py --rows 200000 --budget 30 --task binary
    .venv/bin/python benchmarks/large.py --rows 5000000 --jobs 2   # two processes, one search
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from automl import AutoML


def table(n_rows: int, task: str, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    numbers = rng.normal(size=(n_rows, 16))
    frame = pd.DataFrame(numbers, columns=[f"x{i}" for i in range(16)])
    for i, size in enumerate((3, 8, 15, 40)):
        frame[f"c{i}"] = rng.choice([f"v{j}" for j in range(size)], size=n_rows)
    signal = numbers[:, 0] * 2 + np.sin(numbers[:, 1] * 2) + numbers[:, 2] * numbers[:, 3]
    signal += (frame["c1"].isin(["v1", "v2", "v3"])).to_numpy() * 1.5
    noisy = signal + rng.normal(size=n_rows)
    frame["y"] = noisy if task == "regression" else np.where(noisy > 0.5, "yes", "no")
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--budget", type=float, default=60)
    parser.add_argument("--task", choices=["binary", "regression"], default="regression")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=1, help="processes sharing the search")
    args = parser.parse_args()
    frame = table(args.rows, args.task, args.seed)
    run = AutoML(time_budget=args.budget, seed=args.seed, n_jobs=args.jobs)
    started = time.monotonic()
    run.fit(frame, target="y")
    seconds = time.monotonic() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    board = run.leaderboard_
    print(board.head(8).to_string(index=False, max_colwidth=40))
    print(f"\n{args.rows:,} rows, budget {args.budget:g} s, {args.jobs} process(es): fit took "
          f"{seconds:.1f} s, peak {peak:.0f} MB (this process); the search trained on "
          f"{run.n_search_rows_:,} rows and the final model on {run.model_.info['n_rows']:,}, "
          f"{(board['state'] == 'complete').sum()} of {len(board)} candidates complete; best "
          f"{run.model_.info['model_id']} ({run.model_.info['family']}), "
          f"{run.metric_.name} {run.model_.info['score']:.4g}.")  # fmt: skip


if __name__ == "__main__":
    main()
