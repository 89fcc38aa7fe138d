"""Checks on a table before training: what a careful data scientist would look for, as data.

Each ``Check`` has an id, a status (``passed``, ``info``, ``alert`` or ``acted``), the columns
concerned, a sentence or two in plain words, and what was done about it. ``profile`` runs them;
the platform shows them as cards, the CLI prints them, and ``AutoML`` acts on them:

- columns that give the target away (a leak) are measured against the rest of the table: a
  column alone far beyond what the other columns reach, or a few columns that together
  determine the target exactly (a sum, a difference, a product or a ratio). High-risk leaks are
  left out of training unless the caller keeps them (``keep``); moderate ones are flagged;
- values that stand for "unknown" (a 0 where no 0 can be, -1, 99, 999, "?", "N/A") are read as
  missing, unless kept as values; a value inside the range far more common than its neighbours
  (an inlier, perhaps a default entered for "not known") is reported;
- copies of a row (on every feature) are kept in the same fold, so they never validate each
  other, and the check says what naive folds would have scored;
- a target that drifts with a date column suggests validating in time order, and with a time
  column chosen, a date column that lies after it on nearly every row is flagged as a leak;
- with rows kept aside for a test, IDs written alike on both sides (``shared_ids``, run by
  ``AutoML`` once the split is made) are reported.
"""

from __future__ import annotations

import copy
import itertools
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from automl import kinds as K
from automl.splits import make_splits
from automl.wording import listing

if TYPE_CHECKING:
    from automl.profiling import DatasetProfile

PASSED, INFO, ALERT, ACTED = "passed", "info", "alert", "acted"
STATUSES = (ALERT, ACTED, INFO, PASSED)  # the order cards are shown in

MOSTLY_MISSING = 0.5
IMBALANCE = 0.05
# Rows the target-aware checks train their small models on, with MIN_CLASS_ROWS of each class
# at least (all of a rarer one).
SAMPLE_ROWS = 5000
MIN_CLASS_ROWS = 50
# Leak risk on a score normalised to [0, 1] (R², or balanced accuracy above chance), as
# DataRobot's moderate and high levels: a column is a risk only when it is also this far above
# what the rest of the table reaches without it.
MODERATE_RISK = 0.85
HIGH_RISK = 0.975
BEYOND_REST = 0.1
# Columns whose pairs and triples are tried as an exact function of the target.
GROUP_CANDIDATES = 6
EXACT_FIT = 0.999
# A date column that alone explains this much of the target: the target drifts in time.
DRIFT = 0.1
# A date later than the row's time on this share of rows was recorded after it.
AFTER_THE_TIME = 0.95
# Numbers that often stand for "unknown"; a value among them is one only when it lies beyond
# every other value of its column (an outlier in value) and repeats (in frequency).
NUMBER_CODES = (
    0, -1, -9, -99, -999, -9999, -99999, -999999, 9, 99, 999, 9999, 99999, 999999, 9999999,
    99999999, 97, 98, 997, 998, 9997, 9998, 100, 1000, 10000, 100000, 1000000, 10000000,
)  # fmt: skip
TEXT_CODES = frozenset(
    ("?", "??", "-", "--", ".", "n/a", "na", "#n/a", "nan", "null", "unknown", "unk",
     "missing", "not available", "undefined")
)  # fmt: skip
# A code is that many times further from the column's other values than they are apart (or
# negative in a column of none), at least MIN_CODE_ROWS rows hold it, and (unless very far)
# twice the median count of a value.
CODE_GAP = 5
FAR_CODE_GAP = 20
MIN_CODE_ROWS = 3
MIN_DISTINCT_FOR_CODES = 10
# Beyond this share, zeros are how the column is (rain in an hour), not a code.
MAX_ZERO_SHARE = 0.6
CODE_SAMPLE = 200_000
# An inlier: a value inside a column's range held by this many times the rows of any of its
# INLIER_NEIGHBOURS nearest values on each side, and by this share of rows at least, in a
# column of many values: a default filled in where the true value was not known (50,000 for an
# unknown income). Rounded measurements (0.28, 0.29, 0.30) are each common, and none stands out.
INLIER_TIMES = 10
INLIER_NEIGHBOURS = 3
INLIER_SHARE = 0.02
MIN_DISTINCT_FOR_INLIERS = 50
MAX_INLIERS = 2


