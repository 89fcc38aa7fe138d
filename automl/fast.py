"""A fast path for predicting a few rows at a time, as a prediction endpoint does.

For one row, scikit-learn's feature pipeline costs milliseconds of pandas and validation work
around microseconds of arithmetic. ``RowPredictor`` compiles the fitted pipeline into plain
lookups: the imputers' fill values, the scalers' means and scales, and, for categories, the
encoded output of every known category (plus unknown and missing), computed once by the
fitted encoders themselves. Rows then become a feature matrix with numpy alone, and go to the
same fitted model.

Compiling is refused (``compile_rows`` returns None) for any step it does not know, such as
text columns, and the compiled features are checked against the pipeline's own on sample rows
before use. A row it cannot read exactly as the pipeline would (a date it cannot parse, a
number too large) is left to the model's ordinary path, which says what is wrong.
"""

from __future__ import annotations

import math
import re
from datetime import date

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler, TargetEncoder

from automl import kinds as K
from automl.ensemble import Blend, blend
from automl.features import DATE_PARTS, DateParts, KindReader
from automl.learners import LogTarget, fitted_layers

ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
# A category no training row had: what the encoders do with unknown values.
UNSEEN = "\x00unseen\x00"
# About 40 bytes a node are copied: beyond this many, the forest is walked tree by tree.
MAX_NODES = 2_000_000
FORESTS = (RandomForestClassifier, RandomForestRegressor, ExtraTreesClassifier, ExtraTreesRegressor)
BOOSTED = (HistGradientBoostingClassifier, HistGradientBoostingRegressor)


class Unsupported(Exception):
    """A pipeline step, or a value, the fast path does not handle."""


class RowPredictor:
    """``predict`` and ``predict_proba`` on columns of JSON values, as the model would answer.

    Build it with ``compile_rows(model, sample)``. Values are typed as JSON sends them:
    numbers, ``true``/``false`` for yes/no columns, strings for categories and dates, ``None``
    when missing.
    """

    def __init__(self, model, pipeline, blocks, sparse_output: bool):
        self.model, self.blocks, self.sparse_output = model, blocks, sparse_output
        self.estimator = pipeline[-1]
        layers = fitted_layers(self.estimator)
        self.trees = Forest.of(layers[-1]) or Boosted.of(layers[-1])
        self.log_target = layers[0] if isinstance(layers[0], LogTarget) else None

    def features(self, columns: dict[str, list]) -> np.ndarray:
        n_rows = len(next(iter(columns.values()))) if columns else 0
        parts = [block(columns, n_rows) for block in self.blocks]
        return np.hstack(parts) if parts else np.empty((n_rows, 0))

    def _answer(self, columns, method: str):
        X = self.features(columns)
        if self.trees is not None:
            return self.tree_answer(X)
        return getattr(self.estimator, method)(sparse.csr_matrix(X) if self.sparse_output else X)

    def tree_answer(self, X: np.ndarray) -> np.ndarray:
        """The estimator's answer from its trees walked as arrays."""
        answer = self.trees.predict(X)
        return answer if self.log_target is None else self.log_target.to_target(answer)

    def predict_proba(self, columns: dict[str, list]) -> np.ndarray:
        proba = self._answer(columns, "predict_proba")
        n_classes = len(self.model.classes_)
        if proba.shape[1] == n_classes:
            return proba
        # A model that never saw a class: zero for it, as ``automl.ensemble.predict``.
        full = np.zeros((len(proba), n_classes))
        full[:, self.estimator.classes_] = proba
        return full

    def predict(self, columns: dict[str, list]) -> np.ndarray:
        if self.model.is_classifier:
            return self.model.classes_[self.predict_proba(columns).argmax(axis=1)]
        return self._answer(columns, "predict")


class BlendPredictor:
    """The fast path of an ensemble (an ``automl.ensemble.Blend``): each member's pipeline
    compiled, their answers averaged with the blend's weights."""

    def __init__(self, model, members: list[RowPredictor]):
        self.model, self.members = model, members

    def _average(self, columns, method: str) -> np.ndarray:
        answers = [getattr(member, method)(columns) for member in self.members]
        return blend(answers, self.model.pipeline.weights)

    def predict_proba(self, columns: dict[str, list]) -> np.ndarray:
        return self._average(columns, "predict_proba")

    def predict(self, columns: dict[str, list]) -> np.ndarray:
        if self.model.is_classifier:
            return self.model.classes_[self.predict_proba(columns).argmax(axis=1)]
        return self._average(columns, "predict")


