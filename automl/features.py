"""Feature engineering as scikit-learn transformers, fitted inside each validation fold.

``make_preprocessor(profile, inputs)`` turns raw table columns into model inputs, as a model
family's ``Inputs`` (its traits) ask: it reads each
column as its profiled kind, imputes with missing-value indicators, one-hot encodes
low-cardinality categories (or codes them, for histogram boosting's own category splits),
target-encodes high-cardinality ones (scikit-learn's
``TargetEncoder`` cross-fits, so a row's encoding never uses its own target), expands dates into
parts and text into TF-IDF terms. Linear models get scaled inputs; trees do not need them.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.impute import SimpleImputer
from sklearn.model_selection import KFold
from sklearn.pipeline import FunctionTransformer, Pipeline, make_pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler, TargetEncoder

from automl import kinds as K
from automl.profiling import DatasetProfile
from automl.wording import listing

# Above this many categories one-hot columns outnumber what trees can use: target-encode.
MAX_ONE_HOT = 20
DATE_PARTS = ("year", "month", "day", "day_of_week", "day_of_year", "hour")


class Inputs(NamedTuple):
    """What a model family needs of its inputs: a learner's traits.

    ``scaled``: a model of weights (linear), whose numbers and encodings are standardised,
    rare categories grouped (they make unstable weights) and text read as many terms (cheap in
    a sparse matrix). ``native_categories``: it splits on categories itself, from codes in the
    leading columns. ``dense``: it takes no sparse matrix.
    """

    scaled: bool = False
    native_categories: bool = False
    dense: bool = False


class KindReader(BaseEstimator, TransformerMixin):
    """Read raw columns as their profiled kinds (numbers from text, yes/no as 1/0, dates).

    Parameters
    ----------
    schema : list of dict
        ``{"name", "kind", "date_format"}`` for each feature column, and ``missing_values``:
        values that stand for "unknown" there, read as missing.
    """

    def __init__(self, schema: list[dict]):
        self.schema = schema

    def fit(self, X, y=None):
        self.feature_names_in_ = np.array([c["name"] for c in self.schema], dtype=object)
        return self

    def transform(self, X: pd.DataFrame) -> pd.DataFrame:
        columns = {}
        for column in self.schema:
            name = column["name"]
            raw = X[name] if name in X.columns else pd.Series(np.nan, index=X.index)
            values = K.convert(raw, column["kind"], column.get("date_format"))
            codes = column.get("missing_values")
            columns[name] = values.mask(values.isin(codes)) if codes else values
        return pd.DataFrame(columns, index=X.index)

    def get_feature_names_out(self, input_features=None):
        return self.feature_names_in_


class DateParts(BaseEstimator, TransformerMixin):
    """Expand datetime columns into calendar parts; the hour only where times vary."""

    def fit(self, X: pd.DataFrame, y=None):
        self.columns_ = list(X.columns)
        self.parts_ = {
            name: [p for p in DATE_PARTS if p != "hour" or X[name].dt.hour.nunique() > 1]
            for name in self.columns_
        }
        return self

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        out = [
            getattr(X[name].dt, part).astype(float).to_numpy()
            for name in self.columns_
            for part in self.parts_[name]
        ]
        return np.column_stack(out) if out else np.empty((len(X), 0))

    def get_feature_names_out(self, input_features=None):
        names = [f"{name}_{part}" for name in self.columns_ for part in self.parts_[name]]
        return np.array(names, dtype=object)


def _as_text(X) -> np.ndarray:
    # One text column at a time: a 1-D array of strings with missing as empty.
    return pd.Series(np.asarray(X).ravel()).fillna("").astype(str).to_numpy()


def make_preprocessor(profile: DatasetProfile, inputs: Inputs) -> Pipeline:
    """The feature pipeline for a model family that needs ``inputs``."""
    scaled = inputs.scaled
    by_kind = _by_kind(profile)
    numeric_steps = [SimpleImputer(strategy="median", add_indicator=True)]
    if scaled:
        numeric_steps.append(StandardScaler())
    blocks = []
    # Categories come first: a model that splits them itself finds them in the leading columns.
    if by_kind.get("categorical") and inputs.native_categories:
        # Unseen categories get -1, which histogram boosting reads as missing.
        codes = make_pipeline(
            SimpleImputer(strategy="constant", fill_value="(missing)"),
            OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=-1),
        )
        blocks.append(("categories", codes, by_kind["categorical"]))
    elif by_kind.get("categorical"):
        # Rare categories make unstable one-hot weights; trees shrug them off.
        min_frequency = 5 if scaled else 1
        categories = make_pipeline(
            SimpleImputer(strategy="constant", fill_value="(missing)"),
            OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=min_frequency),
        )
        blocks.append(("categories", categories, by_kind["categorical"]))
    numbers = by_kind.get("numeric", []) + by_kind.get("boolean", [])
    if numbers:
        blocks.append(("numbers", make_pipeline(*numeric_steps), numbers))
    if by_kind.get("many_categories"):
        encoded = make_pipeline(
            SimpleImputer(strategy="constant", fill_value="(missing)"),
            TargetEncoder(
                target_type=_target_type(profile), cv=KFold(5, shuffle=True, random_state=0)
            ),
            *([StandardScaler()] if scaled else []),
        )
        blocks.append(("many_categories", encoded, by_kind["many_categories"]))
    if by_kind.get("datetime"):
        dates = make_pipeline(DateParts(), *numeric_steps)
        blocks.append(("dates", dates, by_kind["datetime"]))
    for name in by_kind.get("text", []):
        tfidf = TfidfVectorizer(
            max_features=20000 if scaled else 300,
            ngram_range=(1, 2),
            min_df=2,
            sublinear_tf=True,
            strip_accents="unicode",
        )
        blocks.append(
            (
                f"text_{name}",
                make_pipeline(FunctionTransformer(_as_text, feature_names_out="one-to-one"), tfidf),
                [name],
            )
        )

    schema = [
        {"name": c.name, "kind": c.kind, "date_format": c.date_format,
         "missing_values": list(c.missing_values)}
        for c in profile.features
    ]  # fmt: skip
    # Some models need dense input; the others take sparse matrices as they come.
    columns = ColumnTransformer(
        blocks,
        sparse_threshold=0.0 if inputs.dense else 0.3,
        verbose_feature_names_out=False,
    )
    return Pipeline([("read", KindReader(schema)), ("columns", columns)])


def feature_columns(preprocessor: Pipeline) -> list[str]:
    """The raw column each output column of a fitted ``make_preprocessor`` comes from: every
    output depends on one input column, so a model's contributions add up by column."""
    columns = preprocessor.named_steps["columns"]
    owners: list[str] = []
    for name, transformer, inputs in columns.transformers_:
        if name == "remainder" or not len(inputs):
            continue
        width = columns.output_indices_[name].stop - columns.output_indices_[name].start
        if len(inputs) == 1:
            block = [inputs[0]] * width
        else:
            block = _block_columns(transformer.steps, list(inputs))
        if len(block) != width:
            raise ValueError(f"Cannot tell which column each output of {name!r} comes from.")
        owners += block
    return owners