@dataclass(frozen=True)
class Check:
    """One check of the table, in plain words.

    Attributes
    ----------
    id : str
        What was checked: "leakage", "disguised_missing", "duplicate_rows"...
    status : {"passed", "info", "alert", "acted"}
        Passed: nothing found. Info: worth knowing. Alert: look at it before trusting the
        model. Acted: found, and the engine did something about it (``action``).
    title : str
        A few words for a card's heading.
    message : str
        One or two sentences naming the columns concerned.
    columns : tuple of str
    action : str
        What was done about it, or what the analyst can do; empty when nothing.
    details : dict
        The numbers behind it (scores, counts, values), JSON-ready.
    """

    id: str
    status: str
    title: str
    message: str
    columns: tuple[str, ...] = ()
    action: str = ""
    details: dict = field(default_factory=dict)


def ordered(checks) -> tuple[Check, ...]:
    """Alerts first, then what was acted on, information, and what passed."""
    return tuple(sorted(checks, key=lambda c: STATUSES.index(c.status)))


# Values that stand for "unknown", column by column.
def disguised_missing(values: pd.Series, kind: str) -> list[list]:
    """``[value, rows]`` for each value of ``values`` (read as ``kind``) that stands for
    "unknown": a text code such as "?" or "N/A" in a categorical column, or a number code such
    as 0, -1 or 999 lying far beyond the column's other values and repeated."""
    present = values.dropna()
    if kind == "categorical" and len(present):
        counts = present.value_counts()
        codes = [v for v in counts.index if str(v).strip().lower() in TEXT_CODES]
        return [[v, int(counts[v])] for v in codes]
    if kind != "numeric" or len(present) == 0:
        return []
    numbers = present.to_numpy(float)
    found = [v for v in NUMBER_CODES if (numbers == v).any()]
    if not found:
        return []
    if len(numbers) > CODE_SAMPLE:
        numbers = np.random.default_rng(0).choice(numbers, CODE_SAMPLE, replace=False)
    counts = pd.Series(numbers).value_counts()
    rest = counts.drop([v for v in found if v in counts.index])
    if len(rest) < MIN_DISTINCT_FOR_CODES:
        return []  # a column of a few levels: a code is one of them
    others = np.sort(rest.index.to_numpy(float))
    low_step = np.median(np.diff(others[:11]))
    high_step = np.median(np.diff(others[-11:]))
    codes = []
    for value in found:
        rows = int((present == value).sum())
        if value < others[0]:
            gap = (others[0] - value) / low_step
        elif value > others[-1]:
            gap = (value - others[-1]) / high_step
        else:
            continue
        if value == 0 and rows > MAX_ZERO_SHARE * len(present):
            continue
        repeated = counts.get(value, 0) >= 2 * rest.median()
        # A negative code in a column of no negative value (-1 visits) is one however near.
        negative = value < 0 <= others[0]
        if rows >= MIN_CODE_ROWS and (
            gap >= FAR_CODE_GAP or negative or (gap >= CODE_GAP and repeated)
        ):
            codes.append([_plain(value), rows])
    return codes