class Forest:
    """Every tree of a fitted random forest or extra-trees model, walked at once with numpy.

    scikit-learn calls each tree in turn, about 0.1 ms apiece whatever the number of rows;
    here each level of all trees is one array step. Answers are the forest's own (class
    probabilities, or values for regression), up to the order of floating-point sums.
    """

    @classmethod
    def of(cls, estimator) -> Forest | None:
        """The estimator as a ``Forest``; None if it is not a forest, or one whose copied
        arrays would take too much memory."""
        if not isinstance(estimator, FORESTS):
            return None
        trees = [tree.tree_ for tree in estimator.estimators_]
        if sum(t.node_count for t in trees) > MAX_NODES or any(t.n_outputs != 1 for t in trees):
            return None
        return cls(estimator, trees)

    def __init__(self, forest, trees):
        offsets = np.cumsum([0] + [tree.node_count for tree in trees[:-1]])
        self.roots = offsets
        self.feature = np.concatenate([tree.feature for tree in trees])
        self.threshold = np.concatenate([tree.threshold for tree in trees])
        self.left = np.concatenate(
            [t.children_left + o for t, o in zip(trees, offsets, strict=True)]
        )
        self.right = np.concatenate(
            [t.children_right + o for t, o in zip(trees, offsets, strict=True)]
        )
        values = np.concatenate([tree.value[:, 0, :] for tree in trees])
        if hasattr(forest, "classes_"):
            totals = values.sum(axis=1, keepdims=True)
            values = values / np.where(totals == 0, 1, totals)  # as each tree's predict_proba
        else:
            values = values[:, 0]
        self.values = values
        self.depth = max(tree.max_depth for tree in trees)

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities (classification) or values (regression), one row per row."""
        X = np.asarray(X, dtype=np.float32)  # what the trees were grown on
        if np.isnan(X).any():
            raise Unsupported("missing")  # the trees' own rule for gaps applies
        nodes = np.tile(self.roots, (len(X), 1))
        rows = np.arange(len(X))[:, None]
        for _ in range(self.depth):
            feature = self.feature[nodes]
            leaf = feature < 0
            left = X[rows, np.where(leaf, 0, feature)] <= self.threshold[nodes]
            nodes = np.where(leaf, nodes, np.where(left, self.left[nodes], self.right[nodes]))
        return self.values[nodes].mean(axis=1)


class Boosted:
    """Every tree of a fitted scikit-learn histogram gradient boosting model, walked at once
    with numpy, its category splits included.

    scikit-learn re-encodes the category columns and then calls each tree in turn: a
    single row costs milliseconds for a few hundred trees. Answers are the model's own (its
    loss turns the summed margins into probabilities or values), up to the order of sums.
    """

    @classmethod
    def of(cls, estimator) -> Boosted | None:
        if not isinstance(
            estimator, (HistGradientBoostingClassifier, HistGradientBoostingRegressor)
        ):
            return None
        trees = [(k, tree) for iteration in estimator._predictors
                 for k, tree in enumerate(iteration)]  # fmt: skip
        if sum(len(tree.nodes) for _, tree in trees) > MAX_NODES:
            return None
        return cls(estimator, trees)

    def __init__(self, model, trees):
        self.model = model
        encoder = model._preprocessor
        if encoder is None:
            self.order, self.categories = None, []
        else:  # category columns first, re-coded as their rank among the codes seen
            categorical = model.is_categorical_
            self.order = np.concatenate([np.flatnonzero(categorical),
                                         np.flatnonzero(~categorical)])  # fmt: skip
            self.categories = encoder.named_transformers_["encoder"].categories_
        nodes = [tree.nodes for _, tree in trees]
        offsets = np.cumsum([0] + [len(n) for n in nodes[:-1]])
        self.roots = offsets
        flat = np.concatenate(nodes)
        self.feature = flat["feature_idx"]
        self.threshold = flat["num_threshold"]
        self.missing_left = flat["missing_go_to_left"].astype(bool)
        self.leaf = flat["is_leaf"].astype(bool)
        self.categorical = flat["is_categorical"].astype(bool)
        self.left = np.concatenate([n["left"].astype(np.int64) + o
                                    for n, o in zip(nodes, offsets, strict=True)])  # fmt: skip
        self.right = np.concatenate([n["right"].astype(np.int64) + o
                                     for n, o in zip(nodes, offsets, strict=True)])  # fmt: skip
        self.value = flat["value"]
        # Each tree's category bitsets after one empty row, where numeric splits point.
        bitsets = [tree.raw_left_cat_bitsets for _, tree in trees]
        starts = np.cumsum([1] + [len(b) for b in bitsets[:-1]])
        self.bitset = np.concatenate([np.where(n["is_categorical"], n["bitset_idx"] + s, 0)
                                      for n, s in zip(nodes, starts, strict=True)])  # fmt: skip
        self.bitsets = np.concatenate([np.zeros((1, 8), np.uint32), *bitsets])
        self.depth = int(flat["depth"].max())
        n_classes = model.n_trees_per_iteration_
        self.by_class = np.zeros((len(trees), n_classes))
        self.by_class[np.arange(len(trees)), [k for k, _ in trees]] = 1
        self.baseline = np.asarray(model._baseline_prediction, dtype=float).reshape(1, -1)

    def _encode(self, X: np.ndarray) -> np.ndarray:
        """The model's own re-coding: categories seen in training by rank, others missing."""
        if self.order is None:
            return X
        X = X[:, self.order]
        for j, seen in enumerate(self.categories):
            column = X[:, j]
            rank = np.searchsorted(seen, column)
            inside = rank < len(seen)
            known = inside & (seen[np.where(inside, rank, 0)] == column)
            X[:, j] = np.where(known, rank, np.nan)
        return X

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities (classification) or values (regression), one row per row."""
        X = self._encode(np.array(X, dtype=float))
        nodes = np.tile(self.roots, (len(X), 1))
        rows = np.arange(len(X))[:, None]
        for _ in range(self.depth):
            leaf = self.leaf[nodes]
            if leaf.all():
                break
            value = X[rows, self.feature[nodes]]
            missing = np.isnan(value)
            categorical = self.categorical[nodes]
            code = np.where(missing | ~categorical, 0, value).astype(np.int64)
            in_left = (self.bitsets[self.bitset[nodes], code >> 5] >> (code & 31)) & 1
            split = np.where(categorical, in_left == 1, value <= self.threshold[nodes])
            left = np.where(missing, self.missing_left[nodes], split)
            nodes = np.where(leaf, nodes, np.where(left, self.left[nodes], self.right[nodes]))
        raw = self.baseline + self.value[nodes] @ self.by_class
        loss = self.model._loss
        if hasattr(self.model, "classes_"):
            return loss.predict_proba(raw)
        return loss.link.inverse(raw.ravel())


def compile_rows(model, sample: dict[str, list]) -> RowPredictor | BlendPredictor | None:
    """A fast predictor for ``model``, or None when a pipeline of it has steps the fast path
    does not know or features that differ from the pipeline's on ``sample`` (columns of
    values)."""
    if not isinstance(model.pipeline, Blend):
        return _compile(model, model.pipeline, sample)
    members = [_compile(model, pipeline, sample) for pipeline in model.pipelines]
    return None if None in members else BlendPredictor(model, members)


def _compile(model, pipeline: Pipeline, sample: dict[str, list]) -> RowPredictor | None:
    features = pipeline[0]
    try:
        reader, columns = _steps(features)
        kinds = {c["name"]: c for c in reader.schema}
        blocks = [_block(transformer, names, kinds) for _, transformer, names in _used(columns)]
        predictor = RowPredictor(model, pipeline, blocks, bool(columns.sparse_output_))
        fast = predictor.features(sample)
    except Unsupported:
        return None
    slow = features.transform(pd.DataFrame(sample))
    slow_dense = slow.toarray() if sparse.issparse(slow) else np.asarray(slow, dtype=float)
    if fast.shape != slow.shape or not np.allclose(fast, slow_dense, rtol=1e-12, equal_nan=True):
        return None
    if predictor.trees is not None:
        method = "predict_proba" if model.is_classifier else "predict"
        expected = getattr(predictor.estimator, method)(slow)
        try:
            if not np.allclose(predictor.tree_answer(fast), expected, rtol=1e-9):
                return None
        except Unsupported:
            predictor.trees = None  # gaps the trees handle themselves: no array walk
    return predictor


def single_threaded(model) -> None:
    """Predict on one thread: a server answers many small requests at once, and thread pools
    per request cost more than they save."""
    for pipeline in model.pipelines:
        for layer in fitted_layers(pipeline[-1]):
            if "n_jobs" in layer.get_params():
                layer.set_params(n_jobs=1)


def _steps(features):
    if not isinstance(features, Pipeline) or len(features.steps) != 2:
        raise Unsupported("feature pipeline")
    reader, columns = features.steps[0][1], features.steps[1][1]
    if not isinstance(reader, KindReader):
        raise Unsupported("reader")
    if getattr(columns, "remainder", "drop") != "drop":
        raise Unsupported("remainder")
    return reader, columns


def _used(columns):
    return [(n, t, c) for n, t, c in columns.transformers_ if n != "remainder" and len(c)]


def _block(transformer, names: list[str], kinds: dict):
    steps = [step for _, step in transformer.steps] if isinstance(transformer, Pipeline) else []
    if not steps:
        raise Unsupported("block")
    if all(kinds[name]["kind"] in ("numeric", "boolean") for name in names):
        return _numbers(names, steps, kinds)
    if all(kinds[name]["kind"] == "datetime" for name in names) and isinstance(steps[0], DateParts):
        return _dates(names, steps[0], steps[1:], kinds)
    if all(kinds[name]["kind"] == "categorical" for name in names):
        return _categories(names, transformer, steps, kinds)
    raise Unsupported("kind")


def _numeric_steps(steps):
    """Imputer (median, with indicator) then an optional scaler, as plain arrays."""
    imputer, *rest = steps
    if not isinstance(imputer, SimpleImputer) or np.isnan(imputer.statistics_).any():
        raise Unsupported("imputer")
    indicated = imputer.indicator_.features_ if imputer.add_indicator else np.array([], int)
    scaler = None
    if rest:
        scaler, *rest = rest
        if not isinstance(scaler, StandardScaler) or rest:
            raise Unsupported("scaler")
    fill = imputer.statistics_.astype(float)
    mean = scaler.mean_ if scaler is not None and scaler.with_mean else None
    scale = scaler.scale_ if scaler is not None and scaler.with_std else None

    def transform(X: np.ndarray) -> np.ndarray:
        missing = np.isnan(X)
        values = np.hstack([np.where(missing, fill, X), missing[:, indicated].astype(float)])
        if mean is not None:
            values = values - mean
        if scale is not None:
            values = values / scale
        return values

    return transform


def _numbers(names, steps, kinds):
    transform = _numeric_steps(steps)
    codes = [set(kinds[name].get("missing_values") or ()) for name in names]

    def block(columns, n_rows):
        X = np.empty((n_rows, len(names)))
        for j, name in enumerate(names):
            for i, value in enumerate(columns.get(name) or [None] * n_rows):
                number = _number(value)
                X[i, j] = math.nan if number in codes[j] else number
        return transform(X)

    return block


def _number(value) -> float:
    if value is None:
        return math.nan
    if not isinstance(value, (int, float)):
        raise Unsupported("value")  # text to parse: the ordinary path reads it
    number = float(value)
    if not abs(number) <= K.MAX_MAGNITUDE:
        raise Unsupported("value")
    return number


def _dates(names, parts_step: DateParts, steps, kinds):
    transform = _numeric_steps(steps)
    parts = [(name, part) for name in parts_step.columns_ for part in parts_step.parts_[name]]

    def block(columns, n_rows):
        read = {name: _date_parts(columns.get(name) or [None] * n_rows, kinds[name])
                for name in names}  # fmt: skip
        X = np.array([[read[name][i][part] for name, part in parts] for i in range(n_rows)])
        return transform(X.reshape(n_rows, len(parts)))

    return block


def _date_parts(values: list, column: dict) -> list[dict]:
    """Each value's calendar parts, as ``DateParts`` computes them from the parsed date."""
    if column.get("date_format") == "ISO8601" and all(
        value is None or (isinstance(value, str) and ISO_DAY.fullmatch(value)) for value in values
    ):  # plain days, the common case: read without pandas
        days = [None if value is None else date.fromisoformat(value) for value in values]
        return [
            dict.fromkeys(DATE_PARTS, math.nan) if day is None else {
                "year": day.year, "month": day.month, "day": day.day,
                "day_of_week": day.weekday(), "day_of_year": day.timetuple().tm_yday, "hour": 0,
            }
            for day in days
        ]  # fmt: skip
    raw = pd.Series(values, dtype=object)
    dates = K.parse_dates(raw, column.get("date_format"))
    if (dates.isna() & raw.notna()).any():
        raise Unsupported("value")  # the ordinary path names the bad date
    table = {part: getattr(dates.dt, part).astype(float).to_numpy() for part in DATE_PARTS}
    return [{part: table[part][i] for part in DATE_PARTS} for i in range(len(values))]


