from __future__ import annotations

import hashlib
import json
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from automl import artifacts
from automl.artifacts import (
    FORMAT_VERSION,
    VersionMismatchWarning,
    load_artifact,
    read_manifest,
    save_artifact,
)
from automl.exceptions import ArtifactError

KEY = b"test-signing-key"


class CreatesMarkerWhenUnpickled:
    """Stands in for a malicious pickle: unpickling it creates ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


class CannotBePickled:
    def __reduce__(self):
        raise TypeError("this model cannot be pickled")


@pytest.fixture(scope="module")
def data():
    return make_classification(n_samples=80, n_features=5, random_state=0)


@pytest.fixture(scope="module")
def pipeline(data):
    X, y = data
    return make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)


def edit_manifest(directory: Path, **changes) -> None:
    path = directory / "manifest.json"
    manifest = json.loads(path.read_text(encoding="utf-8"))
    manifest.update(changes)
    path.write_text(json.dumps(manifest), encoding="utf-8")


def plant_malicious_model(directory: Path, marker: Path) -> str:
    """Replace model.joblib with a payload and return the payload's SHA-256."""
    joblib.dump(CreatesMarkerWhenUnpickled(marker), directory / "model.joblib")
    return hashlib.sha256((directory / "model.joblib").read_bytes()).hexdigest()


def test_round_trip_keeps_the_model_and_manifest(tmp_path, pipeline, data):
    X, _ = data
    saved = save_artifact(tmp_path / "model", pipeline, {"task": "classification"})

    model, manifest = load_artifact(saved)

    assert saved == tmp_path / "model"
    np.testing.assert_array_equal(model.predict(X), pipeline.predict(X))
    assert manifest["task"] == "classification"
    assert manifest == read_manifest(saved)


def test_manifest_records_format_versions_and_file_hashes(tmp_path, pipeline):
    directory = save_artifact(tmp_path / "model", pipeline, {"target": "churn"})
    manifest = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))

    assert manifest["format_version"] == FORMAT_VERSION
    assert manifest["created"].endswith("+00:00")
    assert {"automl", "python", "scikit-learn", "numpy", "pandas", "joblib"} <= set(
        manifest["versions"]
    )
    digest = hashlib.sha256((directory / "model.joblib").read_bytes()).hexdigest()
    assert manifest["files"] == {"model.joblib": digest}
    assert "signature" not in manifest


def test_numpy_values_in_the_manifest_become_plain_json(tmp_path, pipeline):
    caller = {"score": np.float64(0.75), "n_rows": np.int64(80), "classes": np.array([0, 1])}

    manifest = load_artifact(save_artifact(tmp_path / "model", pipeline, caller))[1]

    assert manifest["score"] == 0.75
    assert manifest["n_rows"] == 80
    assert manifest["classes"] == [0, 1]


def test_tampered_model_is_refused_before_it_is_unpickled(tmp_path, pipeline):
    directory = save_artifact(tmp_path / "model", pipeline, {})
    marker = tmp_path / "payload-ran"
    plant_malicious_model(directory, marker)

    with pytest.raises(ArtifactError, match=r"model\.joblib was changed after it was saved"):
        load_artifact(directory)

    assert not marker.exists()
    joblib.load(directory / "model.joblib")  # proves the payload would have run
    assert marker.exists()


def test_edited_hash_fools_plain_loading_but_not_a_signing_key(tmp_path, pipeline):
    directory = save_artifact(tmp_path / "model", pipeline, {}, signing_key=KEY)
    marker = tmp_path / "payload-ran"
    edit_manifest(directory, files={"model.joblib": plant_malicious_model(directory, marker)})

    with pytest.raises(ArtifactError, match=r"signature .* does not match"):
        load_artifact(directory, signing_key=KEY)
    assert not marker.exists()

    load_artifact(directory)
    assert marker.exists()


def test_signed_artifact_loads_with_its_key_only(tmp_path, pipeline):
    directory = save_artifact(tmp_path / "model", pipeline, {}, signing_key=KEY)

    assert len(load_artifact(directory, signing_key=KEY)[1]["signature"]) == 64
    with pytest.raises(ArtifactError, match="signed with another key"):
        load_artifact(directory, signing_key=b"another-key")


def test_unsigned_artifact_is_refused_when_a_key_is_given(tmp_path, pipeline):
    directory = save_artifact(tmp_path / "model", pipeline, {})

    with pytest.raises(ArtifactError, match="is not signed"):
        load_artifact(directory, signing_key=KEY)


