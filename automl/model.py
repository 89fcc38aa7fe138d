"""A trained model that predicts on raw tables: what ``AutoML.fit`` builds and ``load`` returns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from automl import kinds as K
from automl.artifacts import load_artifact, save_artifact
from automl.ensemble import Blend
from automl.exceptions import ArtifactError, DataError
from automl.wording import listing, plain, quoted

# Enough rows named in an error to find the problem, few enough to read.
ROWS_IN_ERRORS = 5
EXPECTED = {
    "numeric": f"numbers (at most {K.MAX_MAGNITUDE:g} in size)",
    "boolean": "yes/no values",
    "datetime": "dates",
}


class Model:
    """A fitted pipeline with its input schema, classes and scores.

    ``predict`` and ``predict_proba`` take a DataFrame with the training columns: missing
    columns count as missing values, extra columns are ignored, unseen categories are handled,
    and values that cannot be read as their column's kind raise a ``DataError`` naming the
    column and rows.
    """

    def __init__(self, pipeline, *, task: str, target: str, classes, schema: list[dict], info):
        self.pipeline = pipeline
        self.task = task
        self.target = target
        self.classes_ = None if classes is None else np.asarray(classes)
        self.schema = schema
        self.info = info

    @property
    def is_classifier(self) -> bool:
        return self.task != "regression"

    @property
    def pipelines(self) -> list:
        """Every fitted pipeline it predicts with: an ensemble's members, else one."""
        return self.pipeline.pipelines if isinstance(self.pipeline, Blend) else [self.pipeline]

    def validate(self, X: pd.DataFrame) -> pd.DataFrame:
        """``X``'s model columns read as their kinds, or a ``DataError`` saying what is wrong."""
        columns, invalid = self._read(X)
        problems = []
        for name, bad in invalid.items():
            raw = X[name]
            positions = np.flatnonzero(bad.to_numpy())[:ROWS_IN_ERRORS]
            values = ", ".join(f"row {i + 1} ({quoted(plain(raw.iloc[i]))})" for i in positions)
            kind = next(c["kind"] for c in self.schema if c["name"] == name)
            problems.append(f"column {quoted(name)} expects {EXPECTED[kind]} but has {values}")
        if problems:
            raise DataError("Some values cannot be used: " + "; ".join(problems) + ".")
        return columns

    def invalid_cells(self, X: pd.DataFrame) -> pd.DataFrame:
        """Which values of ``X`` cannot be read as their column's kind: a boolean table with
        one column per model column that has any (none when all is well).

        Blanking them (``X.mask(invalid_cells(X))``) lets the rest of those rows be predicted,
        the blanks read as missing values.
        """
        return pd.DataFrame(self._read(X)[1], index=X.index)

    def _read(self, X: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, pd.Series]]:
        if not isinstance(X, pd.DataFrame):
            raise DataError("Expected a table (a pandas DataFrame) of rows to predict.")
        if len(X) == 0:
            raise DataError("There are no rows to predict.")
        names = [c["name"] for c in self.schema]
        if not set(names) & set(X.columns):
            raise DataError(
                f"None of the model's columns are in the data; it expects {listing(names)}."
            )
        # Each column is read once here; the pipeline's reader then finds it already typed.
        columns, invalid = {}, {}
        for column in self.schema:
            name, kind, date_format = column["name"], column["kind"], column.get("date_format")
            raw = X[name] if name in X.columns else pd.Series(np.nan, index=X.index)
            columns[name] = K.convert(raw, kind, date_format)
            bad = K.invalid_rows(raw, kind, date_format, converted=columns[name])
            if bad.any():
                invalid[name] = bad
        return pd.DataFrame(columns, index=X.index), invalid

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """Predicted classes (as in the training target) or values, one per row, in order."""
        X = self.validate(X)
        if self.is_classifier:
            return self.classes_[self.pipeline.predict_proba(X).argmax(axis=1)]
        return self.pipeline.predict(X)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Class probabilities, one column per class in the order of ``classes_``."""
        if not self.is_classifier:
            raise DataError("A regression model predicts values, not class probabilities.")
        return self.pipeline.predict_proba(self.validate(X))

    def explain(self, X: pd.DataFrame, top: int | None = 5) -> list[dict]:
        """Reason codes for each row: a base value and the ``top`` columns' signed
        contributions, which (all of them) add up to the answer (``automl.explain``)."""
        from automl.explain import explain

        return explain(self, X, top)

    def manifest(self) -> dict:
        classes = None if self.classes_ is None else self.classes_.tolist()
        return {
            "task": self.task,
            "target": self.target,
            "classes": classes,
            "schema": self.schema,
            **self.info,
        }

    def save(self, path, *, signing_key: bytes | None = None) -> Path:
        """Write the model to the directory ``path`` (see ``automl.load``)."""
        return save_artifact(path, self, self.manifest(), signing_key=signing_key)


def load(path, *, signing_key: bytes | None = None) -> Model:
    """Load a model saved by ``AutoML.save`` or ``Model.save``.

    Every file's SHA-256 (and, with ``signing_key``, the manifest's signature) is checked
    before anything is unpickled, so a tampered artifact is refused rather than run.

    Raises
    ------
    ArtifactError
        Missing, tampered or incompatible artifact.

    Examples
    --------
    >>> model = load("models/churn")          # doctest: +SKIP
    >>> model.predict(new_customers)          # doctest: +SKIP
    """
    model, _ = load_artifact(path, signing_key=signing_key)
    if not isinstance(model, Model):
        raise ArtifactError(f"{path} does not hold a model saved by this engine.")
    return model
