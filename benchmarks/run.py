"""Accuracy benchmark: the engine against a floor, FLAML and AutoGluon on a folder of CSVs.

Each dataset of the folder's manifest.json (its target, less its ``drop_columns``) is split
80/20 with a fixed seed (``--seeds 3``: three seeds, three different splits), stratified for
classification, and every system gets the same rows and the same time budget, one run at a
time. The engine trains through its CLI
(``python -m automl fit``, then ``predict``) exactly as a user would; the floor is
scikit-learn's HistGradientBoosting with default settings; FLAML and AutoGluon run in their
own virtualenv (``benchmarks/requirements.txt``), skipped when it is missing. Prints the test
score of each (the mean over the splits, and its spread), mean ranks among the three AutoML
systems, the worst fit seconds (wall clock of the whole fit command for the engine) and peak
memory, and on how many splits the engine fell below the floor.

    python3 -m venv .venv-bench && .venv-bench/bin/pip install -r benchmarks/requirements.txt
    .venv/bin/python benchmarks/run.py                      # ../shared/datasets, 60 s each
    .venv/bin/python benchmarks/run.py --seeds 3            # three splits each, ranks' spread
    .venv/bin/python benchmarks/run.py --systems engine --only titanic insurance
    .venv/bin/python benchmarks/run.py --systems flaml autogluon --save competitors.jsonl
    .venv/bin/python benchmarks/run.py --systems engine --load competitors.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer, make_column_selector
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OrdinalEncoder

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from automl import read_table  # noqa: E402
from automl.metrics import get_metric  # noqa: E402

SYSTEMS = ("engine", "flaml", "autogluon")


def split(df: pd.DataFrame, target: str, task: str, seed: int):
    df = df[df[target].notna()]
    stratify = df[target] if task != "regression" else None
    return train_test_split(df, test_size=0.2, random_state=seed, stratify=stratify)


def score(task: str, y_true: pd.Series, predictions: pd.DataFrame) -> float:
    """The task's default metric of a prediction file: ``prediction`` for regression, else a
    ``proba_<class>`` column per class (classes as text)."""
    metric = get_metric("auto", task)
    if task == "regression":
        return metric(y_true.to_numpy(float), predictions["prediction"].to_numpy(float))
    columns = sorted(c for c in predictions.columns if c.startswith("proba_"))
    classes = [c[len("proba_") :] for c in columns]
    codes = pd.Categorical(_labels(y_true), categories=classes).codes
    if (codes < 0).any():
        raise ValueError(f"Predictions name classes {classes}, not all of the test's classes")
    return metric(codes, predictions[columns].to_numpy(float), list(range(len(classes))))


def _labels(y: pd.Series) -> pd.Series:
    # 1.0 read as a float and "1" read as text are the same class.
    as_text = y.astype(str)
    return as_text.str.replace(r"\.0$", "", regex=True) if y.dtype.kind == "f" else as_text


def run(command: list[str]) -> tuple[float, float, str]:
    """Run ``command``; its wall-clock seconds, peak memory in MB (with its children) and
    standard output. Fails loudly with its standard error."""
    started = time.monotonic()
    with tempfile.TemporaryFile("w+") as err, tempfile.TemporaryFile("w+") as out:
        process = subprocess.Popen(command, stdout=out, stderr=err, cwd=ROOT)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        seconds = time.monotonic() - started
        if process.returncode != 0:
            err.seek(0)
            raise RuntimeError(f"{command[:4]} failed:\n{err.read()[-3000:]}")
        out.seek(0)
        return seconds, usage.ru_maxrss / 1024, out.read()


def engine(workdir: Path, target, task, budget, seed, families=None) -> dict:
    fit = [sys.executable, "-m", "automl", "fit", str(workdir / "train.csv"), "--target", target,
           "--task", task, "--time-budget", str(budget), "--seed", str(seed),
           "--out", str(workdir / "model")]  # fmt: skip
    fit += ["--families", *families] if families else []
    seconds, peak, output = run(fit)
    predict = [sys.executable, "-m", "automl", "predict", str(workdir / "model"),
               str(workdir / "test.csv"), "--out", str(workdir / "pred.csv")]  # fmt: skip
    run(predict)
    best = next(line for line in output.splitlines() if line.startswith("Best:"))
    return {"fit_seconds": seconds, "peak_mb": peak, "best": best}


def competitor(python: Path, system: str, workdir: Path, target, task, budget, seed) -> dict:
    command = [str(python), str(ROOT / "benchmarks" / "competitors.py"), system,
               str(workdir / "train.csv"), str(workdir / "test.csv"), "--target", target,
               "--task", task, "--budget", str(budget), "--seed", str(seed),
               "--out", str(workdir / "pred.csv")]  # fmt: skip
    _, peak, output = run(command)
    seconds = float(re.search(r"fit_seconds=([\d.]+)", output).group(1))
    return {"fit_seconds": seconds, "peak_mb": peak}


def floor(train, test, target, task, seed) -> pd.DataFrame:
    X, y = train.drop(columns=[target]), train[target]
    categorical = make_column_selector(dtype_include=[object, "string", "category"])
    encode = ColumnTransformer(
        [("cat", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1,
                                encoded_missing_value=-1), categorical)],
        remainder="passthrough",
    )  # fmt: skip
    if task == "regression":
        model = make_pipeline(encode, HistGradientBoostingRegressor(random_state=seed))
        model.fit(X, y.astype(float))
        return pd.DataFrame({"prediction": model.predict(test.drop(columns=[target]))})
    model = make_pipeline(encode, HistGradientBoostingClassifier(random_state=seed))
    model.fit(X, _labels(y))
    proba = model.predict_proba(test.drop(columns=[target]))
    return pd.DataFrame(proba, columns=[f"proba_{c}" for c in model.classes_])


def table(frame: pd.DataFrame, ranked: pd.DataFrame) -> pd.DataFrame:
    """One row per dataset of ``frame`` (``_frame``) and ``ranked`` (``_ranked``): the floor's
    and each system's score (the mean over the seeds, each seed its own split), mean ranks,
    the spread of scores, fit seconds and peak memory (the worst over the seeds), and on how
    many splits the engine fell below the floor."""
    systems = [s for s in SYSTEMS if s in set(frame["system"])]
    by_dataset = ranked.groupby("dataset")
    out = pd.DataFrame({"metric": by_dataset["metric"].first(),
                        "splits": by_dataset["seed"].nunique()})  # fmt: skip
    if "floor" in set(frame["system"]):
        out["hgb_floor"] = by_dataset["score_floor"].mean()
    for system in systems:
        out[system] = by_dataset[f"score_{system}"].mean()
        out[f"{system}_sd"] = by_dataset[f"score_{system}"].std(ddof=0)
        out[f"{system}_rank"] = by_dataset[f"rank_{system}"].mean()
    for value, worst in (("fit_seconds", "max"), ("peak_mb", "max")):
        wide = frame.pivot_table(index="dataset", columns="system", values=value, aggfunc=worst)
        for system in systems:
            out[f"{system}_{value.split('_')[0]}"] = wide[system]
    if "engine" in systems and "score_floor" in ranked:
        below = ranked.groupby("dataset")["below_floor"].sum()
        out["below_floor"] = [
            f"{n}/{k}" if n else "" for n, k in zip(below, out["splits"], strict=True)
        ]
    return out.reset_index()


def _frame(results: list[dict]) -> pd.DataFrame:
    """The results, the last of each dataset, seed and system; seed 0 for results saved
    before there were seeds."""
    frame = pd.DataFrame(results)
    frame["seed"] = frame.get("seed", pd.Series(0, index=frame.index)).fillna(0).astype(int)
    return frame.drop_duplicates(["dataset", "seed", "system"], keep="last")


def _ranked(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per dataset and seed: each system's score and rank among the AutoML systems,
    and whether the engine scored below the floor."""
    scores = frame.pivot(index=["dataset", "seed"], columns="system", values="score")
    higher = frame.groupby(["dataset", "seed"])["greater_is_better"].first()
    systems = [s for s in SYSTEMS if s in scores.columns]
    sign = np.where(higher.reindex(scores.index), -1, 1)
    signed = scores[systems].mul(sign, axis=0)
    ranks = signed.rank(axis=1, method="min")
    out = pd.DataFrame(index=scores.index)
    out["metric"] = frame.groupby(["dataset", "seed"])["metric"].first()
    for system in scores.columns:
        out[f"score_{system}"] = scores[system]
    for system in systems:
        out[f"rank_{system}"] = ranks[system]
    if "engine" in systems and "floor" in scores.columns:
        out["below_floor"] = signed["engine"] > scores["floor"] * sign
    return out.reset_index()


