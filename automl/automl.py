"""``AutoML``: from a table and a target to a leaderboard of tuned models and the best one."""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import NamedTuple

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.metrics import accuracy_score, r2_score
from sklearn.pipeline import Pipeline
from sklearn.utils import ClassifierTags, RegressorTags

from automl import kinds as K
from automl.checks import ordered, shared_ids
from automl.ensemble import Blend, predict
from automl.evaluation import permutation_importance
from automl.exceptions import AutoMLError, DataError, NotFittedError
from automl.learners import ENSEMBLE, LEARNERS
from automl.metrics import get_metric
from automl.model import Model
from automl.profiling import DatasetProfile, profile
from automl.search import Event, Search, fit_pipeline, fold_fit_seconds
from automl.splits import make_splits, split_rows
from automl.study import Workdir

VALIDATIONS = ("auto", "cv", "holdout", "time")
# Feature importance gets this share of the budget, between MIN_IMPORTANCE_SECONDS and
# IMPORTANCE_SECONDS, and LATE_IMPORTANCE_SECONDS even once the budget is spent, so that small
# budgets still say which columns matter; ``AutoML.importance`` measures the rest afterwards.
IMPORTANCE_SHARE = 0.05
IMPORTANCE_SECONDS = 5
MIN_IMPORTANCE_SECONDS = 1
LATE_IMPORTANCE_SECONDS = 0.5
MIN_ROWS = 10
# A holdout search on a large table trains on a sample: this many cells (rows x columns) per
# second of budget, and never fewer than MIN_SEARCH_ROWS rows.
SEARCH_CELLS = 20_000
MIN_SEARCH_ROWS = 20_000
# Known categories kept in the schema, enough for a form's choices and a prediction check.
MAX_CATEGORIES_IN_SCHEMA = 1000
LEADERBOARD_COLUMNS = [
    "rank", "model_id", "family", "score", "score_std", "test_score", "fit_seconds",
    "predict_ms_per_1k", "state", "params", "error", "worker",
]  # fmt: skip


class _Prepared(NamedTuple):
    data: pd.DataFrame  # rows with a target value
    features: list[str]
    X: pd.DataFrame
    y: np.ndarray
    X_test: pd.DataFrame | None
    y_test: np.ndarray | None
    splits: list[tuple[np.ndarray, np.ndarray]]
    order: np.ndarray | None  # each training row's time, when validation follows time
    rows: np.ndarray  # each training row's position in the table given


