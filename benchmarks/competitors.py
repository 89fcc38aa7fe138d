"""Train FLAML or AutoGluon on a CSV and predict another, for ``benchmarks/run.py``.

Runs in the competitors' own virtualenv (``benchmarks/requirements.txt``), never the product's,
so nothing here may import the engine. Writes one prediction per row of the test file (the
value for regression, else a ``proba_<class>`` column per class) and prints the fit's seconds.

    .venv-bench/bin/python benchmarks/competitors.py autogluon train.csv test.csv \
        --target y --task binary --budget 60 --seed 0 --out pred.csv
"""

from __future__ import annotations

import argparse
import tempfile
import time

import pandas as pd

METRICS = {
    "flaml": {"binary": "roc_auc", "multiclass": "log_loss", "regression": "rmse"},
    "autogluon": {
        "binary": "roc_auc",
        "multiclass": "log_loss",
        "regression": "root_mean_squared_error",
    },
}


def flaml(train: pd.DataFrame, test: pd.DataFrame, target, task, budget, seed):
    from flaml import AutoML

    X, y = train.drop(columns=[target]), train[target]
    automl = AutoML()
    started = time.monotonic()
    automl.fit(X, y, task="regression" if task == "regression" else "classification",
               metric=METRICS["flaml"][task], time_budget=budget, seed=seed,
               verbose=0)  # fmt: skip
    seconds = time.monotonic() - started
    if task == "regression":
        return pd.DataFrame({"prediction": automl.predict(test)}), seconds
    proba = automl.predict_proba(test)
    return pd.DataFrame(proba, columns=[f"proba_{c}" for c in automl.classes_]), seconds


def autogluon(train: pd.DataFrame, test: pd.DataFrame, target, task, budget, seed):
    from autogluon.tabular import TabularPredictor

    with tempfile.TemporaryDirectory() as path:
        predictor = TabularPredictor(
            label=target, problem_type=task, eval_metric=METRICS["autogluon"][task],
            path=path, verbosity=0,
        )  # fmt: skip
        started = time.monotonic()
        predictor.fit(train, time_limit=budget, presets="medium_quality",
                      ag_args_fit={"random_seed": seed})  # fmt: skip
        seconds = time.monotonic() - started
        if task == "regression":
            return pd.DataFrame({"prediction": predictor.predict(test).to_numpy()}), seconds
        proba = predictor.predict_proba(test, as_multiclass=True)
        columns = [f"proba_{c}" for c in proba.columns]
        return pd.DataFrame(proba.to_numpy(), columns=columns), seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("system", choices=["flaml", "autogluon"])
    parser.add_argument("train")
    parser.add_argument("test")
    parser.add_argument("--target", required=True)
    parser.add_argument("--task", required=True, choices=["binary", "multiclass", "regression"])
    parser.add_argument("--budget", type=float, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    # Classes as text, so every system names them as the benchmark scores them.
    dtype = {args.target: str} if args.task != "regression" else None
    train = pd.read_csv(args.train, dtype=dtype)
    test = pd.read_csv(args.test)
    fit = {"flaml": flaml, "autogluon": autogluon}[args.system]
    predictions, seconds = fit(train, test, args.target, args.task, args.budget, args.seed)
    predictions.to_csv(args.out, index=False)
    print(f"fit_seconds={seconds:.3f}")


if __name__ == "__main__":
    main()