def print_table(results: list[dict]) -> None:
    frame = _frame(results)
    ranked = _ranked(frame)
    out = table(frame, ranked)
    with pd.option_context("display.width", 250, "display.max_columns", 40):
        print(out.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    ranks = [c for c in ranked.columns if c.startswith("rank_")]
    complete = ranked.dropna(subset=ranks)
    per_seed = complete.groupby("seed")[ranks].mean()
    spread = [
        f"{c[5:]} {complete[c].mean():.2f} (per split {per_seed[c].min():.2f} to "
        f"{per_seed[c].max():.2f})"
        for c in ranks
    ]
    print(f"\nMean rank over {complete['dataset'].nunique()} datasets and {len(per_seed)} "
          f"splits each: " + ", ".join(spread))  # fmt: skip
    if "engine_fit" in out:
        print(f"Engine fit seconds: median {out['engine_fit'].median():.1f}, "
              f"max {out['engine_fit'].max():.1f}")  # fmt: skip


def run_split(args, systems, entry, df, seed) -> list[dict]:
    """The floor's and each system's result on one seeded 80/20 split of a dataset."""
    task, target = entry["task"], entry["target"]
    metric = get_metric("auto", task)
    train, test = split(df, target, task, seed)
    base = {"dataset": entry["name"], "seed": seed, "metric": metric.name,
            "greater_is_better": metric.greater_is_better, "budget": args.budget}  # fmt: skip
    floor_predictions = floor(train, test, target, task, seed)
    found = [{**base, "system": "floor", "score": score(task, test[target], floor_predictions)}]
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        train.to_csv(workdir / "train.csv", index=False)
        test.drop(columns=[target]).to_csv(workdir / "test.csv", index=False)
        for system in systems:
            if system == "engine":
                row = engine(workdir, target, task, args.budget, seed, args.families)
            else:
                row = competitor(args.python, system, workdir, target, task, args.budget, seed)
            predictions = pd.read_csv(workdir / "pred.csv")
            row.update(base, system=system, score=score(task, test[target], predictions))
            found.append(row)
            seconds, peak, best = row["fit_seconds"], row["peak_mb"], row.get("best", "")
            print(f"{entry['name']:22} seed {seed} {system:10} {metric.name} {row['score']:.4g} "
                  f"in {seconds:.1f} s, {peak:.0f} MB. {best}", flush=True)  # fmt: skip
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=ROOT.parent / "shared" / "datasets")
    parser.add_argument("--budget", type=float, default=60)
    parser.add_argument("--seed", type=int, default=0, help="the first split's seed")
    parser.add_argument("--seeds", type=int, default=1,
                        help="splits per dataset: seeds --seed, --seed + 1, ...")  # fmt: skip
    parser.add_argument("--only", nargs="*", help="dataset names")
    parser.add_argument("--systems", nargs="*", choices=SYSTEMS, default=list(SYSTEMS))
    parser.add_argument("--python", type=Path, default=ROOT / ".venv-bench" / "bin" / "python",
                        help="the competitors' Python (benchmarks/requirements.txt)")  # fmt: skip
    parser.add_argument("--families", nargs="+", help="the engine's model families (default: all)")
    parser.add_argument("--save", type=Path, help="append each result to this JSON-lines file")
    parser.add_argument(
        "--load", type=Path, nargs="*", default=[], help="earlier --save files to show as well"
    )
    args = parser.parse_args()
    systems = list(args.systems)
    if not args.python.exists() and {"flaml", "autogluon"} & set(systems):
        print(f"No competitors' Python at {args.python}: running the engine only.")
        systems = [s for s in systems if s == "engine"]

    results = [json.loads(line) for path in args.load for line in path.read_text().splitlines()]
    manifest = json.loads((args.datasets / "manifest.json").read_text())
    for entry in manifest["datasets"]:
        if args.only and entry["name"] not in args.only:
            continue
        df = read_table(args.datasets / entry["file"])
        df = df.drop(columns=entry.get("drop_columns", []))
        for seed in range(args.seed, args.seed + args.seeds):
            found = run_split(args, systems, entry, df, seed)
            results.extend(found)
            if args.save:
                with args.save.open("a") as out:
                    out.writelines(json.dumps(r) + "\n" for r in found)
    print()
    print_table(results)


if __name__ == "__main__":
    main()
