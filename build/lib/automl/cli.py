"""The command line: ``python -m automl fit|predict|profile``.

Expected problems (bad data, bad arguments, a damaged model) print one plain sentence on
stderr and exit with status 2, with no traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pandas as pd

from automl.automl import AutoML
from automl.exceptions import AutoMLError
from automl.learners import ENSEMBLE, LEARNERS
from automl.model import load
from automl.profiling import profile
from automl.reading import read_table
from automl.search import join_search

# Kept from the fit's budget for writing the model folder.
SAVE_SECONDS = 1.0
SHOWN_COLUMNS = ["rank", "model_id", "family", "score", "score_std", "test_score",
                 "fit_seconds", "predict_ms_per_1k", "state"]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.command(args)
    except AutoMLError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted.", file=sys.stderr)
        return 130


def fit(args) -> int:
    started = time.monotonic()
    data = read_table(args.train)
    # The budget is the command's: reading the table and saving the model count too.
    budget = args.time_budget
    if budget > 0:
        budget = max(budget - (time.monotonic() - started) - SAVE_SECONDS, min(budget, 1.0))
    run = AutoML(
        task=args.task,
        metric=args.metric,
        time_budget=budget,
        seed=args.seed,
        test_size=args.test_size,
        families=args.families,
        n_jobs=args.jobs,
    )
    run.fit(data, target=args.target, workdir=args.workdir, parallelism=args.parallelism)
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print(run.leaderboard_[SHOWN_COLUMNS].to_string(index=False, float_format="%.4g"))
    run.save(args.out)
    best = run.model_.info
    print(
        f"\nBest: {best['model_id']} ({_family(best)}), {run.metric_.name} "
        f"{best['score']:.4g} in cross-validation. Fit took {run.fit_seconds_:.1f} s of a "
        f"{args.time_budget:g} s budget. Model saved to {args.out}."
    )
    return 0


def join(args) -> int:
    """Train candidates of the search in a work folder (started by a fit with ``workdir``),
    on this machine, until it ends."""
    trained = join_search(args.workdir, storage=args.storage, n_threads=args.threads,
                          index=args.index)  # fmt: skip
    print(f"Trained {trained} candidates for the search in {args.workdir}.")
    return 0


def _family(row: dict) -> str:
    members = row["params"].get("members") if row["family"] == ENSEMBLE else None
    if not members:
        return row["family"]
    parts = ", ".join(f"{m['model_id']} {m['family']} {m['weight']:.0%}" for m in members)
    return f"{ENSEMBLE} of {parts}"


def predict(args) -> int:
    model = load(args.model)
    data = read_table(args.data)
    out = pd.DataFrame({"prediction": model.predict(data)})
    if model.is_classifier:
        proba = model.predict_proba(data)
        for i, label in enumerate(model.classes_):
            out[f"proba_{label}"] = proba[:, i]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(args.out, index=False)
    print(f"Wrote {len(out)} predictions to {args.out}.")
    return 0


def show_profile(args) -> int:
    data = read_table(args.data)
    result = profile(data, args.target)
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, ensure_ascii=False, default=str))
        return 0
    print(f"{result.n_rows} rows, {result.n_columns} columns, {result.duplicate_rows} duplicates")
    table = pd.DataFrame(
        [
            {
                "column": c.name,
                "kind": c.kind,
                "missing": f"{c.missing:.1%}",
                "distinct": c.distinct,
                "examples": ", ".join(map(str, c.examples[:3]))[:50],
            }
            for c in result.columns
        ]
    )
    print(table.to_string(index=False))
    for note in data.attrs.get("notes", []):
        print(f"\nnote: {note}")
    if result.target:
        print(f"\nTarget {result.target!r}: {result.task}, {result.target_summary}")
    for check in result.checks:
        if check.status != "passed":
            action = f" {check.action}" if check.action else ""
            print(f"\n{check.status} ({check.id}): {check.message}{action}")
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="automl", description="Tabular AutoML.")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    p = commands.add_parser("fit", help="train models and save the best")
    p.add_argument("train", help="training table (.csv, .csv.gz, .tsv, .parquet)")
    p.add_argument("--target", required=True, help="the column to predict")
    p.add_argument("--task", default="auto", choices=["auto", "binary", "multiclass", "regression"])
    p.add_argument("--metric", default="auto", help="e.g. roc_auc, log_loss, rmse, accuracy")
    p.add_argument("--time-budget", type=float, default=60, help="seconds (default 60)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--test-size", type=float, default=None, help="share kept for a final test")
    families = ", ".join(LEARNERS)
    p.add_argument(
        "--families", nargs="+", metavar="FAMILY", help=f"model families to try: {families}"
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="candidates trained at once in parallel processes (-1: one per core; default 1)",
    )
    p.add_argument(
        "--workdir",
        help="a shared folder for the search, where `join` on other machines can "
        "work on it (default: a temporary folder)",
    )
    p.add_argument(
        "--parallelism",
        type=int,
        default=None,
        help="workers the search is meant for, this one and those that join (default: --jobs)",
    )
    p.add_argument("--out", required=True, help="directory to save the model to")
    p.set_defaults(command=fit)

    p = commands.add_parser("join", help="work on a running search from this machine")
    p.add_argument("workdir", help="the search's work folder, shared with its coordinator")
    p.add_argument("--storage", default=None, help="the study's database URL, if not a journal")
    p.add_argument("--threads", type=int, default=1, help="threads per model (default 1)")
    p.add_argument("--index", type=int, default=1, help="this worker's number, for its seed")
    p.set_defaults(command=join)

    p = commands.add_parser("predict", help="predict with a saved model")
    p.add_argument("model", help="directory written by fit")
    p.add_argument("data", help="table to predict")
    p.add_argument("--out", required=True, help="CSV file to write")
    p.set_defaults(command=predict)

    p = commands.add_parser("profile", help="describe a table's columns and problems")
    p.add_argument("data", help="table to profile")
    p.add_argument("--target", default=None, help="adds the task and target-aware checks")
    p.add_argument("--json", action="store_true", help="print JSON")
    p.set_defaults(command=show_profile)
    return parser
