"""The model search: a portfolio of strong defaults first, then Optuna's TPE over families and
hyperparameters jointly, each candidate scored fold by fold and pruned when hopeless, all
within a time budget.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import optuna
import pandas as pd
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split

from automl.ensemble import ROUNDS, Blend, blend, score, select_weights
from automl.evaluation import evaluate
from automl.learners import ENSEMBLE, LEARNERS, EarlyStopped, make_pipeline
from automl.metrics import Metric
from automl.profiling import DatasetProfile

logger = logging.getLogger(__name__)

# Portfolio order: the cheapest strong models first, so a useful model exists within seconds.
PORTFOLIO_ORDER = [
    ("hist_gradient_boosting", 0),
    ("lightgbm", 0),
    ("xgboost", 0),
    ("linear", 0),
    ("random_forest", 0),
    ("extra_trees", 0),
    ("lightgbm", 1),
    ("hist_gradient_boosting", 1),
    ("xgboost", 1),
]
TRIAL_STATES = {
    "complete": optuna.trial.TrialState.COMPLETE,
    "pruned": optuna.trial.TrialState.PRUNED,
    "failed": optuna.trial.TrialState.FAIL,
}
# Stop asking for trials after this many in a row were skipped as too slow for the time left.
MAX_SKIPS = 8
# Candidates whose predictions and models are kept for the ensemble.
POOL_SIZE = 8
# The ensemble's members are estimated as the search goes, to keep time for refitting them,
# on this many rows and rounds: a quick look, not the final choice.
ESTIMATE_ROWS = 1000
ESTIMATE_ROUNDS = 10


@dataclass
class Candidate:
    """One row of the leaderboard. Scores are in the metric's own direction."""

    model_id: str
    family: str
    params: dict
    state: str = "running"  # complete, pruned, failed, running
    score: float | None = None
    score_std: float | None = None
    fold_scores: list[float] = field(default_factory=list)
    fit_seconds: float | None = None
    predict_ms_per_1k: float | None = None
    test_score: float | None = None
    error: str | None = None
    seconds: float = 0.0
    _test_predictions: list = field(default_factory=list, repr=False)
    # Predictions for the rows each fold held out: what the evaluation charts are drawn from
    # and ensembles are weighted on. Kept while the candidate is in the ensemble pool.
    _oof: np.ndarray | None = field(default=None, repr=False)
    _test: np.ndarray | None = field(default=None, repr=False)  # averaged over folds
    # The first fold's fitted pipeline, for measuring feature importance on rows it never
    # saw. Kept while in the pool.
    _first_fold: object = field(default=None, repr=False)

    def to_row(self) -> dict:
        return {k: v for k, v in asdict(self).items() if not k.startswith("_")}


@dataclass(frozen=True)
class Event:
    """What a callback receives. ``kind``: search_started, candidate_finished, best_changed,
    finished; ``data``: details, such as the candidate's leaderboard row."""

    kind: str
    data: dict


