"""The engine installs on its own: ``pip install .`` builds a wheel of ``automl/`` alone, and
in a fresh virtualenv without Django a model downloaded from the platform loads and predicts
through the ``automl`` command, with the platform's answers."""

import io
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from tests.webapp.conftest import CUSTOMERS
from webapp.experiments.models import Candidate

ROOT = Path(__file__).parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def run(*command, **options):
    done = subprocess.run(command, capture_output=True, text=True, timeout=900, **options)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return done.stdout


def test_the_wheel_predicts_with_a_platform_model_in_a_clean_venv(client, finished, tmp_path):
    # Built from a copy of what the distribution names, so that the build writes nothing
    # into the checkout, and a file it needs but does not declare would fail the build.
    source = tmp_path / "source"
    shutil.copytree(
        ROOT / "automl", source / "automl", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copy(ROOT / "pyproject.toml", source)
    (source / "docs").mkdir()
    shutil.copy(ROOT / "docs" / "engine.md", source / "docs")
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", tmp_path / "dist", source)
    (wheel,) = (tmp_path / "dist").glob("tablewright-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    packages = {name.split("/")[0] for name in names if not name.startswith("tablewright-")}
    assert packages == {"automl"}, packages  # neither the platform nor the tests
    assert "automl/cli.py" in names

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    python, automl = venv / "bin" / "python", venv / "bin" / "automl"
    # The versions the platform saved its models with, from the pins it installs (a
    # constraint names no extras).
    pins = re.sub(r"\[[^\]]*\]", "", (ROOT / "requirements.txt").read_text())
    (tmp_path / "pins.txt").write_text(pins)
    run(python, "-m", "pip", "install", "-q", wheel, "-c", tmp_path / "pins.txt")
    assert "django" not in run(python, "-m", "pip", "list").lower()
    requires = run(python, "-c", "from importlib.metadata import requires; "
                   "print(requires('tablewright'))")  # fmt: skip
    assert "joblib" in requires

    download = client.get(f"/api/v1/models/{finished.best_id}/artifact")
    assert download.status_code == 200
    folder = tmp_path / "model"
    zipfile.ZipFile(io.BytesIO(b"".join(download.streaming_content))).extractall(folder)
    (model,) = {path.parent for path in folder.rglob("manifest.json")}
    rows = tmp_path / "rows.csv"
    rows.write_text("\n".join(CUSTOMERS.read_text().splitlines()[:21]) + "\n")

    # The command and the library, from outside the checkout (so only the wheel is importable).
    out = tmp_path / "predictions.csv"
    run(automl, "predict", model, rows, "--out", out, cwd=tmp_path)
    script = f"import automl; print(automl.load({str(model)!r}).predict_proba("
    script += f"automl.read_table({str(rows)!r}))[:, 1].sum())"
    total = float(run(python, "-c", script, cwd=tmp_path))

    platform = Candidate.objects.get(pk=finished.best_id)
    from automl import load, read_table

    expected = load(platform.artifact_path).predict_proba(read_table(rows))
    predicted = pd.read_csv(out)
    assert len(predicted) == 20
    proba = [c for c in predicted.columns if c.startswith("proba_")]
    assert predicted[proba].to_numpy() == pytest.approx(expected, abs=1e-6)
    assert total == pytest.approx(expected[:, 1].sum(), abs=1e-6)