def test_missing_directory_is_refused(tmp_path):
    with pytest.raises(ArtifactError, match="directory does not exist"):
        load_artifact(tmp_path / "nowhere")


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: (d / "manifest.json").unlink(), "has no manifest.json"),
        (lambda d: (d / "manifest.json").write_text("{not json"), "cannot be read"),
        (lambda d: (d / "manifest.json").write_bytes(b"\xff\xfe"), "cannot be read"),
        (lambda d: (d / "manifest.json").write_text("[1, 2]"), "not a JSON object"),
        (lambda d: (d / "model.joblib").unlink(), "model.joblib is missing"),
        (lambda d: edit_manifest(d, files={}), "does not list model.joblib"),
        (lambda d: edit_manifest(d, files={"model.joblib": "0", "../x": "0"}), "invalid entry"),
        (lambda d: edit_manifest(d, format_version="1"), "no valid format_version"),
    ],
)
def test_damaged_artifact_is_refused(tmp_path, pipeline, damage, message):
    directory = save_artifact(tmp_path / "model", pipeline, {})
    damage(directory)

    with pytest.raises(ArtifactError, match=message):
        load_artifact(directory)


def test_newer_format_is_refused(tmp_path, pipeline):
    directory = save_artifact(tmp_path / "model", pipeline, {})
    edit_manifest(directory, format_version=FORMAT_VERSION + 1)

    expected = r"saved by a newer version of the engine \(format 2\); this engine reads format 1"
    with pytest.raises(ArtifactError, match=expected):
        read_manifest(directory)
    with pytest.raises(ArtifactError, match=expected):
        load_artifact(directory)


def test_other_scikit_learn_version_warns_but_loads(tmp_path, pipeline, data):
    X, _ = data
    directory = save_artifact(tmp_path / "model", pipeline, {})
    manifest = read_manifest(directory)
    edit_manifest(directory, versions={**manifest["versions"], "scikit-learn": "0.0.1"})

    with pytest.warns(VersionMismatchWarning, match="scikit-learn 0.0.1") as caught:
        model, _ = load_artifact(directory)

    messages = [str(w.message) for w in caught if w.category is VersionMismatchWarning]
    assert manifest["versions"]["scikit-learn"] in messages[0]
    np.testing.assert_array_equal(model.predict(X), pipeline.predict(X))


def test_saving_twice_leaves_one_artifact_and_no_temporary_directories(tmp_path, pipeline):
    save_artifact(tmp_path / "model", pipeline, {"run": 1})
    save_artifact(tmp_path / "model", pipeline, {"run": 2})

    assert [path.name for path in tmp_path.iterdir()] == ["model"]
    assert sorted(path.name for path in (tmp_path / "model").iterdir()) == [
        "manifest.json",
        "model.joblib",
    ]
    assert load_artifact(tmp_path / "model")[1]["run"] == 2


def test_failed_save_leaves_the_previous_artifact_intact(tmp_path, pipeline):
    save_artifact(tmp_path / "model", pipeline, {"run": 1})

    with pytest.raises(TypeError, match="cannot be pickled"):
        save_artifact(tmp_path / "model", CannotBePickled(), {"run": 2})

    assert [path.name for path in tmp_path.iterdir()] == ["model"]
    assert load_artifact(tmp_path / "model")[1]["run"] == 1


def test_failed_rename_puts_the_previous_artifact_back(tmp_path, pipeline, monkeypatch):
    save_artifact(tmp_path / "model", pipeline, {"run": 1})
    real_rename = Path.rename

    def rename(self, target):
        if self.name.startswith(".model.tmp-") and not self.name.endswith(".old"):
            raise OSError("disk full")
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", rename)
    with pytest.raises(OSError, match="disk full"):
        save_artifact(tmp_path / "model", pipeline, {"run": 2})
    monkeypatch.undo()

    assert [path.name for path in tmp_path.iterdir()] == ["model"]
    assert load_artifact(tmp_path / "model")[1]["run"] == 1


def test_save_creates_parents_and_refuses_to_replace_other_directories(tmp_path, pipeline):
    save_artifact(tmp_path / "a" / "b" / "model", pipeline, {})
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "precious.csv").write_text("x\n1\n")

    with pytest.raises(ArtifactError, match="is not a model artifact"):
        save_artifact(tmp_path / "data", pipeline, {})

    assert (tmp_path / "a" / "b" / "model" / "model.joblib").is_file()
    assert (tmp_path / "data" / "precious.csv").read_text() == "x\n1\n"


def test_read_manifest_does_not_unpickle(tmp_path, pipeline):
    directory = save_artifact(tmp_path / "model", pipeline, {"metric": "roc_auc"})
    marker = tmp_path / "payload-ran"
    edit_manifest(directory, files={"model.joblib": plant_malicious_model(directory, marker)})

    assert read_manifest(directory)["metric"] == "roc_auc"
    assert not marker.exists()


def test_hashing_reads_large_files_in_chunks(tmp_path):
    path = tmp_path / "big.bin"
    path.write_bytes(b"x" * (3 << 20) + b"tail")

    class Sink:
        def __init__(self) -> None:
            self.sizes: list[int] = []

        def write(self, chunk: bytes) -> None:
            self.sizes.append(len(chunk))

    sink = Sink()
    digest = artifacts._sha256(path, copy_to=sink)

    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()
    assert len(sink.sizes) == 4
    assert max(sink.sizes) <= 1 << 20