def _categories(names, transformer: Pipeline, steps, kinds):
    imputer, encoder, *rest = steps
    if not isinstance(imputer, SimpleImputer) or imputer.strategy != "constant":
        raise Unsupported("imputer")
    if isinstance(encoder, OneHotEncoder):
        if encoder.drop_idx_ is not None:
            raise Unsupported("drop")
        infrequent = getattr(encoder, "infrequent_categories_", [None] * len(names))
        widths = [
            len(cats) - (len(rare) if rare is not None else 0) + (rare is not None)
            for cats, rare in zip(encoder.categories_, infrequent, strict=True)
        ]
    elif isinstance(encoder, OrdinalEncoder):
        widths = [1] * len(names)
    elif isinstance(encoder, TargetEncoder):
        per_feature = len(encoder.classes_) if encoder.target_type_ == "multiclass" else 1
        widths = [per_feature] * len(names)
    else:
        raise Unsupported("encoder")
    if any(not isinstance(step, StandardScaler) for step in rest):
        raise Unsupported("scaler")
    # Every output column depends on one input column: tabulate each column's known values,
    # an unseen one and a missing one, all at once, through the fitted steps themselves.
    known = [[c for c in cats if c != imputer.fill_value] for cats in encoder.categories_]
    values = [[*cats, UNSEEN, math.nan] for cats in known]
    n_probe = max(len(v) for v in values)
    probe = pd.DataFrame(
        {
            name: [v[min(i, len(v) - 1)] for i in range(n_probe)]
            for name, v in zip(names, values, strict=True)
        }
    )
    table = transformer.transform(probe)
    table = table.toarray() if sparse.issparse(table) else np.asarray(table, dtype=float)
    if table.shape[1] != sum(widths):
        raise Unsupported("widths")
    starts = np.cumsum([0, *widths])
    lookups = []
    for j, column_values in enumerate(values):
        rows = table[: len(column_values), starts[j] : starts[j + 1]]
        lookup = {value: rows[i] for i, value in enumerate(column_values[:-2])}
        lookup[imputer.fill_value] = rows[-1]  # what the imputer writes for a gap
        lookups.append((lookup, rows[-2], rows[-1]))

    codes = [set(kinds[name].get("missing_values") or ()) for name in names]

    def block(columns, n_rows):
        out = np.empty((n_rows, int(starts[-1])))
        for j, name in enumerate(names):
            lookup, unseen, missing = lookups[j]
            for i, value in enumerate(columns.get(name) or [None] * n_rows):
                if value is None:
                    out[i, starts[j] : starts[j + 1]] = missing
                    continue
                if not isinstance(value, str):
                    raise Unsupported("value")
                text = value.strip()
                row = missing if text == "" or text in codes[j] else lookup.get(text, unseen)
                out[i, starts[j] : starts[j + 1]] = row
        return out

    return block