def inliers(values: pd.Series) -> list[list]:
    """``[value, rows]`` for each value of a numeric column inside its range that far more rows
    hold than its nearest values (``INLIER_TIMES``), among many distinct values."""
    present = values.dropna()
    if len(present) > CODE_SAMPLE:
        present = present.sample(CODE_SAMPLE, random_state=0)
    counts = present.value_counts().sort_index()
    if len(counts) < MIN_DISTINCT_FOR_INLIERS:
        return []
    values, rows = counts.index.to_numpy(float), counts.to_numpy()
    places = _decimals(values)
    # The precision most rows are written at: 0.1 for 11.4 among a few odd 11.3667.
    order = np.argsort(places, kind="stable")
    usual = places[order][np.searchsorted(np.cumsum(rows[order]), rows.sum() / 2)]
    found = []
    for i in np.flatnonzero(rows >= INLIER_SHARE * len(present)):
        if i == 0 or i == len(rows) - 1:
            continue  # at an end of the range: a floor or a cap, or a code (disguised_missing)
        # Its neighbours are written as roundly as most rows: 11.4 % among 11.3 % and 11.5 %,
        # not among the odd 11.3667 % a few rows were computed at.
        alike = np.flatnonzero(places <= max(places[i], usual))
        at = np.searchsorted(alike, i)
        near = rows[np.r_[alike[max(at - INLIER_NEIGHBOURS, 0) : at],
                          alike[at + 1 : at + 1 + INLIER_NEIGHBOURS]]]  # fmt: skip
        if rows[i] >= INLIER_TIMES * near.max(initial=1):
            found.append([_plain(values[i]), int(rows[i])])
    # Many such values are a way of recording (whole numbers among decimals), not defaults.
    return found if len(found) <= MAX_INLIERS else []


def _decimals(values: np.ndarray) -> np.ndarray:
    """How many decimal places (up to 6) each value needs."""
    places = np.full(len(values), 6)
    for d in range(5, -1, -1):
        scaled = values * 10.0**d
        places[np.isclose(scaled, np.round(scaled), rtol=1e-12, atol=1e-6)] = d
    return places


# Checks that need no target.
def table_checks(p: DatasetProfile) -> list[Check]:
    checks = []
    ids = tuple(c.name for c in p.columns if c.kind == "identifier")
    if ids:
        checks.append(
            Check(
                "identifier", ACTED, "Identifiers",
                f"These columns hold a different value on every row, like an ID: {_names(ids)}. "
                "A model cannot learn from them.",
                ids, "Left out of training.",
            )
        )  # fmt: skip
    constants = tuple(c.name for c in p.columns if c.kind == "constant")
    if constants:
        checks.append(
            Check(
                "constant", ACTED, "Constant columns",
                f"These columns hold a single value: {_names(constants)}.",
                constants, "Left out of training.",
            )
        )  # fmt: skip
    sparse = tuple(c.name for c in p.columns if c.missing > MOSTLY_MISSING)
    if sparse:
        checks.append(
            Check(
                "mostly_missing", INFO, "Mostly missing",
                f"Most values are missing in {_names(sparse)}; these columns carry little "
                "information.",
                sparse, "The model fills the gaps and notes where a value was missing.",
                {"missing": {c: p.column(c).missing for c in sparse}},
            )
        )  # fmt: skip
    checks.append(_disguised_check(p))
    peaks = {c.name: c.stats["inliers"] for c in p.columns if c.stats.get("inliers")}
    if peaks:
        parts = "; ".join(f"{_names([name])}: " + ", ".join(f"{v!r} in {n} rows" for v, n in found)
                          for name, found in peaks.items())  # fmt: skip
        checks.append(
            Check(
                "inliers", INFO, "Values far more common than their neighbours",
                f"Inside their columns' ranges, these values are held by far more rows than the "
                f"values next to them: {parts}. They may be real, or a default entered when "
                "the true value was not known.",
                tuple(peaks), "Kept as values; if they stand for \"not known\", blank them in "
                "the file and upload it again.", {"values": peaks},
            )
        )  # fmt: skip
    return checks


