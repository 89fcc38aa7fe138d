"""Model artifacts: a directory with ``model.joblib`` and a ``manifest.json`` describing it.

The manifest holds the SHA-256 of every other file, checked before anything is unpickled
(unpickling runs arbitrary code). Hashes catch accidents and naive edits; a signing key also
stops someone who can rewrite both files. ``read_manifest`` never unpickles. Example::

    save_artifact("models/churn", pipeline, {"task": "classification"}, signing_key=key)
    model, manifest = load_artifact("models/churn", signing_key=key)
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import shutil
import sys
import tempfile
import uuid
import warnings
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import IO, Any

import joblib

from automl.exceptions import ArtifactError

FORMAT_VERSION = 1
MODEL_FILE = "model.joblib"
MANIFEST_FILE = "manifest.json"
_VERSIONED = ("scikit-learn", "numpy", "pandas", "joblib", "xgboost", "optuna")
# Estimators from these change internals between releases; the rest is recorded for diagnosis.
_CHECKED_ON_LOAD = ("scikit-learn", "xgboost")

StrPath = str | os.PathLike[str]


class VersionMismatchWarning(UserWarning):
    """A model is loaded with other scikit-learn or xgboost versions than it was saved with."""


def save_artifact(
    directory: StrPath, model: object, manifest: dict[str, Any], *, signing_key: bytes | None = None
) -> Path:
    """Save ``model`` and its manifest to ``directory``, replacing any artifact already there.

    Files are written to a hidden directory beside ``directory`` and renamed into place, so
    readers see the old artifact or the new one, never a half-written one.

    Parameters
    ----------
    directory : str or path-like
        The artifact directory; its parents are created.
    model : object
        Anything joblib can pickle, usually a fitted scikit-learn ``Pipeline``.
    manifest : dict
        JSON-serialisable facts about the model; numpy values become plain numbers and lists.
        ``format_version``, ``created``, ``versions``, ``files`` and ``signature`` are set here.
    signing_key : bytes, optional
        Secret key for an HMAC-SHA256 ``signature`` of the manifest.

    Returns
    -------
    Path
        The artifact directory.

    Raises
    ------
    ArtifactError
        If ``directory`` exists and is not a model artifact; it is left untouched.
    """
    target = Path(directory)
    _check_replaceable(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Not mkdtemp: its 0700 mode would lock out a web server running as another user.
    staging = target.with_name(f".{target.name}.tmp-{uuid.uuid4().hex}")
    staging.mkdir()
    try:
        joblib.dump(model, staging / MODEL_FILE, compress=3)
        complete = _complete_manifest(manifest, staging, signing_key)
        text = json.dumps(complete, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        (staging / MANIFEST_FILE).write_text(text, encoding="utf-8")
        for path in staging.iterdir():
            with path.open("rb") as handle:  # so a power cut cannot leave empty files behind
                os.fsync(handle.fileno())
        _move_into_place(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


def read_manifest(directory: StrPath) -> dict[str, Any]:
    """Read and check the manifest of the artifact in ``directory``; never unpickles anything.

    Returns
    -------
    dict
        The manifest as saved.

    Raises
    ------
    ArtifactError
        If the directory or manifest is missing or unreadable, the format is newer than this
        engine reads, or the manifest does not list the model file with its hash.
    """
    root = Path(directory)
    if not root.is_dir():
        raise ArtifactError(f"There is no model artifact at {root}: the directory does not exist.")
    if not (root / MANIFEST_FILE).is_file():
        raise ArtifactError(f"{root} has no {MANIFEST_FILE}, so it is not a model artifact.")
    try:
        manifest = json.loads((root / MANIFEST_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:  # ValueError covers bad JSON and bad UTF-8
        raise ArtifactError(f"The {MANIFEST_FILE} in {root} cannot be read: {error}.") from None
    if not isinstance(manifest, dict):
        raise ArtifactError(f"The {MANIFEST_FILE} in {root} is not a JSON object.")
    _check_manifest(root, manifest)
    return manifest


def load_artifact(directory: StrPath, *, signing_key: bytes | None = None) -> tuple[object, dict]:
    """Load a model saved by `save_artifact`, checking hashes and signature before unpickling.

    Parameters
    ----------
    directory : str or path-like
        The artifact directory.
    signing_key : bytes, optional
        If given, an unsigned or wrongly signed artifact is refused; if not, signatures are
        not checked.

    Returns
    -------
    tuple of (object, dict)
        The unpickled model and its manifest.

    Raises
    ------
    ArtifactError
        If `read_manifest` refuses the manifest, a listed file is missing or changed, or the
        signature is missing or wrong. Nothing has been unpickled when it is raised.

    Warns
    -----
    VersionMismatchWarning
        If scikit-learn or xgboost differ from the versions the model was saved with.
    """
    root = Path(directory)
    manifest = read_manifest(root)
    if signing_key is not None:
        _check_signature(root, manifest, signing_key)
    files: dict[str, str] = manifest["files"]
    for name in sorted(set(files) - {MODEL_FILE}):
        _verify(root, name, files[name])
    _warn_on_version_mismatch(root, manifest.get("versions"))
    # Unpickle the private copy that was hashed, so the file cannot be swapped in between.
    with tempfile.TemporaryFile() as verified:
        _verify(root, MODEL_FILE, files[MODEL_FILE], copy_to=verified)
        verified.seek(0)
        model = joblib.load(verified)
    return model, manifest


def _check_replaceable(target: Path) -> None:
    if target.is_symlink() or (target.exists() and not target.is_dir()):
        raise ArtifactError(f"{target} exists and is not a directory; refusing to replace it.")
    # Saving replaces the directory, so a data directory passed by mistake must not be deleted.
    if target.is_dir() and any(target.iterdir()) and not (target / MANIFEST_FILE).is_file():
        raise ArtifactError(f"{target} is not a model artifact; refusing to replace it.")


def _complete_manifest(manifest: dict, staging: Path, signing_key: bytes | None) -> dict:
    # The JSON round trip turns numpy values, tuples and int keys into what loading will see,
    # so the signature covers exactly the manifest load_artifact parses.
    complete = json.loads(json.dumps(manifest, default=_plain))
    complete.pop("signature", None)
    complete["format_version"] = FORMAT_VERSION
    complete["created"] = datetime.now(UTC).isoformat(timespec="seconds")
    complete["versions"] = _library_versions()
    complete["files"] = {path.name: _sha256(path) for path in sorted(staging.iterdir())}
    if signing_key is not None:
        complete["signature"] = _signature(complete, signing_key)
    return complete


def _plain(value: Any) -> Any:
    if hasattr(value, "tolist"):  # numpy scalars and arrays, pandas Series
        return value.tolist()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _library_versions() -> dict[str, str]:
    from automl import __version__  # late: automl/__init__ may import this module

    versions = {"automl": __version__, "python": ".".join(map(str, sys.version_info[:3]))}
    for name in _VERSIONED:
        with contextlib.suppress(metadata.PackageNotFoundError):
            versions[name] = metadata.version(name)
    return versions


def _move_into_place(staging: Path, target: Path) -> None:
    if not target.exists():
        staging.rename(target)
        return
    # Directories cannot be swapped atomically: move the old one aside, and back on failure.
    backup = staging.with_name(staging.name + ".old")
    target.rename(backup)
    try:
        staging.rename(target)
    except BaseException:
        backup.rename(target)
        raise
    # The new artifact is in place: a leftover hidden copy is no reason to fail the save.
    shutil.rmtree(backup, ignore_errors=True)


def _check_manifest(root: Path, manifest: dict) -> None:
    version = manifest.get("format_version")
    if type(version) is not int or version < 1:  # not isinstance: True would pass as 1
        raise ArtifactError(f"The {MANIFEST_FILE} in {root} has no valid format_version.")
    if version > FORMAT_VERSION:
        raise ArtifactError(
            f"The model in {root} was saved by a newer version of the engine (format {version});"
            f" this engine reads format {FORMAT_VERSION}, so upgrade it to load this model."
        )
    files = manifest.get("files")
    if not isinstance(files, dict) or MODEL_FILE not in files:
        raise ArtifactError(f"The {MANIFEST_FILE} in {root} does not list {MODEL_FILE}.")
    for name, digest in files.items():
        # Names must stay inside the artifact: "../x" would hash files elsewhere.
        if name in ("", ".", "..") or Path(name).name != name or not isinstance(digest, str):
            raise ArtifactError(f"The {MANIFEST_FILE} in {root} has an invalid entry {name!r}.")


def _signature(manifest: dict, key: bytes) -> str:
    if not isinstance(key, bytes) or not key:  # an empty key would make signatures forgeable
        raise ValueError("signing_key must be non-empty bytes.")
    unsigned = {name: value for name, value in manifest.items() if name != "signature"}
    canonical = json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hmac.new(key, canonical.encode("utf-8"), hashlib.sha256).hexdigest()


def _check_signature(root: Path, manifest: dict, key: bytes) -> None:
    signature = manifest.get("signature")
    if not isinstance(signature, str):
        raise ArtifactError(f"The model in {root} is not signed; refusing to load it.")
    # Bytes, because compare_digest raises TypeError on non-ASCII strings.
    if not hmac.compare_digest(signature.encode(), _signature(manifest, key).encode()):
        raise ArtifactError(
            f"The signature of the model in {root} does not match: it was changed after it was"
            " saved or signed with another key; refusing to load it."
        )


def _sha256(path: Path, copy_to: IO[bytes] | None = None) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
            if copy_to is not None:
                copy_to.write(chunk)
    return digest.hexdigest()


def _verify(root: Path, name: str, expected: str, copy_to: IO[bytes] | None = None) -> None:
    if not (root / name).is_file():
        raise ArtifactError(f"{name} is missing from the model artifact at {root}.")
    try:
        actual = _sha256(root / name, copy_to)
    except OSError as error:
        raise ArtifactError(f"{name} in {root} cannot be read: {error}.") from None
    if actual != expected.lower():
        raise ArtifactError(f"{name} was changed after it was saved; refusing to load it.")


def _warn_on_version_mismatch(root: Path, saved: object) -> None:
    if not isinstance(saved, dict):
        return
    current = _library_versions()
    for name in _CHECKED_ON_LOAD:
        # Absent on either side says nothing: xgboost is recorded whenever it is installed.
        if name in saved and name in current and saved[name] != current[name]:
            warnings.warn(
                f"The model in {root} was saved with {name} {saved[name]} and is loaded with"
                f" {name} {current[name]}; it may fail or predict differently.",
                VersionMismatchWarning,
                stacklevel=3,
            )
