"""What breaks first with many training workers: a simulation with light fake trials.

Starts N worker processes on one study, each doing what a real worker does per trial, with
the model fitting replaced by a sleep: ask (taking the next configuration), name itself on the
trial, read the search's history (as a trial's window and the pruning rule do), report a
score per fold, beat, write its leaderboard row and tell. It also writes each "candidate's"
predictions to a shared folder, as the pooled ones are. Prints, per N, the trials finished
per second against what N workers could do were the storage free, and the latency of each
storage call, so the point where the study's storage (not the workers) sets the pace shows.

    .venv/bin/python benchmarks/simulate.py                       # a journal file
    .venv/bin/python benchmarks/simulate.py --storage postgresql+psycopg://u:p@127.0.0.1/db
    .venv/bin/python benchmarks/simulate.py --workers 1 10 50 100 --trial-seconds 1
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import optuna

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from automl.study import open_storage

FOLDS = 3
OOF_ROWS = 10_000  # a candidate's out-of-fold predictions: 40 KB of float32


def worker(spec: str, name: str, folder: str, trial_seconds: float, until: float, out) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = open_storage(spec)
    study = optuna.load_study(study_name=name, storage=storage)
    calls: dict[str, list[float]] = {"ask": [], "history": [], "write": [], "tell": []}
    ends = []
    oof = np.random.default_rng().random(OOF_ROWS, dtype=np.float32)

    def timed(call, fn, *args):
        tick = time.perf_counter()
        result = fn(*args)
        calls[call].append(time.perf_counter() - tick)
        return result

    me = f"sim:{multiprocessing.current_process().pid}"
    while time.time() < until:
        trial = timed("ask", study.ask)
        trial.suggest_float("x", 0, 1)
        timed("write", trial.set_user_attr, "worker", me)
        timed("history", study.get_trials, False)
        for step in range(FOLDS):
            time.sleep(trial_seconds / FOLDS)
            timed("write", trial.report, float(np.random.random()), step)
        timed("write", trial.set_user_attr, "beat", time.time())
        np.save(Path(folder) / f"{trial.number}.npy", oof)
        timed("write", trial.set_user_attr, "row", {"model_id": trial.number, "score": 0.5})
        timed("tell", study.tell, trial, float(np.random.random()))
        ends.append(time.time())
    out.put((ends, calls))


def simulate(spec: str, n_workers: int, trial_seconds: float, seconds: float) -> dict:
    name = f"sim-{uuid.uuid4().hex[:8]}"
    optuna.create_study(study_name=name, storage=open_storage(spec))
    out = multiprocessing.Queue()
    with tempfile.TemporaryDirectory() as folder:
        # Started before the clock, as workers that have imported their libraries are.
        until = time.time() + seconds + 2 + n_workers * 0.02
        processes = [
            multiprocessing.Process(
                target=worker, args=(spec, name, folder, trial_seconds, until, out)
            )
            for _ in range(n_workers)
        ]
        for p in processes:
            p.start()
        results = [out.get() for _ in processes]
        for p in processes:
            p.join()
    optuna.delete_study(study_name=name, storage=open_storage(spec))
    calls: dict[str, list[float]] = {}
    for _, worker_calls in results:
        for call, times in worker_calls.items():
            calls.setdefault(call, []).extend(times)
    # Trials that ended in the last ``seconds``: the workers' start-up is not counted.
    trials = sum(sum(end >= until - seconds for end in ends) for ends, _ in results)
    return {"trials": trials, "calls": calls}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storage", help="a database URL (default: a journal file)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 10, 50, 100])
    parser.add_argument("--trial-seconds", type=float, default=1.0, help="a fake trial's length")
    parser.add_argument("--seconds", type=float, default=20, help="each run's length")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        spec = args.storage or str(Path(folder) / "study.log")
        kind = "PostgreSQL" if args.storage else "journal file"
        print(f"{kind}; fake trials of {args.trial_seconds:g} s, {FOLDS} folds; "
              f"{args.seconds:g} s per run")  # fmt: skip
        print("workers  trials/s  ideal  share  " + "  ".join(
            f"{c:>7} p50/p99 ms" for c in ("ask", "history", "write", "tell")))  # fmt: skip
        for n in args.workers:
            result = simulate(spec, n, args.trial_seconds, args.seconds)
            rate, ideal = result["trials"] / args.seconds, n / args.trial_seconds
            cells = []
            for call in ("ask", "history", "write", "tell"):
                times = np.array(result["calls"][call]) * 1000
                cells.append(f"{np.median(times):8.1f}/{np.percentile(times, 99):<8.0f}")
            print(f"{n:7d}  {rate:8.1f}  {ideal:5.0f}  {rate / ideal:5.0%}  " + "  ".join(cells))


if __name__ == "__main__":
    multiprocessing.set_start_method("fork")
    main()