def _disguised_check(p: DatasetProfile) -> Check:
    found = {c.name: c for c in p.columns if c.stats.get("disguised") and c.kind != "excluded"}
    if not found:
        return Check(
            "disguised_missing", PASSED, "No disguised missing values",
            "No column uses a number such as 0, -1 or 999, or a word such as \"?\" or "
            "\"unknown\", to stand for a missing value.",
        )  # fmt: skip
    parts = [
        f"{_names([name])}: "
        + ", ".join(f"{v!r} in {n} rows" for v, n in column.stats["disguised"])
        for name, column in found.items()
    ]
    treated = [name for name, column in found.items() if column.missing_values]
    kept = [name for name in found if name not in treated]
    action = []
    if treated:
        action.append(f"Read as missing values in {_names(treated)}.")
    if kept:
        action.append(f"Kept as values in {_names(kept)}, as you chose.")
    # Read as missing, a category code joins the gaps as one category: little changes. A number
    # read as missing stops being taken for a measurement.
    numbers = [name for name in treated if p.column(name).kind == "numeric"]
    status = ACTED if numbers else INFO if treated else ALERT
    return Check(
        "disguised_missing", status, "Disguised missing values",
        "Some values look like codes for \"unknown\" rather than real measurements: "
        + "; ".join(parts) + ". A model would read them as real values.",
        tuple(found), " ".join(action),
        {"values": {name: column.stats["disguised"] for name, column in found.items()}},
    )  # fmt: skip


# Checks that need the target: its balance, leaks, copies of rows, drift in time.
def target_checks(table, y: pd.Series, p: DatasetProfile, keep=(), time_column=None
                  ) -> tuple[list[Check], set]:  # fmt: skip
    """The target-aware checks, and the columns to leave out of training (high-risk leaks
    not in ``keep``). ``table`` reads rows by position (``profiling._Table``); ``time_column``
    is the date that orders the rows, when validation follows time."""
    checks = _target_balance(y, p)
    try:
        sample = _Sample.of(table, y, p)
    except _Unchecked as why:
        message = (
            f"{why} The columns were not tested for leaks, nor the target for drift in time; "
            "the models are still validated as usual."
        )
        return [*checks, Check("target_checks", INFO, "Leaks not checked", message)], set()
    leak_checks, leaving = _leakage(sample, p, set(keep))
    checks += leak_checks
    if time_column in sample.X.columns:
        checks += _after_the_time(sample, p, time_column)
    if p.duplicate_rows or sample.has_copies:
        checks.append(_duplicates_check(sample, p))
    checks += _drift(sample, p, time_column)
    return checks, leaving


def _target_balance(y: pd.Series, p: DatasetProfile) -> list[Check]:
    checks, target = [], p.target
    missing = int(y.isna().sum())
    if missing:
        checks.append(
            Check(
                "target_missing", ACTED, "Rows without a target",
                f"{missing} rows have no value in the target {target!r}.",
                (target,), "Left out of training.", {"rows": missing},
            )
        )  # fmt: skip
    if p.task == "regression":
        return checks
    counts = pd.Series(p.target_summary["classes"])
    share = counts / counts.sum()
    # Rare beside the others: 26 letters of 4 % each are balanced.
    rare = share[share < min(IMBALANCE, 0.5 / len(share))]
    if len(rare):
        checks.append(
            Check(
                "class_imbalance", INFO, "Rare classes",
                f"Some classes of {target!r} are rare ({_names(rare.index)}: "
                f"{', '.join(f'{s:.1%}' for s in rare)} of rows). Accuracy will look high even "
                "for a model that never predicts them.",
                (target,), "Judge the model by ROC AUC or balanced accuracy.",
                {"shares": {str(k): float(v) for k, v in rare.items()}},
            )
        )  # fmt: skip
    few = counts[counts < 5]
    if len(few):
        checks.append(
            Check(
                "too_few_rows", ALERT, "Classes with too few rows",
                f"Classes {_names(few.index)} of {target!r} have fewer than 5 rows: too few to "
                "learn them and to validate on them.",
                (target,), "Collect more rows or merge rare classes.",
                {"rows": {str(k): int(v) for k, v in few.items()}},
            )
        )  # fmt: skip
    return checks


class _Unchecked(Exception):
    """Why the target-aware checks cannot run, in a sentence."""