class AutoML(BaseEstimator):
    """Search model families and hyperparameters for a table, within a time budget.

    A scikit-learn estimator: ``clone``, ``get_params``/``set_params``, ``cross_val_score``
    and a ``Pipeline``'s last step work on it. ``fit(X, y)`` takes a DataFrame (or an array,
    whose columns are named ``x0``, ``x1``, ...) and the target as ``y`` or as a column named
    by ``target``.

    Parameters
    ----------
    task : {"auto", "binary", "multiclass", "regression"}
        What to predict; "auto" reads it from the target.
    metric : str
        "auto" (ROC AUC, log loss or RMSE by task) or a name from ``automl.metrics.METRICS``.
    time_budget : float
        Seconds for the whole ``fit``, final refit included.
    seed : int
        Seed for splits, sampling and models.
    n_jobs : int
        Candidates trained at once, each in its own process on this machine; -1 for one per
        core. The search state is shared through Optuna's storage (see ``fit``).
    n_threads : int, optional
        Threads each model may use; by default the cores divided among the ``n_jobs``
        processes, so that they never ask for more cores than there are.
    families : list of str, optional
        Model families to try (default: all of ``automl.learners.LEARNERS``).
    validation : {"auto", "cv", "holdout", "time"}
        "auto": 5-fold CV up to 10,000 rows, 3 folds up to 100,000, a holdout beyond.
        "time": validate on the latest ``holdout_size`` share of rows by ``time_column``.
    n_splits : int
        Folds for "cv".
    holdout_size : float
        Validation share for "holdout" and "time".
    time_column : str, optional
        Date column ordering rows for "time".
    test_size : float, optional
        Share of rows kept out of the search and scored once per candidate at the end.
    kinds : dict, optional
        Column kinds overriding inference, ``{"zip": "categorical"}``.
    exclude : list of str, optional
        Columns to leave out.
    keep : list of str, optional
        Columns used as they are whatever the checks say (``automl.checks``): by default a
        high-risk leak is left out and codes for "unknown" are read as missing.
    n_trials : int, optional
        Stop after this many candidates even with budget left.

    Attributes
    ----------
    leaderboard_ : DataFrame
        One row per candidate, best first (see ``LEADERBOARD_COLUMNS``).
    model_ : Model
        The best candidate refit on all training rows.
    profile_ : DatasetProfile
    checks_ : tuple of automl.checks.Check
        What the checks of the table found and what was done about it.
    metric_ : automl.metrics.Metric
    classes_ : ndarray or None
    feature_names_in_ : ndarray of str
        The columns of ``X`` given to ``fit``, the target apart (only for a DataFrame).
    n_features_in_ : int
    cancelled_ : bool
        Whether ``should_stop`` ended the search early.
    n_workers_ : int
        Worker processes that trained a complete candidate.
    n_search_rows_ : int
        Rows the search's models trained on (per fold): a sample on large tables, whose final
        model then trains on every row.
    fit_seconds_ : float

    Examples
    --------
    >>> run = AutoML(time_budget=30).fit(df, target="churned")    # doctest: +SKIP
    >>> run.leaderboard_.head()                                   # doctest: +SKIP
    >>> run.predict(new_rows)                                     # doctest: +SKIP
    """

    def __init__(
        self,
        task: str = "auto",
        metric: str = "auto",
        time_budget: float = 60,
        seed: int = 0,
        n_jobs: int = 1,
        n_threads: int | None = None,
        families: list[str] | None = None,
        validation: str = "auto",
        n_splits: int = 5,
        holdout_size: float = 0.2,
        time_column: str | None = None,
        test_size: float | None = None,
        kinds: dict[str, str] | None = None,
        exclude: list[str] | None = None,
        keep: list[str] | None = None,
        n_trials: int | None = None,
    ):
        self.task = task
        self.metric = metric
        self.time_budget = time_budget
        self.seed = seed
        self.n_jobs = n_jobs
        self.n_threads = n_threads
        self.families = families
        self.validation = validation
        self.n_splits = n_splits
        self.holdout_size = holdout_size
        self.time_column = time_column
        self.test_size = test_size
        self.kinds = kinds
        self.exclude = exclude
        self.keep = keep
        self.n_trials = n_trials

    def fit(
        self,
        X: pd.DataFrame,
        y=None,
        *,
        target: str | None = None,
        callbacks: list[Callable[[Event], None]] | None = None,
        should_stop: Callable[[], bool] | None = None,
        workdir=None,
        storage: str | None = None,
        study_name: str = "search",
        parallelism: int | None = None,
    ) -> AutoML:
        """Search for the best model of ``target`` (a column of ``X``) or ``y``.

        ``callbacks`` receive an ``Event`` when the search starts, after each candidate (with
        its leaderboard row), when the best changes, and when it finishes. ``should_stop`` is
        asked between and during candidates; when it returns True the search ends and keeps
        what finished.

        ``workdir`` is a folder for the search's shared state, where workers on other machines
        can join it (``automl.join_search``, or ``automl join WORKDIR``); by default a
        temporary one, removed at the end. A fit whose ``workdir`` holds the search of an
        earlier fit that never ended takes it over. ``storage`` is the study's database URL
        (``postgresql+psycopg://...``); by default a journal file in ``workdir``.
        ``parallelism`` is how many workers the search is meant for, counting this process
        (default ``n_jobs``); above 1, the rows are written to ``workdir`` for the others. For
        a fixed seed and ``n_trials`` the leaderboard depends on it, not on how many workers
        join or how fast each one is.

        Raises
        ------
        DataError
            The data or the arguments cannot be used; the message says why in plain words.
        AutoMLError
            Every candidate failed, or the run was cancelled before any finished.
        """
        started = time.monotonic()
        self._check_arguments()
        named = isinstance(X, pd.DataFrame)
        data, target = _with_target(_as_table(X), y, target)
        inputs = [name for name in data.columns if name != target]
        self.n_features_in_ = len(inputs)
        if named:
            self.feature_names_in_ = np.asarray(inputs, dtype=object)
        elif hasattr(self, "feature_names_in_"):  # from an earlier fit on a DataFrame
            del self.feature_names_in_
        self._profile(data, target)
        prepared = self._prepare(data)
        self.n_search_rows_ = max(len(train) for train, _ in prepared.splits)
        X, y, rows, splits = _search_sample(prepared)
        deadline = started + self.time_budget - self._importance_seconds()
        with (
            _workdir(workdir) as folder,
            Search(
                self.profile_,
                self.metric_,
                self.families or list(LEARNERS),
                splits,
                deadline=deadline,
                seed=self.seed,
                n_threads=self._threads(),
                workdir=folder,
                storage=storage,
                study_name=study_name,
                helpers=self._processes() - 1,
                parallelism=parallelism or self._processes(),
                n_trials=self.n_trials,
                callbacks=callbacks or [],
                should_stop=should_stop,
                class_labels=self.classes_,
            ) as search,
        ):
            candidates = search.run(X, y, prepared.X_test, prepared.y_test, n_rows=len(prepared.y))
            del X, y
            self.cancelled_ = search.cancelled
            self.n_workers_ = search.n_workers
            self.leaderboard_ = self._leaderboard(candidates)
            if search.best is None:
                raise _no_model_error(candidates, search.cancelled)
            members = [(c.to_row(), w) for c, w in search.members(search.best)]
            self.model_ = self._final(search.best.to_row(), members, prepared, deadline, search)
            search.close()  # the workers that helped refit may go
            # Importance may run a little past the budget rather than be missing on small
            # budgets.
            deadline = max(started + self.time_budget, time.monotonic() + LATE_IMPORTANCE_SECONDS)
            predictor, valid = search.first_fold(search.best)
            valid = valid if rows is None else rows[valid]
            importance = self._importance(prepared, predictor, valid, deadline)
        self.model_.info["importance"] = importance
        self.fit_seconds_ = time.monotonic() - started
        return self

    def build(self, X: pd.DataFrame, candidate: dict, y=None, *, target: str | None = None):
        """The model of one leaderboard row (``candidate``: its ``model_id``, ``family`` and
        ``params`` at least), trained on all rows of ``X``, with its feature importance.

        ``X`` and the settings must be those of the run that produced the row; the run need
        not be this object, so a model can be built later, in another process.
        """
        self._check_arguments()
        data, target = _with_target(X, y, target)
        if getattr(self, "profile_", None) is None or self.profile_.target != target:
            self._profile(data, target)
        prepared = self._prepare(data)
        model = self._final(candidate, _members(candidate), prepared)
        model.info["importance"] = self._fold_importance(prepared, candidate)
        return model

    def importance(self, X: pd.DataFrame, candidate: dict, y=None, *, target: str | None = None
                   ) -> list[dict]:  # fmt: skip
        """Every column's permutation importance for the model of one leaderboard row
        (``candidate``, as for ``build``), measured on the first validation fold's rows with
        its members trained on the others: rows the model did not train on. Unlike ``fit``'s,
        which gets a share of the budget, every column is measured."""
        self._check_arguments()
        data, target = _with_target(X, y, target)
        self._profile(data, target)
        return self._fold_importance(self._prepare(data), candidate)

    def out_of_fold(self, X: pd.DataFrame, candidate: dict, y=None, *, target: str | None = None
                    ) -> pd.DataFrame:  # fmt: skip
        """The answers of the model of one leaderboard row (``candidate``, as for ``build``) on
        the rows it was validated on, each answered by the members trained on the other folds:
        rows it did not train on, as the search scored it.

        Returns
        -------
        DataFrame indexed by the rows' positions in ``X``
            ``actual`` and ``predicted`` (labels in classification, values in regression).
        """
        self._check_arguments()
        data, target = _with_target(X, y, target)
        self._profile(data, target)
        prepared = self._prepare(data)
        members = _members(candidate)
        positions, answers = [], []
        for train, valid in prepared.splits:
            folds = [self._fit(m, prepared.X.iloc[train], prepared.y[train]) for m, _ in members]
            blended = Blend(folds, [weight for _, weight in members], self._n_classes())
            positions.append(valid)
            answers.append(blended.predict(prepared.X.iloc[valid]))
        valid, answer = np.concatenate(positions), np.concatenate(answers)
        actual = prepared.y[valid]
        if self.classes_ is not None:
            actual, answer = self.classes_[actual], self.classes_[answer]
        return pd.DataFrame({"actual": actual, "predicted": answer}, index=prepared.rows[valid])

    def _fold_importance(self, prepared: _Prepared, candidate: dict) -> list[dict]:
        train, valid = prepared.splits[0]
        members = _members(candidate)
        first_folds = [self._fit(m, prepared.X.iloc[train], prepared.y[train]) for m, _ in members]
        blended = Blend(first_folds, [weight for _, weight in members], self._n_classes())
        return self._importance(prepared, blended, valid, deadline=None)

    def _profile(self, data: pd.DataFrame, target: str) -> None:
        time_column = self.time_column if self.validation == "time" else None
        self.profile_ = profile(data, target, kinds=self.kinds, exclude=self.exclude or [],
                                task=self.task, keep=self.keep or [],
                                time_column=time_column)  # fmt: skip
        self.checks_ = self.profile_.checks
        self.metric_ = get_metric(self.metric, self.profile_.task)

    def _prepare(self, data: pd.DataFrame) -> _Prepared:
        """The training rows, encoded target, test rows and validation splits of ``data``."""
        target = self.profile_.target
        labelled = np.flatnonzero(data[target].notna().to_numpy())
        data = data.iloc[labelled].reset_index(drop=True)
        features = [c.name for c in self.profile_.features]
        if not features:
            raise DataError(
                "No column can be used to predict: every column is the target, excluded, an "
                "identifier or constant."
            )
        if len(data) < MIN_ROWS:
            raise DataError(
                f"The table has {len(data)} rows with a target value; at least {MIN_ROWS} are "
                "needed to train and validate a model."
            )
        X_all, y_all = data[features], self._encode_target(data[target])
        # Rows identical on every feature form a group that stays on one side of every split,
        # so that copies never validate each other.
        groups = pd.factorize(pd.util.hash_pandas_object(X_all, index=False))[0]
        if len(np.unique(groups)) == len(groups):
            groups = None
        X_train, y_train, X_test, y_test = self._test_split(data, X_all, y_all, groups)
        if groups is not None:
            groups = groups[X_train.index]
        order = None
        if self._validation(len(y_train)) == "time":
            column = self.profile_.column(self.time_column)
            order = K.convert(data[self.time_column], "datetime", column.date_format)
            order = order.loc[X_train.index].to_numpy("datetime64[ns]").astype("int64")
        rows = labelled[X_train.index.to_numpy()]
        X_train, X_test = X_train.reset_index(drop=True), _reset(X_test)
        splits = make_splits(
            y_train,
            self.profile_.task,
            validation=self._validation(len(y_train)),
            n_splits=self._n_splits(len(y_train)),
            holdout_size=self.holdout_size,
            order=order,
            seed=self.seed,
            max_train_rows=self._search_rows(len(features)),
            groups=groups,
        )
        return _Prepared(data, features, X_train, y_train, X_test, y_test, splits, order, rows)

    def _check_arguments(self) -> None:
        if self.validation not in VALIDATIONS:
            raise DataError(
                f"Unknown validation {self.validation!r}; use {', '.join(VALIDATIONS)}."
            )
        if self.validation == "time" and not self.time_column:
            raise DataError("A time-ordered validation needs a time_column (a date column).")
        if not (self.n_jobs == -1 or (isinstance(self.n_jobs, int) and self.n_jobs >= 1)):
            raise DataError(
                f"n_jobs must be a whole number of processes, or -1, not {self.n_jobs!r}."
            )
        if not (self.time_budget and self.time_budget > 0):
            raise DataError("The time budget must be a positive number of seconds.")
        unknown = sorted(set(self.families or []) - set(LEARNERS))
        if unknown:
            raise DataError(f"Unknown model family {unknown[0]!r}; use {', '.join(LEARNERS)}.")
        for name, share in (("holdout_size", self.holdout_size), ("test_size", self.test_size)):
            if share is not None and not 0 < share < 0.9:
                raise DataError(f"{name} must be a share between 0 and 0.9, not {share!r}.")

    def _processes(self) -> int:
        return (os.cpu_count() or 1) if self.n_jobs == -1 else self.n_jobs

    def _threads(self, processes: int | None = None) -> int:
        """Threads per model: the cores shared among the processes training at once."""
        if self.n_threads:
            return self.n_threads
        return max((os.cpu_count() or 1) // (processes or self._processes()), 1)

    def _validation(self, n_rows: int) -> str:
        if self.validation != "auto":
            return self.validation
        return "holdout" if n_rows > 100_000 else "cv"

    def _importance_seconds(self) -> float:
        share = IMPORTANCE_SHARE * self.time_budget
        return min(IMPORTANCE_SECONDS, max(MIN_IMPORTANCE_SECONDS, share))

    def _search_rows(self, n_features: int) -> int:
        """The most rows a holdout search trains on: more as the budget allows, fewer as
        columns add up, so a large table gets many candidates before the final refit."""
        return max(MIN_SEARCH_ROWS, round(self.time_budget * SEARCH_CELLS / max(n_features, 1)))

    def _n_splits(self, n_rows: int) -> int:
        if self.validation == "auto" and n_rows > 10_000:
            return 3
        return self.n_splits

    def _encode_target(self, y: pd.Series) -> np.ndarray:
        if self.profile_.task == "regression":
            self.classes_ = None
            return K.parse_numbers(y).to_numpy(float)
        values = y.to_numpy()
        if not all(isinstance(v, (int, float, np.number, bool)) for v in values[:1000]):
            values = y.astype(str).str.strip().to_numpy()
        self.classes_, codes = np.unique(values, return_inverse=True)
        counts = np.bincount(codes)
        if counts.min() < 2:
            lonely = self.classes_[counts.argmin()]
            raise DataError(
                f"The class {lonely!r} of the target has a single row: a model cannot learn "
                "it and validate it. Remove that row or merge the class into another."
            )
        return codes

    def _test_split(self, data, X, y, groups):
        if not self.test_size:
            return X, y, None, None
        train, test = split_rows(y, self.profile_.task, self.test_size, self.seed, groups)
        found = shared_ids(data, train, test, self.profile_)
        if found is not None:
            self.checks_ = ordered([c for c in self.checks_ if c.id != found.id] + [found])
        return X.iloc[train], y[train], X.iloc[test], y[test]

    def _fit(self, candidate: dict, X, y, threads: int | None = None) -> Pipeline:
        threads = threads or self._threads()
        return fit_pipeline(self.profile_, candidate["family"], candidate["params"], self.seed,
                            threads, X, y)  # fmt: skip

    def _final(
        self, candidate: dict, members: list[tuple[dict, float]], prepared, deadline=None,
        search: Search | None = None,
    ) -> Model:  # fmt: skip
        """The model of ``candidate``: each of its ``members`` (row, weight) refit on the
        training rows (all of them, unless that would run past ``deadline``), blended when
        there are several. The members are shared with the ``search``'s workers that wait to
        help; alone, the refit has every core, as the search's other processes have ended."""
        threads = self._threads(processes=1)
        helpers = search.refit_helpers() if search is not None and len(members) > 1 else 0
        rows = None
        if deadline is not None:
            rows = self._refit_rows(members, prepared, deadline, workers=helpers + 1)
        X, y = (
            (prepared.X, prepared.y) if rows is None else (prepared.X.iloc[rows], prepared.y[rows])
        )
        if search is None:
            fitted = [self._fit(member, X, y, threads) for member, _ in members]
        else:
            rows_of = [member for member, _ in members]
            fitted = search.refit(rows_of, X, y, threads=threads, shared=helpers > 0)
        if len(fitted) == 1:
            predictor = fitted[0]  # a plain pipeline
        else:
            predictor = Blend(fitted, [weight for _, weight in members], self._n_classes())
        info = {
            "model_id": candidate["model_id"],
            "family": candidate["family"],
            "params": candidate["params"],
            "metric": self.metric_.name,
            "greater_is_better": self.metric_.greater_is_better,
            "score": candidate.get("score"),
            "score_std": candidate.get("score_std"),
            "test_score": candidate.get("test_score"),
            "n_rows": len(y),
            "n_training_rows": len(prepared.y),
            "fingerprint": _fingerprint(prepared.data),
            # Columns of the training table the model does not use (the target among them):
            # rows sent with them, as their table holds them, are read without complaint.
            "ignored_columns": [
                str(c) for c in prepared.data.columns if c not in prepared.features
            ],
            "checks": [asdict(check) for check in self.checks_],
        }
        return Model(
            predictor,
            task=self.profile_.task,
            target=self.profile_.target,
            classes=self.classes_,
            schema=_schema(self.profile_, prepared.data, prepared.features),
            info=info,
        )

    def _refit_rows(
        self, members, prepared: _Prepared, deadline: float, workers: int = 1
    ) -> np.ndarray | None:
        """The rows the final model trains on: all of them (None) when its members' refit
        fits in the time left before ``deadline``, else as many as do (the latest, when
        validation follows time), never fewer than the search trained on, and at least one
        of each class. A refit's cost is its members' fold fits scaled by rows, shared among
        ``workers`` longest first: an overestimate on a large table, whose refit alone has
        more threads than a trial had."""
        n_rows = len(prepared.y)
        fits = [fold_fit_seconds(m.get("fit_seconds"), m["params"], self.n_search_rows_)
                for m, _ in members]  # fmt: skip
        seconds_per_row = _makespan(fits, workers) / self.n_search_rows_
        left = deadline - time.monotonic()
        if seconds_per_row * n_rows <= left:
            return None
        keep = max(self.n_search_rows_, int(max(left, 0) / seconds_per_row))
        if keep >= n_rows:
            return None
        if prepared.order is not None:
            rows = np.argsort(prepared.order, kind="stable")[-keep:]
        else:
            rows = np.random.default_rng(self.seed).choice(n_rows, keep, replace=False)
        if self.classes_ is not None:
            rows = np.union1d(rows, np.unique(prepared.y, return_index=True)[1])
        return np.sort(rows)

    def _n_classes(self) -> int | None:
        return None if self.classes_ is None else len(self.classes_)

    def _importance(self, prepared: _Prepared, pipeline, valid, deadline) -> list[dict]:
        """Permutation importance of each column, on rows ``pipeline`` was not trained on."""
        n_classes = self._n_classes()
        codes = None if n_classes is None else np.arange(n_classes)
        metric, sign = self.metric_, 1 if self.metric_.greater_is_better else -1

        def score(y_true, prediction):
            if n_classes and not metric.needs_proba:
                prediction = prediction.argmax(axis=1)
            return sign * metric(y_true, prediction, codes)

        return permutation_importance(
            lambda X: predict(pipeline, X, n_classes),
            prepared.X.iloc[valid],
            prepared.y[valid],
            score,
            deadline=deadline,
            seed=self.seed,
        )

    def _leaderboard(self, candidates) -> pd.DataFrame:
        rows = pd.DataFrame([c.to_row() for c in candidates], columns=LEADERBOARD_COLUMNS[1:])
        done = rows[rows["state"] == "complete"].sort_values(
            "score", ascending=not self.metric_.greater_is_better, kind="stable"
        )
        rest = rows[rows["state"] != "complete"]
        board = pd.concat([done, rest], ignore_index=True)
        board.insert(0, "rank", [*range(1, len(done) + 1), *[None] * len(rest)])
        return board

    # The fitted model's face: sklearn-like shortcuts to ``model_``.
    def _fitted(self) -> Model:
        if not hasattr(self, "model_"):
            raise NotFittedError("This AutoML has not been fitted yet: call fit first.")
        return self.model_

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return self._fitted().predict(_as_table(X))

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self._fitted().predict_proba(_as_table(X))

    def score(self, X: pd.DataFrame, y) -> float:
        """Accuracy for a classifier, R² for a regressor, as scikit-learn's estimators score
        (the run's own metric is ``metric_``)."""
        model = self._fitted()
        score = accuracy_score if model.is_classifier else r2_score
        return float(score(np.asarray(y), self.predict(X)))

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "model_")

    def __sklearn_tags__(self):
        # Classifier or regressor as the task says: fitted, the task found; unfitted, the one
        # asked for (with "auto", neither until fit has read the target).
        tags = super().__sklearn_tags__()
        task = self.model_.task if hasattr(self, "model_") else self.task
        if task == "regression":
            tags.estimator_type, tags.regressor_tags = "regressor", RegressorTags()
        elif task in ("binary", "multiclass"):
            tags.estimator_type, tags.classifier_tags = "classifier", ClassifierTags()
        tags.input_tags.allow_nan = tags.input_tags.string = tags.input_tags.categorical = True
        tags.non_deterministic = True  # a time budget ends the search where the clock says
        return tags

    def save(self, path, *, signing_key: bytes | None = None):
        """Write the best model to the directory ``path``; ``automl.load`` reads it back."""
        return self._fitted().save(path, signing_key=signing_key)


