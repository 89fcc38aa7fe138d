"""The layout's promises: ``platform/`` never shadows the standard library, the engine
stays importable without Django, and the web app uses only its public names
(docs/architecture.md)."""

import os
import platform
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_platform_folder_is_not_a_package():
    assert not (ROOT / "platform" / "__init__.py").exists()


def test_stdlib_platform_module_still_works():
    assert Path(platform.__file__).parent != ROOT / "platform"
    assert platform.machine()


def test_sklearn_imports_with_the_platform_folder_on_the_path():
    # As in production: the repo root and platform/ both on sys.path (docs/architecture.md).
    code = "import sklearn, platform; print(platform.machine())"
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'platform'}"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == platform.machine()


def test_automl_imports_without_django():
    code = (
        "import sys; assert not any(m.split('.')[0] in ('django', 'celery') for m in sys.modules);"
        "import automl;"
        "leaked = sorted(m for m in sys.modules if m.split('.')[0] in ('django', 'celery'));"
        "print(leaked)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_no_engine_module_imports_django():
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "automl").rglob("*.py")
        if any(
            line.lstrip().startswith(
                ("import django", "from django", "import celery", "from celery")
            )
            for line in path.read_text().splitlines()
        )
    ]
    assert offenders == []


def test_the_web_app_reaches_the_engine_only_through_its_public_names():
    import ast

    import automl

    offenders = []
    for path in (ROOT / "platform" / "webapp").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names if a.name.startswith("automl.")]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("automl"):
                if node.module != "automl":
                    names = [node.module]
                else:
                    names = [a.name for a in node.names if a.name not in automl.__all__]
            else:
                continue
            offenders += [f"{path.relative_to(ROOT)}:{node.lineno} {name}" for name in names]
    assert offenders == []
    # Every public name resolves.
    assert all(getattr(automl, name) is not None for name in automl.__all__)


def test_serving_an_ensemble_never_imports_the_search():
    """A model (an ensemble among them) loads, compiles its fast path, predicts and explains
    without Optuna or the search: serving needs none of them."""
    code = (
        "import sys, numpy as np, pandas as pd\n"
        "from sklearn.linear_model import LogisticRegression\n"
        "from sklearn.tree import DecisionTreeClassifier\n"
        "from automl.ensemble import Blend\n"
        "from automl import model, fast, explain, rows\n"
        "X = pd.DataFrame({'a': np.arange(40.0) % 7, 'b': np.arange(40.0) % 3})\n"
        "y = (X['a'] > 3).astype(int)\n"
        "members = [LogisticRegression().fit(X, y), DecisionTreeClassifier().fit(X, y)]\n"
        "assert Blend(members, [0.5, 0.5], 2).predict_proba(X).shape == (40, 2)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('optuna', 'automl')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    loaded = result.stdout.strip()
    assert "optuna" not in loaded and "automl.search" not in loaded and "automl.study" not in loaded