def _sample_rows(positions: np.ndarray, labels: np.ndarray | None) -> np.ndarray:
    """At most about ``SAMPLE_ROWS`` of ``positions``, in order; in classification, each class
    in its share but with ``MIN_CLASS_ROWS`` rows at least (all of a rarer one): a leak of a
    rare outcome is a leak too."""
    if len(positions) <= SAMPLE_ROWS:
        return positions
    rng = np.random.default_rng(0)
    if labels is None:
        return np.sort(rng.choice(positions, SAMPLE_ROWS, replace=False))
    chosen = []
    for label in np.unique(labels):
        rows = positions[labels == label]
        size = max(round(len(rows) * SAMPLE_ROWS / len(positions)), MIN_CLASS_ROWS)
        chosen.append(rng.choice(rows, min(size, len(rows)), replace=False))
    return np.sort(np.concatenate(chosen))


class _Sample:
    """A sample of the rows with a target, each feature as numeric codes, for small models."""

    def __init__(self, X: pd.DataFrame, y: np.ndarray, task: str, groups: np.ndarray):
        self.X, self.y, self.task = X, y, task
        self.copies = len(groups) - len(np.unique(groups))
        self.has_copies = self.copies > 0
        self.folds = {
            grouped: make_splits(y, task, validation="cv", n_splits=3, holdout_size=0.2,
                                 order=None, seed=0, groups=groups if grouped else None)
            for grouped in (True, False)
        }  # fmt: skip
        self.single: dict[str, float] = {}

    @classmethod
    def of(cls, table, y: pd.Series, p: DatasetProfile) -> _Sample:
        """``_Unchecked`` when the small models cannot learn: too few rows, no column."""
        positions = np.flatnonzero(y.notna().to_numpy())
        labels = None
        if p.task != "regression":
            labels = y.iloc[positions].astype(str).to_numpy()
            # Three folds need three rows of a class; rarer ones are left to the models.
            counts = pd.Series(labels).value_counts()
            enough = np.isin(labels, counts.index[counts >= 3])
            positions, labels = positions[enough], labels[enough]
            if len(np.unique(labels)) < 2:
                raise _Unchecked(f"No two classes of {p.target!r} have three rows each.")
        if len(positions) < 20:
            raise _Unchecked(f"Only {len(positions)} rows have a value in {p.target!r}.")
        if not [c for c in p.features if c.kind != "text"]:
            raise _Unchecked("Every column is free text, which the checks do not read.")
        positions = _sample_rows(positions, labels)
        target = y.iloc[positions]
        if p.task == "regression":
            codes = K.parse_numbers(target).to_numpy(float)
        else:
            codes = pd.factorize(target.astype(str))[0]
        data = table.rows(positions, [c.name for c in p.features])
        # Free text as codes says nothing (every review is its own code): left to the models.
        X = pd.DataFrame(
            {c.name: _as_codes(K.convert(data[c.name], c.kind, c.date_format))
             for c in p.features if c.kind != "text"}
        )  # fmt: skip
        groups = pd.factorize(pd.util.hash_pandas_object(data, index=False))[0]
        return cls(X, codes, p.task, groups)

    def score(self, columns: list[str], *, grouped: bool = True, tree: bool = False) -> float:
        """A normalised cross-validated score of a small model on ``columns``: R², or balanced
        accuracy above chance (0 for chance, 1 for perfect). ``tree`` fits a shallow tree,
        else a small forest; ``grouped`` keeps copies of a row in one fold."""
        from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
        from sklearn.model_selection import cross_val_score
        from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

        if not columns:
            return 0.0
        regression = self.task == "regression"
        balanced = {} if regression else {"class_weight": "balanced"}
        if tree:
            model = (DecisionTreeRegressor if regression else DecisionTreeClassifier)(
                max_depth=4, random_state=0, **balanced
            )
        else:
            model = (RandomForestRegressor if regression else RandomForestClassifier)(
                n_estimators=30, max_depth=12, max_features="sqrt", random_state=0, **balanced
            )
        scoring = "r2" if regression else "balanced_accuracy"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scores = cross_val_score(
                model, self.X[columns].to_numpy(float), self.y, scoring=scoring,
                cv=self.folds[grouped],
            )  # fmt: skip
        score = float(np.nan_to_num(scores.mean()))
        if not regression:
            chance = 1 / len(np.unique(self.y))
            score = (score - chance) / (1 - chance)
        return max(score, 0.0)