def _block_columns(steps, inputs: list[str]) -> list[str]:
    """The input column of each output of one block of several columns (see above)."""
    first = steps[0][1]
    if isinstance(first, DateParts):
        parts = [name for name in first.columns_ for _ in first.parts_[name]]
        return parts + [parts[i] for i in _indicated(steps[1][1])]
    if isinstance(first, SimpleImputer) and first.strategy == "median":  # numbers
        return inputs + [inputs[i] for i in _indicated(first)]
    encoder = steps[1][1]  # categories: an imputer, then an encoder
    if isinstance(encoder, OneHotEncoder):
        infrequent = getattr(encoder, "infrequent_categories_", [None] * len(inputs))
        widths = [len(cats) - (len(rare) - 1 if rare is not None else 0)
                  for cats, rare in zip(encoder.categories_, infrequent, strict=True)]  # fmt: skip
    elif isinstance(encoder, TargetEncoder) and encoder.target_type_ == "multiclass":
        widths = [len(encoder.classes_)] * len(inputs)
    else:  # ordinal codes, a binary or continuous target encoding
        widths = [1] * len(inputs)
    return [name for name, width in zip(inputs, widths, strict=True) for _ in range(width)]


def _indicated(imputer: SimpleImputer) -> list[int]:
    return list(imputer.indicator_.features_) if imputer.add_indicator else []


def native_categories(profile: DatasetProfile, inputs: Inputs) -> int:
    """How many leading columns of ``make_preprocessor``'s output are category codes that the
    model splits on as categories (0 for families that get one-hot columns)."""
    return len(_by_kind(profile).get("categorical", [])) if inputs.native_categories else 0


def describe_preprocessor(profile: DatasetProfile, inputs: Inputs) -> list[str]:
    """What ``make_preprocessor`` does to the columns, in sentences an analyst can read."""
    scaled = " and scaled" if inputs.scaled else ""
    steps = {
        "numeric": "numbers: missing values filled with the median, with a missing flag" + scaled,
        "boolean": "yes/no values: read as 1/0, missing filled with the median" + scaled,
        "categorical": "categories: split by the model itself, in groups of categories"
        if inputs.native_categories
        else "categories: one column per category (one-hot)"
        + (", rare ones (under 5 rows) grouped" if inputs.scaled else ""),
        "many_categories": f"categories with more than {MAX_ONE_HOT} values: replaced by the "
        "average target of their category, computed on other rows (target encoding)" + scaled,
        "datetime": "dates: split into year, month, day, weekday, day of year (and hour)" + scaled,
        "text": "text: the most telling words and word pairs, weighted by TF-IDF",
    }
    return [
        f"{steps[kind][0].upper()}{steps[kind][1:]} ({listing(names, shown=6, quote=False)})."
        for kind, names in _by_kind(profile).items()
    ]


def _by_kind(profile: DatasetProfile) -> dict[str, list[str]]:
    """The feature columns by how they are encoded: their kind, with categories split in two."""
    by_kind: dict[str, list[str]] = {}
    for column in profile.features:
        kind = column.kind
        if kind == "categorical" and column.distinct > MAX_ONE_HOT:
            kind = "many_categories"
        by_kind.setdefault(kind, []).append(column.name)
    return by_kind


def _target_type(profile: DatasetProfile) -> str:
    return {"regression": "continuous"}.get(profile.task, profile.task)
