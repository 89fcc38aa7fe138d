"""Dependencies: the locks `make run` installs from agree with the direct pins, and the
engine's distribution declares every package the engine imports."""

import ast
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PIN = re.compile(r"^([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?==([^\s\\;]+)", re.MULTILINE)
# Import names whose distribution is named otherwise.
DISTRIBUTIONS = {"sklearn": "scikit-learn", "xgboost": "xgboost-cpu", "yaml": "pyyaml"}


def pins(path: Path) -> dict[str, str]:
    return {
        name.lower().replace("_", "-"): version for name, version in PIN.findall(path.read_text())
    }


def test_each_lock_holds_the_direct_pins_with_hashes():
    for direct, lock in [("requirements.txt", "requirements.lock"),
                         ("requirements-dev.txt", "requirements-dev.lock")]:  # fmt: skip
        locked = pins(ROOT / lock)
        stale = {name: (version, locked.get(name)) for name, version in pins(ROOT / direct).items()
                 if locked.get(name) != version}  # fmt: skip
        assert stale == {}, f"{lock} is out of date: run `make lock`"
        text = (ROOT / lock).read_text()
        entries = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n\n", 1)[-1].strip())
        assert all("--hash=sha256:" in entry for entry in entries if "==" in entry)
    base, dev = pins(ROOT / "requirements.lock"), pins(ROOT / "requirements-dev.lock")
    assert {name: version for name, version in base.items() if dev.get(name) != version} == {}


def test_the_engine_declares_what_it_imports():
    """Its dependencies, or an extra's (ONNX export's packages load only when a model is
    exported)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    extras = [r for group in project["optional-dependencies"].values() for r in group]
    declared = {
        re.split(r"[<>=!;\[ ]", requirement, maxsplit=1)[0].lower()
        for requirement in project["dependencies"] + extras
    }
    imported = set()
    for path in (ROOT / "automl").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    third_party = imported - set(sys.stdlib_module_names) - {"automl", "__future__"}
    missing = {DISTRIBUTIONS.get(name, name) for name in third_party} - declared
    assert missing == set() and "joblib" in declared