def _leakage(sample: _Sample, p: DatasetProfile, keep: set) -> tuple[list[Check], set]:
    names = list(sample.X.columns)
    sample.single = {name: sample.score([name], tree=True) for name in names}
    # The target in other units (cents, a power of it): whatever the rest reaches, a high risk.
    # A shallow tree's steps score it below 1.
    copies = set()
    if sample.task == "regression":
        for name in names:
            if p.column(name).kind == "numeric":
                exact = _exact_fit(sample.X[[name]].to_numpy(float), sample.y)
                if exact:
                    copies.add(name)
                    sample.single[name] = max(sample.single[name], exact[1])
    suspects = [n for n in names if sample.single[n] >= MODERATE_RISK]
    # Each suspect is measured against the other columns, but without the near-perfect ones:
    # strong columns that measure one thing (a diamond's carat and size) explain each other,
    # while two copies of one leak must not hide each other.
    perfect = {n for n in suspects if sample.single[n] >= HIGH_RISK}
    checks, leaving = [], set()
    if suspects:
        with_all = sample.score(names)
        for name in suspects:
            alone = sample.single[name]
            rest = sample.score([n for n in names if n != name and n not in perfect])
            beyond = alone - rest >= BEYOND_REST
            high = (alone >= HIGH_RISK and beyond) or name in copies
            if not (beyond or alone >= HIGH_RISK):
                continue  # strong, but the other columns reach nearly as far: a good column
            scores = {"alone": alone, "without": rest, "with": with_all}
            checks.append(_leak_check(p, (name,), high, name in keep, scores))
            if high and name not in keep:
                leaving.add(name)
    group = _exact_group(sample, p, [n for n in names if n not in suspects])
    if group is not None:
        columns, relation, fit = group
        kept = bool(set(columns) & keep)
        rest = sample.score([n for n in names if n not in columns and n not in suspects])
        scores = {"together": fit, "without": rest, "alone": max(sample.single[c] for c in columns)}
        checks.append(_leak_check(p, columns, True, kept, scores, relation))
        if not kept:
            leaving |= set(columns)
    if not checks:
        checks.append(
            Check(
                "leakage", PASSED, "No sign of leakage",
                f"No column, alone or with one or two others, predicts {p.target!r} far beyond "
                "what the rest of the table reaches.",
            )
        )  # fmt: skip
    return checks, leaving


def _leak_check(p, columns, high, kept, scores, relation=None) -> Check:
    target = p.target
    names = _names(columns)
    if relation:
        message = (
            f"{names} together determine {target!r} exactly ({relation}), although each alone "
            "does not. The target was probably computed from them, so they will not be known "
            "when you predict."
        )
    else:
        measure = "R²" if p.task == "regression" else "a score above chance"
        if scores["alone"] - scores["without"] >= BEYOND_REST:
            reach = f"far beyond what the other columns reach ({scores['without']:.2f})"
        else:  # near perfect, and the others nearly so too: a twin of a leak, or of a column
            reach = f"almost perfectly (the other columns reach {scores['without']:.2f})"
        message = (
            f"{names} alone predicts {target!r} with {measure} of {scores['alone']:.2f}, "
            f"{reach}. Such a column is often recorded after the outcome (a leak) and will not "
            "be known when you predict."
        )
    if high and not kept:
        status, action = ACTED, f"Left out of training; keep {names} if it is known in advance."
    elif high:
        status, action = ALERT, f"Kept for training, as you chose: {names}."
    else:
        status, action = ALERT, "Kept for training: check that it is known when you predict."
    title = "Target leakage, high risk" if high else "Possible target leakage"
    risk = "high" if high else "moderate"
    return Check("leakage", status, title, message, tuple(columns), action,
                 {"risk": risk, "scores": scores, "relation": relation})  # fmt: skip