def _as_table(X) -> pd.DataFrame:
    """``X`` as a DataFrame: an array's columns are named ``x0``, ``x1``, ..."""
    if isinstance(X, np.ndarray) and X.ndim == 2:
        return pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])])
    return X


def _with_target(X, y, target) -> tuple[pd.DataFrame, str]:
    if not isinstance(X, pd.DataFrame):
        raise DataError("Expected a table (a pandas DataFrame).")
    if target is not None:
        if target not in X.columns:
            raise DataError(f"The target column {target!r} is not in the table.")
        return X, target
    if y is None:
        raise DataError("Say what to predict: pass target='column name' (or y).")
    if isinstance(y, str):
        return _with_target(X, None, y)
    if len(y) != len(X):
        raise DataError(f"The table has {len(X)} rows but y has {len(y)} values.")
    name = getattr(y, "name", None) or "target"
    if name in X.columns:
        raise DataError(f"The table already has a column named {name!r}; pass target= instead.")
    return X.assign(**{name: np.asarray(y)}), name


def _members(candidate: dict) -> list[tuple[dict, float]]:
    """The leaderboard rows an ensemble row blends, with their weights; a row alone else."""
    if candidate["family"] != ENSEMBLE:
        return [(candidate, 1.0)]
    return [(member, member["weight"]) for member in candidate["params"]["members"]]


