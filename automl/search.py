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
from sklearn.pipeline import Pipeline

from automl.evaluation import evaluate
from automl.features import make_preprocessor
from automl.learners import LEARNERS
from automl.metrics import Metric
from automl.profiling import DatasetProfile

logger = logging.getLogger(__name__)

# Portfolio order: the cheapest strong models first, so a useful model exists within seconds.
PORTFOLIO_ORDER = [
    ("hist_gradient_boosting", 0),
    ("xgboost", 0),
    ("linear", 0),
    ("random_forest", 0),
    ("extra_trees", 0),
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
    # Predictions for the rows each fold held out: what the evaluation charts are drawn from.
    _oof: np.ndarray | None = field(default=None, repr=False)
    # The first fold's fitted pipeline and held-out rows, kept for the best candidate only.
    _first_fold: tuple | None = field(default=None, repr=False)

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
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Train/validation index pairs: k folds, one holdout, or the latest rows by time."""
    indices = np.arange(len(y))
    stratify = task != "regression" and np.bincount(y).min() >= 2
    if validation == "time":
        cut = round(len(y) * (1 - holdout_size))
        ranked = indices[np.argsort(order, kind="stable")]
        return [(ranked[:cut], ranked[cut:])]
    if validation == "holdout":
        train, valid = train_test_split(
            indices, test_size=holdout_size, random_state=seed, stratify=y if stratify else None
        )
        return [(train, valid)]
    if stratify and np.bincount(y).min() >= n_splits:
        folds = StratifiedKFold(n_splits, shuffle=True, random_state=seed)
    else:
        folds = KFold(n_splits, shuffle=True, random_state=seed)
    return list(folds.split(indices, y))


class Search:
    """Runs candidates until the budget, ``n_trials`` or ``should_stop`` ends the search.

    ``best_fold`` holds the best candidate's first-fold pipeline and its held-out row indices,
    for measuring feature importance on data that pipeline never saw.
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
        self.best: Candidate | None = None
        self.best_fold: tuple | None = None
        self.cancelled = False

    def run(self, X, y, X_test=None, y_test=None) -> list[Candidate]:
        classes = np.unique(y) if self.profile.task != "regression" else None
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
            candidate = Candidate(f"m{len(self.candidates) + 1:03d}", family, params)
            self.candidates.append(candidate)
            value = self._evaluate(candidate, trial, X, y, classes, X_test)
            state = TRIAL_STATES[candidate.state]
            study.tell(trial, value if candidate.state == "complete" else None, state)
            self._finish(candidate, y, y_test, classes)
        self._emit("finished", {"cancelled": self.cancelled, "n_candidates": len(self.candidates)})
        return self.candidates

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

    def _search_deadline(self) -> float:
        """The budget's end less the time the final refit of the best will take."""
        if self.best is None:
            return self.deadline
        train_share = len(self.splits[0][0]) / (len(self.splits[0][0]) + len(self.splits[0][1]))
        return self.deadline - 1.2 * self.best.fit_seconds / train_share

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
        learner = LEARNERS[candidate.family]
        is_classifier = self.profile.task != "regression"
        width = len(classes) if is_classifier else None
        # float32: a chart needs no more, and many classes times many rows add up.
        shape = (len(y), width) if is_classifier else len(y)
        candidate._oof = np.full(shape, np.nan, dtype=np.float32)
        fit_times, predict_rates = [], []
        try:
            for step, (train, valid) in enumerate(self.splits):
                pipeline = Pipeline(
                    [
                        ("features", make_preprocessor(self.profile, candidate.family)),
                        ("model", learner.make(candidate.params, self.profile.task, self.seed,
                                               self.n_jobs)),
                    ]
                )  # fmt: skip
                tick = time.monotonic()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    pipeline.fit(X.iloc[train], y[train])
                fit_times.append(time.monotonic() - tick)
                tick = time.monotonic()
                prediction = predict(pipeline, X.iloc[valid], width)
                predict_rates.append((time.monotonic() - tick) / len(valid) * 1e6)
                candidate._oof[valid] = prediction
                if step == 0:
                    candidate._first_fold = (pipeline, valid)
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
                out_of_time = self.best and time.monotonic() > self._search_deadline()
                if step < len(self.splits) - 1 and (out_of_time or self.should_stop()):
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
                averaged = np.mean(candidate._test_predictions, axis=0)
                if self.profile.task != "regression" and not self.metric.needs_proba:
                    averaged = averaged.argmax(axis=1)
                candidate.test_score = self.metric(y_test, averaged, classes)
            # A holdout validates some rows only: the charts show those.
            seen = ~np.isnan(candidate._oof.reshape(len(y), -1)).any(axis=1)
            labels = classes if self.class_labels is None else self.class_labels
            try:
                evaluation = evaluate(
                    self.profile.task, y[seen], candidate._oof[seen].astype(float), labels,
                    seed=self.seed,
                )  # fmt: skip
            except Exception:  # charts are a bonus: never lose a model over them
                logger.exception("Evaluating candidate %s failed", candidate.model_id)
        candidate._test_predictions, candidate._oof = [], None
        self._emit("candidate_finished", {"row": candidate.to_row(), "evaluation": evaluation})
        if candidate.state == "complete" and (
            self.best is None or self.metric.better(candidate.score, self.best.score)
        ):
            self.best = candidate
            self.best_fold = candidate._first_fold
            self._emit("best_changed", {"row": candidate.to_row()})
        candidate._first_fold = None

    def _emit(self, kind: str, data: dict) -> None:
        event = Event(kind, data)
        for callback in self.callbacks:
            callback(event)


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