def _exact_group(sample: _Sample, p: DatasetProfile, names: list[str]):
    """The smallest group of two or three numeric columns that determines the target exactly
    (a linear fit, or one on logarithms for products and ratios; for classes a shallow tree
    on the pair, its difference and its ratio): ``(columns, relation, score)``, or None."""
    numeric = [n for n in names if p.column(n).kind == "numeric"]
    top = sorted(numeric, key=lambda n: -sample.single[n])[:GROUP_CANDIDATES]
    for size in (2, 3):
        for columns in itertools.combinations(top, size):
            if sample.task == "regression":
                found = _exact_fit(sample.X[list(columns)].to_numpy(float), sample.y)
            elif size == 2:
                found = _pair_decides(sample, columns)
            else:
                found = None
            if found is not None:
                return (columns, *found)
    return None


def _exact_fit(X: np.ndarray, y: np.ndarray):
    rows = np.isfinite(X).all(axis=1) & np.isfinite(y)
    X, y = X[rows], y[rows]
    if len(y) < 30 or np.std(y) == 0:
        return None
    fit = _r2(X, y)
    if fit >= EXACT_FIT:
        return "a sum or difference of them", fit
    if (X > 0).all() and (y > 0).all():
        fit = _r2(np.log(X), np.log(y))
        if fit >= EXACT_FIT:
            return "a product or ratio of them", fit
    return None


def _r2(X: np.ndarray, y: np.ndarray) -> float:
    design = np.column_stack([X, np.ones(len(y))])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    residual = y - design @ coef
    return float(1 - residual.var() / y.var())


def _pair_decides(sample: _Sample, columns):
    a, b = (sample.X[c].to_numpy(float) for c in columns)
    with np.errstate(divide="ignore", invalid="ignore"):
        derived = {"a": a, "b": b, "difference": a - b, "ratio": np.where(b != 0, a / b, 0)}
    frame = pd.DataFrame(derived)
    pair = copy.copy(sample)
    pair.X = frame
    score = pair.score(list(derived), tree=True)
    if score >= HIGH_RISK and max(sample.single[c] for c in columns) < MODERATE_RISK:
        return "a comparison of them", score
    return None


def _after_the_time(sample: _Sample, p: DatasetProfile, time_column: str) -> list[Check]:
    """Date columns later than the row's time on nearly every row: recorded afterwards."""
    checks = []
    moment = sample.X[time_column].to_numpy()
    for column in p.features:
        if column.kind != "datetime" or column.name == time_column:
            continue
        dates = sample.X[column.name].to_numpy()
        both = (dates != -1) & (moment != -1)  # -1: missing, as codes
        if both.sum() < 20:
            continue
        after = float(np.mean(dates[both] > moment[both]))
        if after >= AFTER_THE_TIME:
            checks.append(
                Check(
                    "leakage", ALERT, "A date after the row's time",
                    f"{column.name!r} is later than {time_column!r} on {after:.0%} of rows: it "
                    "was probably recorded after the moment you predict, and its value may "
                    "give the outcome away.",
                    (column.name,),
                    "Kept for training: exclude it unless it is known in advance (a due date).",
                    {"risk": "moderate", "after": after, "time_column": time_column},
                )
            )  # fmt: skip
    return checks


