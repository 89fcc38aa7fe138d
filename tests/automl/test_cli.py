"""The command line the benchmark harness and analysts use: fit, predict, profile."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from tests.automl.conftest import make_table

ROOT = Path(__file__).resolve().parents[2]


def automl(*args, cwd=ROOT):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "automl", *map(str, args)]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    train = folder / "train.csv"
    make_table("binary", n_rows=200).to_csv(train, index=False, sep=";", decimal=",")
    result = automl("fit", train, "--target", "y", "--time-budget", 4, "--out", folder / "model")
    return folder, result


def test_fit_prints_the_leaderboard_and_saves_the_model(trained):
    folder, result = trained
    assert result.returncode == 0, result.stderr
    assert "rank" in result.stdout and "hist_gradient_boosting" in result.stdout
    assert "Best: m" in result.stdout
    assert (folder / "model" / "manifest.json").exists()


def test_predict_writes_predictions_and_probabilities_in_input_order(trained):
    folder, _ = trained
    rows = make_table("binary", n_rows=30, seed=9)
    rows.to_csv(folder / "new.csv", index=False)
    result = automl("predict", folder / "model", folder / "new.csv", "--out", folder / "pred.csv")
    assert result.returncode == 0, result.stderr
    predictions = pd.read_csv(folder / "pred.csv")
    assert list(predictions.columns) == ["prediction", "proba_churned", "proba_stayed"]
    assert len(predictions) == 30
    assert ((predictions["proba_churned"] + predictions["proba_stayed"]) - 1).abs().max() < 1e-6
    agreement = (predictions["prediction"] == rows["y"]).mean()
    assert agreement > 0.75


def test_profile_prints_kinds_and_checks(tmp_path):
    df = make_table("binary", n_rows=60).assign(country="FR")
    df.to_csv(tmp_path / "t.csv", index=False)
    header, rest = (tmp_path / "t.csv").read_text().split("\n", 1)
    (tmp_path / "t.csv").write_text(header.replace("x1", "city") + "\n" + rest)
    result = automl("profile", tmp_path / "t.csv", "--target", "y")
    assert result.returncode == 0, result.stderr
    assert "identifier" in result.stdout and "'customer_id'" in result.stdout
    assert "acted (constant)" in result.stdout and "'country'" in result.stdout
    assert "note: Column 4 is named 'city' like an earlier one" in result.stdout

    as_json = json.loads(automl("profile", tmp_path / "t.csv", "--json").stdout)
    assert {c["name"]: c["kind"] for c in as_json["columns"]}["signup"] == "datetime"
    assert as_json["target"] is None

    checks = json.loads(automl("profile", "--json", tmp_path / "t.csv", "--target", "y").stdout)
    constant = next(c for c in checks["checks"] if c["id"] == "constant")
    assert constant["status"] == "acted" and constant["columns"] == ["country"]
    assert {c["id"]: c["status"] for c in checks["checks"]}["leakage"] == "passed"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["fit", "missing.csv", "--target", "y", "--out", "m"], "missing.csv"),
        (["predict", "no-such-model", "x.csv", "--out", "p.csv"], "no-such-model"),
        (["profile", "empty.csv"], "empty"),
        (["fit", "train.csv", "--target", "nope", "--out", "m"], "'nope' is not in the table"),
    ],
)
def test_errors_are_one_plain_sentence_with_status_2(tmp_path, args, message):
    (tmp_path / "empty.csv").write_text("")
    make_table("binary", n_rows=40).to_csv(tmp_path / "train.csv", index=False)
    result = automl(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