def make_splits(
    y: np.ndarray,
    task: str,
    *,
    validation: str,
    n_splits: int,
    holdout_size: float,
    order: np.ndarray | None,
    seed: int,
    max_train_rows: int | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Train/validation index pairs: k folds, one holdout, or the latest rows by time.

    A holdout's training part keeps at most ``max_train_rows`` rows (the latest, by time), so
    the search on a large table is quick; the final model then trains on every row.
    """
    indices = np.arange(len(y))
    stratify = task != "regression" and np.bincount(y).min() >= 2
    cap = max_train_rows or len(y)
    if validation == "time":
        cut = round(len(y) * (1 - holdout_size))
        ranked = indices[np.argsort(order, kind="stable")]
        return [(ranked[max(0, cut - cap) : cut], ranked[cut:])]
    if validation == "holdout":
        train, valid = train_test_split(
            indices, test_size=holdout_size, random_state=seed, stratify=y if stratify else None
        )
        if len(train) > cap:
            train = np.sort(np.random.default_rng(seed).choice(train, cap, replace=False))
        return [(train, valid)]
    if stratify and np.bincount(y).min() >= n_splits:
        folds = StratifiedKFold(n_splits, shuffle=True, random_state=seed)
    else:
        folds = KFold(n_splits, shuffle=True, random_state=seed)
    return list(folds.split(indices, y))


class Search:
    """Runs candidates until the budget, ``n_trials`` or ``should_stop`` ends the search, then
    weighs the best of them into an ensemble.

    ``pool`` holds the best complete candidates with their out-of-fold predictions and first
    fold models: ensemble material.
    """

    def __init__(
        self,
        profile: DatasetProfile,
        metric: Metric,
        families: list[str],
        splits: list[tuple[np.ndarray, np.ndarray]],
        *,
        deadline: float,
        seed: int,
        n_jobs: int,
        n_trials: int | None = None,
        callbacks: list[Callable[[Event], None]] = (),
        should_stop: Callable[[], bool] | None = None,
        class_labels: np.ndarray | None = None,
    ):
        self.profile = profile
        self.metric = metric
        self.families = families
        self.splits = splits
        self.deadline = deadline
        self.seed = seed
        self.n_jobs = n_jobs
        self.n_trials = n_trials
        self.callbacks = list(callbacks)
        self.should_stop = should_stop or (lambda: False)
        self.class_labels = class_labels
        self.candidates: list[Candidate] = []
        self.pool: list[Candidate] = []
        self.best: Candidate | None = None
        self._final_fit_seconds = 0.0  # a fold fit of each member of the ensemble so far
        self.cancelled = False

    def run(self, X, y, X_test=None, y_test=None) -> list[Candidate]:
        classes = np.unique(y) if self.profile.task != "regression" else None
        self.n_rows = len(y)  # what the final model trains on
        study = self._study()
        self._emit("search_started", {"families": self.families, "n_splits": len(self.splits)})
        skips = 0
        while not self._finished():
            trial = study.ask()
            family = trial.suggest_categorical("family", self.families)
            if self._too_slow(family):
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                skips += 1
                if skips >= MAX_SKIPS:
                    break
                continue
            skips = 0
            params = LEARNERS[family].search_space(trial, len(y))
            candidate = Candidate(self._next_id(), family, params)
            self.candidates.append(candidate)
            value = self._evaluate(candidate, trial, X, y, classes, X_test)
            state = TRIAL_STATES[candidate.state]
            study.tell(trial, value if candidate.state == "complete" else None, state)
            self._finish(candidate, y, y_test, classes)
        if not self.cancelled:
            self._ensemble(y, y_test, classes)
        self._emit("finished", {"cancelled": self.cancelled, "n_candidates": len(self.candidates)})
        return self.candidates

    def members(self, candidate: Candidate) -> list[tuple[Candidate, float]]:
        """The pool candidates ``candidate`` is made of, with their weights."""
        if candidate.family != ENSEMBLE:
            return [(candidate, 1.0)]
        by_id = {c.model_id: c for c in self.pool}
        return [(by_id[m["model_id"]], m["weight"]) for m in candidate.params["members"]]

    def first_fold(self, candidate: Candidate) -> tuple[object, np.ndarray]:
        """``candidate``'s first-fold model (for an ensemble, its members' first-fold models
        blended) and the rows that fold held out: for measuring importance on unseen rows."""
        members = self.members(candidate)
        predictor = Blend(
            [c._first_fold for c, _ in members], [w for _, w in members], self._width()
        )
        return predictor, self.splits[0][1]

    def _next_id(self) -> str:
        return f"m{len(self.candidates) + 1:03d}"

    def _width(self) -> int | None:
        return None if self.profile.task == "regression" else len(self.class_labels)

    def _study(self) -> optuna.Study:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        sampler = optuna.samplers.TPESampler(seed=self.seed, n_startup_trials=10, multivariate=True)
        pruner = optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=1)
        direction = "maximize" if self.metric.greater_is_better else "minimize"
        study = optuna.create_study(direction=direction, sampler=sampler, pruner=pruner)
        for family, index in PORTFOLIO_ORDER:
            learner = LEARNERS[family]
            if family in self.families and index < len(learner.portfolio):
                fixed = {f"{family}__{k}": v for k, v in learner.portfolio[index].items()}
                study.enqueue_trial({"family": family, **fixed}, skip_if_exists=True)
        return study

    def _finished(self) -> bool:
        if self.should_stop():
            self.cancelled = True
            return True
        if self.n_trials is not None and len(self.candidates) >= self.n_trials:
            return True
        # Always finish one candidate, however small the budget: a run must yield a model.
        return self.best is not None and time.monotonic() >= self._search_deadline()

    def _search_deadline(self, running: Candidate | None = None) -> float:
        """The budget's end less the time the final model will take: refitting, on all rows,
        the members of the ensemble the pool makes now (and ``running``, were it to join)."""
        if self.best is None:
            return self.deadline
        fold_seconds = self._final_fit_seconds + ((running.fit_seconds or 0) if running else 0)
        train_share = len(self.splits[0][0]) / self.n_rows
        return self.deadline - 1.2 * fold_seconds / train_share

    def _too_slow(self, family: str) -> bool:
        """Whether a trial of ``family`` would likely overrun the time left, from past trials."""
        if self.best is None:
            return False
        done = [c for c in self.candidates if c.state == "complete"]
        past = [c.seconds for c in done if c.family == family]
        # A family not tried yet is assumed as slow as the slowest so far.
        expected = float(np.median(past)) if past else max(c.seconds for c in done)
        return time.monotonic() + expected > self._search_deadline()

    def _evaluate(self, candidate, trial, X, y, classes, X_test) -> float | None:
        started = time.monotonic()
        width = self._width()
        # float32: charts and ensemble weights need no more, and many classes times many rows
        # add up.
        shape = (len(y), width) if width else len(y)
        candidate._oof = np.full(shape, np.nan, dtype=np.float32)
        fit_times, predict_rates = [], []
        try:
            for step, (train, valid) in enumerate(self.splits):
                pipeline = make_pipeline(
                    self.profile, candidate.family, candidate.params, self.seed, self.n_jobs
                )
                tick = time.monotonic()
                # Boosting stops its rounds at the search's deadline rather than overrun it.
                timed = isinstance(pipeline[-1], EarlyStopped)
                deadline = {"model__deadline": self._search_deadline()} if timed else {}
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    pipeline.fit(X.iloc[train], y[train], **deadline)
                fit_times.append(time.monotonic() - tick)
                tick = time.monotonic()
                prediction = predict(pipeline, X.iloc[valid], width)
                predict_rates.append((time.monotonic() - tick) / len(valid) * 1e6)
                candidate._oof[valid] = prediction
                if step == 0:
                    candidate._first_fold = pipeline
                scored = (
                    prediction.argmax(axis=1)
                    if width and not self.metric.needs_proba
                    else prediction
                )
                candidate.fold_scores.append(self.metric(y[valid], scored, classes))
                if X_test is not None:
                    # Probabilities average across folds; labels are their argmax at the end.
                    candidate._test_predictions.append(predict(pipeline, X_test, width))
                trial.report(float(np.mean(candidate.fold_scores)), step)
                if step < len(self.splits) - 1 and trial.should_prune():
                    candidate.state = "pruned"
                    break
                # Stopped as soon as its pace says it would end past the search's deadline.
                folds_left = len(self.splits) - 1 - step
                candidate.fit_seconds = float(np.mean(fit_times))
                finish = time.monotonic() + folds_left * (time.monotonic() - started) / (step + 1)
                out_of_time = self.best and finish > self._search_deadline(candidate)
                if folds_left and (out_of_time or self.should_stop()):
                    candidate.state = "pruned"
                    candidate.error = "Stopped: the time budget ran out."
                    break
            else:
                candidate.state = "complete"
        except Exception as err:  # a learner that crashes is a failed row, not a failed run
            logger.warning("Candidate %s (%s) failed: %s", candidate.model_id, candidate.family,
                           err)  # fmt: skip
            candidate.state = "failed"
            candidate.error = f"{type(err).__name__}: {err}"[:500]
        candidate.seconds = time.monotonic() - started
        if candidate.fold_scores:
            candidate.score = float(np.mean(candidate.fold_scores))
            candidate.score_std = float(np.std(candidate.fold_scores))
            candidate.fit_seconds = float(np.mean(fit_times))
            candidate.predict_ms_per_1k = float(np.mean(predict_rates))
        return candidate.score

    def _finish(self, candidate: Candidate, y, y_test, classes) -> None:
        evaluation = None
        if candidate.state == "complete":
            if y_test is not None:
                candidate._test = np.mean(candidate._test_predictions, axis=0)
                candidate.test_score = score(self.metric, y_test, candidate._test, classes)
            evaluation = self._evaluation(candidate, y, classes)
        candidate._test_predictions = []
        self._emit("candidate_finished", {"row": candidate.to_row(), "evaluation": evaluation})
        if candidate.state == "complete":
            self._enter_pool(candidate, y, classes)
            if self.best is None or self.metric.better(candidate.score, self.best.score):
                self.best = candidate
                self._emit("best_changed", {"row": candidate.to_row()})
        else:
            _release(candidate)

    def _enter_pool(self, candidate: Candidate, y, classes) -> None:
        """Keep the ``POOL_SIZE`` best candidates' predictions and models; free the rest."""
        self.pool.append(candidate)
        self.pool.sort(key=lambda c: c.score, reverse=self.metric.greater_is_better)
        for dropped in self.pool[POOL_SIZE:]:
            _release(dropped)
        del self.pool[POOL_SIZE:]
        if candidate in self.pool:
            weights = self._weights(y, classes, max_rows=ESTIMATE_ROWS, rounds=ESTIMATE_ROUNDS)
            fits = [c.fit_seconds for c, w in zip(self.pool, weights, strict=True) if w]
            self._final_fit_seconds = sum(fits)

    def _weights(self, y, classes, *, max_rows=None, rounds=ROUNDS) -> np.ndarray:
        """Ensemble weights of the pool, chosen on the rows validated (a sample of at most
        ``max_rows`` of them, for a quick estimate)."""
        rows = np.flatnonzero(_validated(self.pool[0]._oof, len(y)))
        if max_rows and len(rows) > max_rows:
            rows = np.random.default_rng(self.seed).choice(rows, max_rows, replace=False)
        oof = [c._oof[rows].astype(float) for c in self.pool]
        return select_weights(oof, y[rows], self.metric, classes, rounds=rounds)

    def _ensemble(self, y, y_test, classes) -> None:
        """Weigh the pool into an ensemble on the rows validated; a leaderboard row of its own
        when it blends two or more candidates, the best model when it scores better."""
        if len(self.pool) < 2:
            return
        weights = self._weights(y, classes)
        used = [(c, w) for c, w in zip(self.pool, weights, strict=True) if w]
        if len(used) < 2:
            return
        members = [
            {"model_id": c.model_id, "family": c.family, "params": c.params, "weight": float(w)}
            for c, w in used
        ]
        ensemble = Candidate(self._next_id(), ENSEMBLE, {"members": members}, state="complete")
        ensemble._oof = blend([c._oof for c, _ in used], [w for _, w in used])
        # Scored fold by fold, as every candidate is.
        ensemble.fold_scores = [
            score(self.metric, y[valid], ensemble._oof[valid].astype(float), classes)
            for _, valid in self.splits
        ]
        ensemble.score = float(np.mean(ensemble.fold_scores))
        ensemble.score_std = float(np.std(ensemble.fold_scores))
        ensemble.fit_seconds = sum(c.fit_seconds for c, _ in used)
        ensemble.predict_ms_per_1k = sum(c.predict_ms_per_1k for c, _ in used)
        if y_test is not None:
            test = blend([c._test for c, _ in used], [w for _, w in used])
            ensemble.test_score = score(self.metric, y_test, test, classes)
        self.candidates.append(ensemble)
        evaluation = self._evaluation(ensemble, y, classes)
        self._emit("candidate_finished", {"row": ensemble.to_row(), "evaluation": evaluation})
        if self.metric.better(ensemble.score, self.best.score):
            self.best = ensemble
            self._emit("best_changed", {"row": ensemble.to_row()})

    def _evaluation(self, candidate: Candidate, y, classes) -> dict | None:
        # A holdout validates some rows only: the charts show those.
        seen = _validated(candidate._oof, len(y))
        labels = classes if self.class_labels is None else self.class_labels
        try:
            return evaluate(
                self.profile.task, y[seen], candidate._oof[seen].astype(float), labels,
                seed=self.seed,
            )  # fmt: skip
        except Exception:  # charts are a bonus: never lose a model over them
            logger.exception("Evaluating candidate %s failed", candidate.model_id)
            return None

    def _emit(self, kind: str, data: dict) -> None:
        event = Event(kind, data)
        for callback in self.callbacks:
            callback(event)


def _validated(oof: np.ndarray, n_rows: int) -> np.ndarray:
    """Which rows out-of-fold predictions cover: all with k folds, a holdout's else."""
    return ~np.isnan(oof.reshape(n_rows, -1)).any(axis=1)


def _release(candidate: Candidate) -> None:
    candidate._oof, candidate._test, candidate._first_fold = None, None, None


def predict(pipeline, X: pd.DataFrame, n_classes: int | None) -> np.ndarray:
    """Values for regression; for classification, probabilities with one column per class,
    even for a class the pipeline never saw in its training rows."""
    if n_classes is None:
        return pipeline.predict(X)
    proba = pipeline.predict_proba(X)
    if proba.shape[1] == n_classes:
        return proba
    full = np.zeros((len(X), n_classes))
    full[:, pipeline.classes_] = proba
    return full
