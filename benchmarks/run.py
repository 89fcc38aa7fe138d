"""Benchmark the engine on a folder of CSVs against a floor and, if installed, FLAML.

Each dataset of the folder's manifest.json is split 80/20 with a fixed seed. The engine trains
through its CLI (``python -m automl fit``, then ``predict``) exactly as a user would; the floor
is scikit-learn's HistGradientBoosting with default settings; FLAML (``pip install flaml``) gets
the same time budget. Prints a table of test scores and fit times.

    python benchmarks/run.py                      # ../shared/datasets, 60 s each
    python benchmarks/run.py --budget 30 --only titanic insurance
"""

from __future__ import annotations

import argparse
import json
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


def split(df: pd.DataFrame, target: str, task: str, seed: int):
    df = df[df[target].notna()]
    stratify = df[target] if task != "regression" else None
    return train_test_split(df, test_size=0.2, random_state=seed, stratify=stratify)


def score(task: str, y_true: pd.Series, prediction: np.ndarray, classes) -> float:
    """The task's default metric, on labels encoded by ``classes`` (sorted, as strings)."""
    metric = get_metric("auto", task)
    if task == "regression":
        return metric(y_true.to_numpy(float), prediction)
    codes = pd.Categorical(y_true.astype(str), categories=classes).codes
    return metric(codes, prediction, list(range(len(classes))))


def engine(train, test, target, task, budget, seed, workdir: Path):
    train.to_csv(workdir / "train.csv", index=False)
    test.drop(columns=[target]).to_csv(workdir / "test.csv", index=False)
    started = time.monotonic()
    fit = [sys.executable, "-m", "automl", "fit", str(workdir / "train.csv"), "--target", target,
           "--time-budget", str(budget), "--seed", str(seed),
           "--out", str(workdir / "model")]  # fmt: skip
    subprocess.run(fit, check=True, capture_output=True, cwd=ROOT)
    seconds = time.monotonic() - started
    predict = [sys.executable, "-m", "automl", "predict", str(workdir / "model"),
               str(workdir / "test.csv"), "--out", str(workdir / "pred.csv")]  # fmt: skip
    subprocess.run(predict, check=True, capture_output=True, cwd=ROOT)
    pred = pd.read_csv(workdir / "pred.csv")
    if task == "regression":
        return pred["prediction"].to_numpy(float), seconds, None
    columns = sorted(c for c in pred.columns if c.startswith("proba_"))
    classes = [c[len("proba_") :] for c in columns]
    proba = pred[columns].to_numpy(float)
    return proba, seconds, classes


def floor(train, test, target, task, seed):
    X, y = train.drop(columns=[target]), train[target]
    categorical = make_column_selector(dtype_include=object)
    encode = ColumnTransformer(
        [("cat", OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1,
                                encoded_missing_value=-1), categorical)],
        remainder="passthrough",
    )  # fmt: skip
    if task == "regression":
        model = make_pipeline(encode, HistGradientBoostingRegressor(random_state=seed))
        started = time.monotonic()
        model.fit(X, y.astype(float))
        return model.predict(test.drop(columns=[target])), time.monotonic() - started, None
    model = make_pipeline(encode, HistGradientBoostingClassifier(random_state=seed))
    started = time.monotonic()
    model.fit(X, y.astype(str))
    proba = model.predict_proba(test.drop(columns=[target]))
    classes = list(model.classes_)
    return proba, time.monotonic() - started, classes


def flaml(train, test, target, task, budget, seed):
    from flaml import AutoML as FLAML

    metric = {"binary": "roc_auc", "multiclass": "log_loss", "regression": "rmse"}[task]
    X, y = train.drop(columns=[target]), train[target]
    automl = FLAML()
    started = time.monotonic()
    y_fit = y.astype(float) if task == "regression" else y.astype(str)
    automl.fit(X, y_fit, task="regression" if task == "regression" else "classification",
               metric=metric, time_budget=budget, seed=seed, verbose=0)  # fmt: skip
    seconds = time.monotonic() - started
    if task == "regression":
        return automl.predict(test.drop(columns=[target])), seconds, None
    proba = automl.predict_proba(test.drop(columns=[target]))
    classes = [str(c) for c in automl.classes_]
    return proba, seconds, classes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", type=Path, default=ROOT.parent / "shared" / "datasets")
    parser.add_argument("--budget", type=float, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", nargs="*", help="dataset names")
    parser.add_argument("--no-flaml", action="store_true")
    args = parser.parse_args()
    try:
        import flaml as _

        with_flaml = not args.no_flaml
    except ImportError:
        with_flaml = False

    manifest = json.loads((args.datasets / "manifest.json").read_text())
    rows = []
    for entry in manifest["datasets"]:
        if args.only and entry["name"] not in args.only:
            continue
        task, target = entry["task"], entry["target"]
        df = read_table(args.datasets / entry["file"])
        train, test = split(df, target, task, args.seed)
        row = {"dataset": entry["name"], "metric": get_metric("auto", task).name}
        y_test = test[target]
        prediction, _, classes = floor(train, test, target, task, args.seed)
        row["hgb_floor"] = score(task, y_test, prediction, classes)
        with tempfile.TemporaryDirectory() as workdir:
            prediction, seconds, classes = engine(
                train, test, target, task, args.budget, args.seed, Path(workdir)
            )
        row["automl"], row["automl_s"] = score(task, y_test, prediction, classes), seconds
        if with_flaml:
            prediction, seconds, classes = flaml(train, test, target, task, args.budget, args.seed)
            row["flaml"], row["flaml_s"] = score(task, y_test, prediction, classes), seconds
        rows.append(row)
        print(pd.DataFrame([row]).to_string(index=False, header=len(rows) == 1), flush=True)
    table = pd.DataFrame(rows)
    print("\n" + table.to_markdown(index=False, floatfmt=".4g") if _has_tabulate() else table)


def _has_tabulate() -> bool:
    try:
        import tabulate  # noqa: F401
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    main()