@contextlib.contextmanager
def _workdir(path):
    """The search's work folder: ``path``, or a temporary folder removed afterwards."""
    if path is not None:
        yield Workdir(path)
        return
    with tempfile.TemporaryDirectory(prefix="automl-search-") as folder:
        yield Workdir(folder)


def _makespan(seconds: list[float], workers: int) -> float:
    """How long jobs of ``seconds`` take on ``workers``, each taking the longest left."""
    loads = [0.0] * max(workers, 1)
    for job in sorted(seconds, reverse=True):
        loads[loads.index(min(loads))] += job
    return max(loads)


def _reset(X):
    return None if X is None else X.reset_index(drop=True)


def _no_model_error(candidates, cancelled: bool) -> AutoMLError:
    if cancelled:
        return AutoMLError("The run was cancelled before any model finished.")
    failed = [c for c in candidates if c.state == "failed"]
    if failed:
        return AutoMLError(f"Every model failed to train; the first error was: {failed[0].error}")
    return AutoMLError("No model finished within the time budget; allow more time.")


def _schema(p: DatasetProfile, data: pd.DataFrame, features: list[str]) -> list[dict]:
    schema = []
    for name in features:
        column = p.column(name)
        entry = {"name": name, "kind": column.kind, "date_format": column.date_format}
        if column.kind in ("categorical", "boolean"):
            values = K.convert(data[name], "categorical").dropna().value_counts()
            entry["categories"] = [str(v) for v in values.index[:MAX_CATEGORIES_IN_SCHEMA]]
        schema.append(entry)
    return schema


def _fingerprint(data: pd.DataFrame) -> str:
    import hashlib

    hashed = pd.util.hash_pandas_object(data, index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()


def _search_sample(prepared: _Prepared):
    """``X, y, rows, splits``: the training rows the search uses, their positions among all
    of them (None when it uses every one), and the splits renumbered into them. On a large
    table a holdout search trains and validates on a sample, so its workers read and hold
    only that sample, not the table the final model trains on."""
    used = np.unique(np.concatenate([np.concatenate(split) for split in prepared.splits]))
    if len(used) == len(prepared.y):
        return prepared.X, prepared.y, None, prepared.splits
    splits = [(np.searchsorted(used, train), np.searchsorted(used, valid))
              for train, valid in prepared.splits]  # fmt: skip
    return prepared.X.iloc[used].reset_index(drop=True), prepared.y[used], used, splits