def _duplicates_check(sample: _Sample, p: DatasetProfile) -> Check:
    names = list(sample.X.columns)
    grouped, naive = sample.score(names), sample.score(names, grouped=False)
    details = {"rows": p.duplicate_rows, "score_grouped": grouped, "score_naive": naive}
    copies = f"{_rows(p.duplicate_rows)} an exact copy of another row"
    if not p.duplicate_rows:
        # Rows that differ only in a column left out (an ID): counted on the sample.
        details["feature_copies"] = sample.copies
        of = f" (in a sample of {len(sample.y)})" if len(sample.y) >= SAMPLE_ROWS else ""
        copies = (
            f"{_rows(sample.copies)}{of} identical to another on every column used for training"
        )
    inflated = ""
    if naive > grouped + 0.01:
        inflated = (
            f" On a sample, a quick model scored {naive:.2f} with copies split across folds "
            f"but {grouped:.2f} with copies kept together."
        )
    return Check(
        "duplicate_rows", ACTED, "Copies of rows",
        f"{copies}. Copies on both sides of a validation would make the score look better "
        f"than the model will do on new rows.{inflated}",
        (), "Copies are kept in the same fold, so they never validate each other.", details,
    )  # fmt: skip


def _drift(sample: _Sample, p: DatasetProfile, time_column: str | None) -> list[Check]:
    dates = [c.name for c in p.features if c.kind == "datetime"]
    drifting = [(n, sample.single[n]) for n in dates if sample.single[n] >= DRIFT]
    if not drifting:
        return []
    name, score = max(drifting, key=lambda item: item[1])
    if time_column:
        status, action = ACTED, f"Validated in time order on {time_column!r}, as chosen."
    else:
        status = INFO
        action = f"Choose the time-ordered validation on {name!r} to measure it honestly."
    return [
        Check(
            "time_drift", status, "The target changes over time",
            f"{p.target!r} changes with {name!r}: the date alone explains {score:.0%} of it. "
            "Random folds validate on rows from the same periods as training, which flatters "
            "a model that will predict the future.",
            (name,), action, {"score": score},
        )
    ]  # fmt: skip


def _as_codes(values: pd.Series) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(values):
        return values.astype("int64").where(values.notna(), -1).to_numpy(float)
    if pd.api.types.is_numeric_dtype(values):
        return values.fillna(values.min() - 1 if values.notna().any() else 0).to_numpy(float)
    # Sorted by value, not by first appearance: a table sorted by its target must not make
    # every many-valued column look like it orders the target.
    return pd.Series(pd.factorize(values, sort=True)[0], index=values.index).to_numpy(float)


def shared_ids(table: pd.DataFrame, train, test, p: DatasetProfile) -> Check | None:
    """Rows kept aside for the test whose ID, written alike (case, spaces and punctuation
    aside), is also a training row's: the same entity on both sides flatters the test score.
    None when no column is an identifier."""
    ids = [c.name for c in p.columns if c.kind == "identifier" and c.name in table.columns]
    if not ids:
        return None
    shared = {}
    for name in ids:
        written = table[name].astype("string").str.lower().str.replace(r"[\W_]+", "", regex=True)
        seen = set(written.iloc[train].dropna()) - {""}
        rows = written.iloc[test].isin(seen) & written.iloc[test].notna()
        if rows.any():
            shared[name] = {"rows": int(rows.sum()),
                            "examples": table[name].iloc[test][rows.to_numpy()].astype(str)
                            .head(3).tolist()}  # fmt: skip
    if not shared:
        return Check(
            "shared_ids", PASSED, "No ID on both sides",
            f"No row kept aside for the test shares its {_names(ids)} with a training row.",
            tuple(ids),
        )  # fmt: skip
    worst = max(shared, key=lambda name: shared[name]["rows"])
    found = shared[worst]
    return Check(
        "shared_ids", ALERT, "IDs on both sides of the test split",
        f"{found['rows']} of the {len(test)} rows kept aside for the test have a {_names([worst])} "
        f"that a training row has too, written alike ({listing(found['examples'])}): if they are "
        "the same customer, patient or item, the test score is flattered.",
        tuple(shared), "Remove the copies, or keep each ID's rows together in one file.",
        {"shared": shared},
    )  # fmt: skip


def _names(names) -> str:
    return listing([str(n) for n in names])


def _rows(n: int) -> str:
    return "1 row is" if n == 1 else f"{n} rows are"


def _plain(value: float):
    return int(value) if float(value).is_integer() else float(value)
