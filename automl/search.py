"""The model search: a portfolio of strong defaults first, then Optuna's TPE over families and
hyperparameters jointly, each candidate scored fold by fold and pruned when hopeless, all
within a time budget.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import optuna
from threadpoolctl import threadpool_limits

from automl.ensemble import ROUNDS, Blend, blend, lighten, predict, score, select_weights
from automl.evaluation import evaluate
from automl.learners import (
    ENSEMBLE,
    LEARNERS,
    make_pipeline,
    takes_deadline,
    target_scales,
)
from automl.metrics import Metric, get_metric
from automl.profiling import DatasetProfile
from automl.runner import worker_name
from automl.study import (
    BEAT_SECONDS,
    LOST_AFTER,
    Beat,
    OrderedSampler,
    Plan,
    Workdir,
    close_storage,
    is_lost,
    last_beat,
    open_storage,
    should_prune,
    sign,
)

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
# A search whose training folds hold more than twice this many rows starts with a first look:
# a linear model (the cheapest family, whatever the number of classes) trained on this many
# rows of each fold and scored on the same validation rows as every candidate, so that the
# leaderboard has a row within seconds on any table. Built, it trains on every row.
FIRST_LOOK_ROWS = 2000
FIRST_LOOK = ("linear", {"C": 0.3})
TRIAL_STATES = {
    "complete": optuna.trial.TrialState.COMPLETE,
    "pruned": optuna.trial.TrialState.PRUNED,
    "failed": optuna.trial.TrialState.FAIL,
}
WAITING = optuna.trial.TrialState.WAITING
RUNNING = optuna.trial.TrialState.RUNNING
# Stop asking for trials after this many in a row were skipped as too slow for the time left.
MAX_SKIPS = 8
# Candidates whose predictions and models are kept for the ensemble.
POOL_SIZE = 8
# The ensemble's members are estimated as the search goes, to keep time for refitting them,
# on this many rows and rounds: a quick look, not the final choice.
ESTIMATE_ROWS = 1000
ESTIMATE_ROUNDS = 10
# The ensemble's weights are chosen on at most this many validated rows: steps of 1/25 are
# judged as surely on them as on all, which on a table of 300,000 rows cost seconds past
# the search's end.
WEIGHT_ROWS = 50_000
# The most a search waits for the worker processes it started to join it.
HELPER_START_SECONDS = 60
# A worker whose trials are over waits this long for the coordinator to hand the final
# model's refit out: the coordinator first waits for the trials in flight (a lost one's for
# up to LOST_AFTER), then weighs the ensemble and writes the rows.
REFIT_WAIT_SECONDS = 2 * LOST_AFTER
# A worker waiting to help says so this often; one silent for REFIT_SILENT_AFTER is gone.
REFIT_BEAT_SECONDS = 1
REFIT_SILENT_AFTER = 5
# The coordinator's own processes get this long to leave at the end, and the workers that
# joined the search this long to say whether they wait to help with the refit.
HELPER_END_SECONDS = 2


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
    worker: str = ""  # host:pid of the process that trained it
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


class Search:
    """Coordinates one search: opens its study (or takes over one whose coordinator was lost),
    trains trials itself beside any other workers until the budget, ``n_trials`` or
    ``should_stop`` ends it, then weighs the best candidates of every worker into an ensemble
    and, through ``refit``, hands the final model's members out to the workers still there.
    A context manager: leaving it lets the workers go.

    ``helpers`` worker processes are started on this machine (``AutoML(n_jobs=k)``); workers
    elsewhere join through ``join_search`` on the same work folder and storage. ``pool`` holds
    the best complete candidates with their out-of-fold predictions: ensemble material.
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
        n_threads: int,
        workdir: Workdir,
        storage: str | None = None,
        study_name: str = "search",
        helpers: int = 0,
        parallelism: int = 1,
        n_trials: int | None = None,
        callbacks: list[Callable[[Event], None]] = (),
        should_stop: Callable[[], bool] | None = None,
        class_labels: np.ndarray | None = None,
    ):
        self.plan = Plan(
            study_name=study_name,
            storage=None if storage else workdir.journal,
            profile=profile,
            metric=metric.name,
            families=families,
            splits=splits,
            seed=seed,
            n_trials=n_trials,
            class_labels=class_labels,
            n_rows=0,
            parallelism=max(parallelism, helpers + 1),
        )
        self.metric, self.splits, self.profile = metric, splits, profile
        self.deadline = time.time() + deadline - time.monotonic()  # shared: a wall-clock time
        self.n_threads, self.workdir, self.storage = n_threads, workdir, storage
        self.helpers = helpers
        self.callbacks = list(callbacks)
        self.should_stop = should_stop or (lambda: False)
        self.class_labels = class_labels
        self.candidates: list[Candidate] = []
        self.pool: list[Candidate] = []
        self.best: Candidate | None = None
        self.cancelled = False
        self.n_workers = 0  # workers that trained a candidate
        self.storage_ = None
        self.study_: optuna.Study | None = None
        self._processes: list[subprocess.Popen] = []

    def __enter__(self) -> Search:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """End the search for every worker (those waiting to help refit leave), and free its
        processes and connections."""
        if self.study_ is not None:
            with contextlib.suppress(Exception):
                self.study_.set_user_attr("ended", True)
        for process in self._processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(HELPER_END_SECONDS)
            if process.poll() is None:
                process.terminate()
        close_storage(self.storage_)
        self.study_, self.storage_, self._processes = None, None, []

    def run(self, X, y, X_test=None, y_test=None, *, n_rows: int | None = None) -> list[Candidate]:
        """Search on ``X, y`` (the rows ``splits`` number); ``n_rows`` is how many rows the
        final model will train on (default ``len(y)``), which sets the time kept for it."""
        self.plan.n_rows = n_rows or len(y)
        study = self.study_ = self._open(X, y, X_test, y_test)
        # The workers of a search taken over that still train: those that beat of late (one
        # lost with its machine is failed only once silent for LOST_AFTER).
        now = time.time()
        at_work = {t.user_attrs.get("worker") for t in study.get_trials(states=(RUNNING,))
                   if now - (last_beat(t) or 0) < 3 * BEAT_SECONDS}  # fmt: skip
        self._emit("search_started", {"families": self.plan.families, "n_splits": len(self.splits),
                                      "parallelism": self.plan.parallelism,
                                      "helpers_at_work": len(at_work - {None})})  # fmt: skip
        processes = self._processes = self._start_helpers()
        _wait_for_helpers(study, processes)
        # Candidates the helpers started here trained are told to this search's callbacks as
        # they come; workers that join from elsewhere tell their own.
        self._relayed = set() if processes else None
        worker = Trials(self.plan, study, self.workdir, X, y, X_test, y_test,
                        n_threads=self.n_threads, callbacks=self.callbacks,
                        should_stop=self.should_stop, watch=self._watch)  # fmt: skip
        if not study.user_attrs.get("closed"):
            worker.run()
        self.cancelled = worker.cancelled or bool(study.user_attrs.get("cancelled"))
        if self.cancelled:
            study.set_user_attr("cancelled", True)
        # At the budget or on cancel, the others stop at their next fold; once ``n_trials``
        # have started, nobody starts another, and the last ones end as they would alone.
        if not worker.counted_out:
            study.set_user_attr("closed", True)
        self._wait_for_workers(study)
        study.set_user_attr("closed", True)
        self._collect(study, y)
        if not self.cancelled:
            self._ensemble(study, y, y_test)
        self._emit("finished", {"cancelled": self.cancelled, "n_candidates": len(self.candidates)})
        return self.candidates

    def refit_helpers(self) -> int:
        """Workers that have ended their trials and wait to share the final refit. Those
        that joined the search get a moment to say whether they wait (they may still be
        storing their last candidate); one gone silent, killed say, is not counted."""
        joined = {v for k, v in self.study_.user_attrs.items() if k.startswith("joined:")}
        give_up = time.monotonic() + HELPER_END_SECONDS
        while True:
            attrs = self.study_.user_attrs
            said = {k.removeprefix("refitting:"): v for k, v in attrs.items()
                    if k.startswith("refitting:")}  # fmt: skip
            if joined <= said.keys() or time.monotonic() > give_up:
                break
            time.sleep(0.1)
        now = time.time()
        return sum(isinstance(v, float) and now - v < REFIT_SILENT_AFTER for v in said.values())

    def refit(self, members: list[dict], X, y, *, threads: int, shared: bool) -> list:
        """Each of ``members`` (leaderboard rows) fit on ``X, y``. ``shared``: handed out as
        waiting trials to the workers waiting to help and taken here too, each with the
        search's threads per model; else all fit here with ``threads``. A member whose worker
        fails or is lost is fit here."""
        study = self.study_

        def here(member: dict, threads: int):
            return fit_pipeline(self.profile, member["family"], member["params"],
                                self.plan.seed, threads, X, y)  # fmt: skip

        round_ = study.user_attrs.get("refit_rounds", 0) + 1
        if shared:
            try:
                self.workdir.write_refit_rows(round_, X, y)
            except OSError:  # a full disk, say: the refit is not shared, and needs no disk
                logger.warning("The refit's rows could not be written", exc_info=True)
                shared = False
        if not shared:
            study.set_user_attr("refit", 0)  # the workers waiting leave
            return [here(member, threads) for member in members]
        study.set_user_attr("refit_rounds", round_)
        # Longest first, as the rows the refit can afford were counted (``_makespan``).
        for member in sorted(members, key=lambda m: -(m.get("fit_seconds") or 0)):
            study.enqueue_trial({}, user_attrs={"refit": member["model_id"], "round": round_,
                                                "family": member["family"],
                                                "params": member["params"]})  # fmt: skip
        study.set_user_attr("refit", round_)
        take_refits(self.plan, study, self.workdir, round_, self.n_threads, rows=(X, y))
        while any(t.state == RUNNING for t in _refit_trials(study, round_)):
            fail_lost_trials(study, self.callbacks)
            time.sleep(0.2)
        fitted = {t.user_attrs["refit"] for t in _refit_trials(study, round_)
                  if t.state == optuna.trial.TrialState.COMPLETE}  # fmt: skip

        def taken(member: dict):
            try:
                return self.workdir.load_refit(round_, member["model_id"])
            except (OSError, EOFError, pickle.UnpicklingError):  # its file is unreadable
                logger.warning("Refit %s unreadable", member["model_id"], exc_info=True)
                return here(member, threads)

        return [taken(m) if m["model_id"] in fitted else here(m, threads) for m in members]

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
        models = [self.workdir.load_first_fold(c.model_id) for c, _ in members]
        predictor = Blend(models, [w for _, w in members], _width(self.class_labels))
        return predictor, self.splits[0][1]

    def _open(self, X, y, X_test, y_test) -> optuna.Study:
        """The search's study: a new one, or the one a lost coordinator left (taken over)."""
        self.workdir.path.mkdir(parents=True, exist_ok=True)
        storage = self.storage_ = open_storage(self.storage or self.workdir.journal)
        if self.workdir.has_plan():
            with contextlib.suppress(KeyError):
                study = _load(self.plan, storage)
                self.plan = self.workdir.read_plan()  # the search as it was planned
                self.deadline = study.user_attrs["deadline"]
                self._take_over(study)
                return study
        self.workdir.write_plan(self.plan)
        if self.plan.parallelism > 1:  # others will train on these rows
            self.workdir.write_rows(X, y, X_test, y_test)
        direction = "maximize" if self.metric.greater_is_better else "minimize"
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(
            storage=storage, study_name=self.plan.study_name, direction=direction,
            load_if_exists=True,
        )  # fmt: skip
        study.set_user_attr("deadline", self.deadline)
        study.set_user_attr("coordinator", worker_name())
        scales = target_scales(self.plan.profile)
        family, config = FIRST_LOOK
        if (
            family in self.plan.families
            and max(len(t) for t, _ in self.splits) > 2 * FIRST_LOOK_ROWS
        ):
            fixed = {f"{family}__{k}": v for k, v in config.items()}
            chosen = {"target_scale": scales[0]} if len(scales) > 1 else {}
            study.enqueue_trial({"family": family, **fixed, **chosen},
                                user_attrs={"sample_rows": FIRST_LOOK_ROWS},
                                skip_if_exists=True)  # fmt: skip
        for family, index in portfolio_order(self.plan.profile):
            learner = LEARNERS[family]
            if family in self.plan.families and index < len(learner.portfolio):
                fixed = {f"{family}__{k}": v for k, v in learner.portfolio[index].items()}
                # A skewed target: each family's first configuration on both scales.
                for scale in scales if index == 0 else scales[:1]:
                    chosen = {"target_scale": scale} if len(scales) > 1 else {}
                    study.enqueue_trial({"family": family, **fixed, **chosen},
                                        skip_if_exists=True)  # fmt: skip
        return _load(self.plan, storage)

    def _take_over(self, study: optuna.Study) -> None:
        """Continue the search of a lost coordinator: the trial it was training is lost."""
        lost = study.user_attrs.get("coordinator")
        logger.warning("Taking over the search %s from %s", self.plan.study_name, lost)
        for trial in study.get_trials(deepcopy=False, states=(RUNNING,)):
            if trial.user_attrs.get("worker") == lost:
                fail_lost(study, trial, self.callbacks)
        fail_lost_trials(study, self.callbacks)  # those of its helpers that went with it
        # Its refit, if it had begun one, is handed out again.
        for key in ("refit", "ended"):
            study.set_user_attr(key, None)
        study.set_user_attr("coordinator", worker_name())

    def _start_helpers(self) -> list[subprocess.Popen]:
        """Worker processes on this machine, each running ``python -m automl join``."""
        package_root = str(Path(__file__).resolve().parent.parent)
        env = {**os.environ, "OMP_NUM_THREADS": str(self.n_threads)}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
        command = [sys.executable, "-m", "automl", "join", str(self.workdir.path),
                   "--threads", str(self.n_threads)]  # fmt: skip
        return [
            subprocess.Popen([*command, "--index", str(index)], env=env, stdout=subprocess.DEVNULL)
            for index in range(1, self.helpers + 1)
        ]

    def _watch(self, study: optuna.Study) -> None:
        """Between trials: tell this search's callbacks about candidates the helpers it
        started finished (they have no callbacks of their own)."""
        if self._relayed is None:
            return
        for row in _rows(study, complete=False):
            if row["model_id"] not in self._relayed and row["worker"] != worker_name():
                self._relayed.add(row["model_id"])
                self._emit("candidate_finished", {"row": row, "evaluation": None})

    def _wait_for_workers(self, study: optuna.Study) -> None:
        """Until every worker has ended its trial: they stop at their next fold, and a lost
        one is failed once it stops beating."""
        while True:
            if not study.get_trials(deepcopy=False, states=(RUNNING,)):
                break
            fail_lost_trials(study, self.callbacks)
            self._watch(study)
            time.sleep(0.2)
        if self._relayed is not None:
            self._watch(study)

    def _collect(self, study: optuna.Study, y) -> None:
        """Every worker's candidates, the best of them, and the pool with its predictions."""
        rows = _rows(study, complete=False)
        self.candidates = [Candidate(**row) for row in rows]
        self.n_workers = len({c.worker for c in self.candidates if c.state == "complete"})
        done = [c for c in self.candidates if c.state == "complete"]
        done.sort(key=lambda c: c.score, reverse=self.metric.greater_is_better)
        for candidate in done:
            saved = self.workdir.load_predictions(candidate.model_id)
            if (
                saved is not None
                and len(self.pool) < POOL_SIZE
                and not first_look(candidate.params)
            ):
                candidate._oof, candidate._test = saved
                self.pool.append(candidate)
        self.best = done[0] if done else None
        numbered = [
            t.number for t in study.get_trials(deepcopy=False) if "model_id" in t.user_attrs
        ]
        self._next_number = max(numbered, default=-1) + 2

    def _ensemble(self, study, y, y_test) -> None:
        """Weigh the pool into an ensemble on the rows validated; a leaderboard row of its own
        when it blends two or more candidates, the best model when it scores better."""
        if len(self.pool) < 2:
            return
        classes = _classes(self.profile, y)
        weights = pool_weights(self.pool, y, self.metric, classes, seed=self.plan.seed,
                               max_rows=WEIGHT_ROWS)  # fmt: skip
        used = [(c, w) for c, w in zip(self.pool, weights, strict=True) if w]
        if len(used) < 2:
            return
        members = [
            {"model_id": c.model_id, "family": c.family, "params": c.params, "weight": float(w)}
            for c, w in used
        ]
        model_id = f"m{self._next_number:03d}"
        ensemble = Candidate(model_id, ENSEMBLE, {"members": members}, state="complete",
                             worker=worker_name())  # fmt: skip
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
        evaluation = evaluation_of(ensemble, y, self.profile, self.class_labels, self.plan.seed)
        self._emit("candidate_finished", {"row": ensemble.to_row(), "evaluation": evaluation})
        if self.metric.better(ensemble.score, self.best.score):
            self.best = ensemble
            self._emit("best_changed", {"row": ensemble.to_row()})

    def _emit(self, kind: str, data: dict) -> None:
        _emit(self.callbacks, kind, data)


class Trials:
    """One worker of a search: asks the study for the next configuration (the portfolio
    first, then TPE), trains its folds, reports each fold's score, leaves its predictions in
    the work folder and tells the study, until the search ends.

    Trial n sees the trials numbered below n - parallelism + 1 (its window), and waits until
    they have ended: TPE's suggestions and the pruning rule read that history only, so a
    search with a fixed seed and ``n_trials`` comes out the same whichever worker takes which
    trial, and however fast each goes.
    """

    def __init__(
        self, plan: Plan, study: optuna.Study, workdir: Workdir, X, y, X_test, y_test, *,
        n_threads: int, callbacks=(), should_stop=None, watch=None,
    ):  # fmt: skip
        self.plan, self.study, self.workdir = plan, study, workdir
        self.X, self.y, self.X_test, self.y_test = X, y, X_test, y_test
        self.metric = get_metric(plan.metric, plan.profile.task)
        self.splits = plan.splits
        self.n_threads = n_threads
        self.callbacks = list(callbacks)
        self.should_stop = should_stop or (lambda: False)
        self.watch = watch or (lambda study: None)
        self.deadline = study.user_attrs["deadline"]
        self.classes = _classes(plan.profile, y)
        self.width = _width(plan.class_labels)
        self.cancelled = False
        self.trained = 0
        self.history: list[optuna.trial.FrozenTrial] = []  # the current trial's window
        self.counted_out = False  # ended because n_trials have started
        study.sampler = OrderedSampler(plan.seed, lambda number: self.history)

    def run(self) -> int:
        """Train trials until the search ends; the number of candidates this worker trained."""
        try:
            return self._run()
        finally:
            # The study holds on to this worker (its sampler reads the history), and lives on
            # for the final refit: the search's rows must not live on with it.
            self.X = self.y = self.X_test = self.y_test = None

    def _run(self) -> int:
        skips = 0
        while not self._finished():
            trial = self.study.ask()
            # Named and beating from the start: a worker lost while it waits for its window is
            # found lost, where a nameless trial would hold every later one for LOST_AFTER.
            sign(trial)
            with Beat(trial):
                self.history = self._window(trial.number)
                if self._stopping() or self._surplus(trial.number):
                    self.study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                    continue
                family = trial.suggest_categorical("family", self.plan.families)
                if self._too_slow(family) or self.study.user_attrs.get("closed"):
                    self.study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                    skips += 1
                    if skips >= MAX_SKIPS:
                        break
                    continue
                skips = 0
                params = LEARNERS[family].search_space(trial, len(self.y))
                scales = target_scales(self.plan.profile)
                if len(scales) > 1:
                    params["target_scale"] = trial.suggest_categorical("target_scale", scales)
                if "sample_rows" in trial.user_attrs:  # the first look
                    params["sample_rows"] = trial.user_attrs["sample_rows"]
                candidate = Candidate(f"m{trial.number + 1:03d}", family, params,
                                      worker=trial.user_attrs["worker"])  # fmt: skip
                trial.set_user_attr("model_id", candidate.model_id)
                # OpenMP and BLAS threads too (scikit-learn's boosting, linear algebra): the
                # same count wherever a trial runs, so that its result does not depend on the
                # worker.
                with threadpool_limits(self.n_threads):
                    self._evaluate(candidate, trial)
            self._finish(candidate, trial)
            fail_lost_trials(self.study, self.callbacks)
            self.watch(self.study)
        return self.trained

    def _window(self, number: int) -> list[optuna.trial.FrozenTrial]:
        """The ended trials trial ``number`` may see, once every one of them has ended and
        every trial before it is known to be a candidate or not."""
        visible = number - self.plan.parallelism + 1
        while True:
            trials = self.study.get_trials(deepcopy=False)
            earlier = [t for t in trials if t.number < number and t.state != WAITING]
            window = [t for t in earlier if t.number < visible]
            settled = all(t.state.is_finished() for t in window) and all(
                t.state.is_finished() or "model_id" in t.user_attrs for t in earlier
            )
            if settled or self._stopping() or time.time() > self.deadline:
                return [t for t in window if t.state.is_finished()]
            fail_lost_trials(self.study, self.callbacks)  # a lost one would hold us for ever
            self.watch(self.study)
            time.sleep(0.05)

    def _surplus(self, number: int) -> bool:
        """Whether ``n_trials`` candidates come before trial ``number`` already."""
        if self.plan.n_trials is None:
            return False
        trials = self.study.get_trials(deepcopy=False)
        earlier = sum(t.number < number and _counts(t) for t in trials)
        return earlier >= self.plan.n_trials

    def _finished(self) -> bool:
        if self.should_stop():
            self.cancelled = True
            return True
        if self.study.user_attrs.get("closed"):
            return True
        trials = self.study.get_trials(deepcopy=False)
        started = sum(_counts(t) for t in trials)
        if self.plan.n_trials is not None and started >= self.plan.n_trials:
            self.counted_out = True
            return True
        # Always finish one candidate, however small the budget: a run must yield a model.
        done = any(t.state == optuna.trial.TrialState.COMPLETE for t in trials)
        return done and time.time() >= self._search_deadline()

    def _done(self) -> list[dict]:
        return _rows(self.study, complete=True)

    def _search_deadline(self, running: Candidate | None = None) -> float:
        """The budget's end less the time the final model will take: refitting, on all rows,
        the members of the ensemble the pool makes now (and ``running``, were it to join)."""
        reserve = self.study.user_attrs.get("final_fit_seconds", 0.0)
        fold_rows = len(self.splits[0][0])
        if running is not None:
            reserve += fold_fit_seconds(running.fit_seconds, running.params, fold_rows)
        train_share = fold_rows / self.plan.n_rows
        return self.deadline - 1.2 * reserve / train_share

    def _too_slow(self, family: str) -> bool:
        """Whether a trial of ``family`` would likely overrun the time left, from past trials."""
        done = self._done()
        if not done:
            return False
        past = [row["seconds"] for row in done if row["family"] == family]
        # A family not tried yet is assumed as slow as the slowest so far.
        expected = float(np.median(past)) if past else max(row["seconds"] for row in done)
        return time.time() + expected > self._search_deadline()

    def _evaluate(self, candidate: Candidate, trial) -> None:
        X, y, width = self.X, self.y, self.width
        started = time.monotonic()
        # float32: charts and ensemble weights need no more, and many classes times many rows
        # add up.
        candidate._oof = np.full((len(y), width) if width else len(y), np.nan, dtype=np.float32)
        fit_times, predict_rates, tests, means = [], [], [], []
        # A first look alone does not let the first candidate on every row be cut short.
        any_done = any(not first_look(row["params"]) for row in self._done())
        try:
            for step, (train, valid) in enumerate(self.splits):
                sample = candidate.params.get("sample_rows")
                if sample and len(train) > sample:
                    rng = np.random.default_rng(self.plan.seed + step)
                    train = np.sort(rng.choice(train, sample, replace=False))
                pipeline = make_pipeline(self.plan.profile, candidate.family, candidate.params,
                                         self.plan.seed, self.n_threads)  # fmt: skip
                tick = time.monotonic()
                # Boosting stops adding trees at the search's deadline rather than overrun it.
                timed = takes_deadline(pipeline[-1])
                stop = self._search_deadline(candidate) - time.time() + time.monotonic()
                deadline = {"model__deadline": stop} if timed else {}
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
                candidate.fold_scores.append(float(self.metric(y[valid], scored, self.classes)))
                if self.X_test is not None:
                    # Probabilities average across folds; labels are their argmax at the end.
                    tests.append(predict(pipeline, self.X_test, width))
                means.append(float(np.mean(candidate.fold_scores)))
                trial.report(means[-1], step)
                pruned = should_prune(self.history, self.study.direction, step, means)
                if step < len(self.splits) - 1 and pruned:
                    candidate.state = "pruned"
                    break
                # Stopped as soon as its pace says it would end past the search's deadline.
                folds_left = len(self.splits) - 1 - step
                candidate.fit_seconds = float(np.mean(fit_times))
                pace = (time.monotonic() - started) / (step + 1)
                finish = time.time() + folds_left * pace
                out_of_time = any_done and finish > self._search_deadline(candidate)
                if folds_left and (out_of_time or self._stopping()):
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
        if tests and candidate.state == "complete":
            candidate._test = np.mean(tests, axis=0)
            candidate.test_score = score(self.metric, self.y_test, candidate._test, self.classes)

    def _stopping(self) -> bool:
        return self.should_stop() or bool(self.study.user_attrs.get("closed"))

    def _finish(self, candidate: Candidate, trial) -> None:
        evaluation = None
        complete = candidate.state == "complete"
        if complete:
            self.trained += 1
            evaluation = evaluation_of(candidate, self.y, self.plan.profile,
                                       self.plan.class_labels, self.plan.seed)  # fmt: skip
            pooled = self._rank(candidate.score) < POOL_SIZE
            if pooled:
                try:
                    self.workdir.save_candidate(candidate.model_id, candidate._oof,
                                                candidate._test, candidate._first_fold)  # fmt: skip
                except OSError as error:  # a full disk costs the ensemble one member, no more
                    logger.warning("Could not keep candidate %s: %s", candidate.model_id, error)
                    pooled = False
        trial.set_user_attr("row", candidate.to_row())
        value = candidate.score if complete else None
        self.study.tell(trial, value, TRIAL_STATES[candidate.state])
        _release(candidate)
        _emit(self.callbacks, "candidate_finished",
              {"row": candidate.to_row(), "evaluation": evaluation})  # fmt: skip
        if complete:
            if not any(self.metric.better(row["score"], candidate.score) or (
                row["score"] == candidate.score and row["model_id"] < candidate.model_id
            ) for row in self._done()):  # fmt: skip
                _emit(self.callbacks, "best_changed", {"row": candidate.to_row()})
            if pooled:
                self._update_pool()

    def _rank(self, value: float) -> int:
        """How many complete candidates of every worker score better than ``value``."""
        return sum(self.metric.better(row["score"], value) for row in self._done())

    def _update_pool(self) -> None:
        """Drop the predictions of candidates out of the pool, and share a new estimate of
        the final model's fitting time (the ensemble the pool makes now, on a sample)."""
        done = sorted(self._done(), key=lambda r: r["score"],
                      reverse=self.metric.greater_is_better)  # fmt: skip
        for row in done[POOL_SIZE:]:
            self.workdir.drop(row["model_id"])
        pool = []
        for row in done[:POOL_SIZE]:
            saved = self.workdir.load_predictions(row["model_id"])
            if saved is not None and not first_look(row["params"]):
                candidate = Candidate(**row)
                candidate._oof = saved[0]
                pool.append(candidate)
        if not pool:
            return
        weights = pool_weights(pool, self.y, self.metric, self.classes, seed=self.plan.seed,
                               max_rows=ESTIMATE_ROWS, rounds=ESTIMATE_ROUNDS)  # fmt: skip
        fold_rows = len(self.splits[0][0])
        fits = [fold_fit_seconds(c.fit_seconds, c.params, fold_rows)
                for c, w in zip(pool, weights, strict=True) if w]  # fmt: skip
        self.study.set_user_attr("final_fit_seconds", float(sum(fits)))


def fail_lost_trials(study: optuna.Study, callbacks) -> None:
    """Fail the running trials whose worker is gone (any worker may: the first one's tell
    wins), each tried once more by whichever worker asks next."""
    now = time.time()
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        if is_lost(trial, now):
            fail_lost(study, trial, callbacks)


def fail_lost(study: optuna.Study, trial: optuna.trial.FrozenTrial, callbacks) -> None:
    model_id = trial.user_attrs.get("model_id")
    retried = not trial.user_attrs.get("retry_of") and not study.user_attrs.get("closed")
    error = "Its worker stopped while training it" + (
        "; it is being trained again elsewhere." if retried else "."
    )
    family, worker = trial.params.get("family", ""), trial.user_attrs.get("worker", "")
    row = Candidate(model_id or "", family, _params(family, trial.params), state="failed",
                    error=error, worker=worker).to_row()  # fmt: skip
    try:
        if model_id:  # through the storage: the trial is another process's
            study._storage.set_trial_user_attr(trial._trial_id, "row", row)
            # Its retry takes its place among the n_trials candidates.
            study._storage.set_trial_user_attr(trial._trial_id, "retried", retried)
        study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
    except (ValueError, RuntimeError):  # it ended meanwhile, or another worker failed it
        return
    logger.warning("Trial %s lost its worker %s", model_id or f"#{trial.number}", worker)
    if retried:
        study.enqueue_trial(trial.params, user_attrs={"retry_of": model_id})
    if model_id:
        _emit(callbacks, "candidate_finished", {"row": row, "evaluation": None})


def join_search(
    workdir, *, storage: str | None = None, n_threads: int = 1, index: int = 1,
    callbacks: list[Callable[[Event], None]] = (), should_stop: Callable[[], bool] | None = None,
    wait: float = 30,
) -> int:  # fmt: skip
    """Work on the search in ``workdir`` (started by ``AutoML.fit`` elsewhere) until it ends:
    the number of candidates this worker trained. ``storage`` is the study's database URL
    when it is not the work folder's journal; ``index`` names this worker among the others."""
    workdir = Workdir(workdir)
    give_up = time.monotonic() + wait
    while not workdir.has_plan():  # the coordinator is still writing it
        if time.monotonic() > give_up:
            return 0
        time.sleep(0.2)
    plan = workdir.read_plan()
    opened = open_storage(storage or plan.storage)
    try:
        while True:
            try:
                study = _load(plan, opened)
                break
            except KeyError:
                if time.monotonic() > give_up:
                    return 0
                time.sleep(0.2)
        X, y, X_test, y_test = workdir.read_rows()
        if X is None:
            return 0
        study.set_user_attr(f"joined:{index}", worker_name())
        trials = Trials(plan, study, workdir, X, y, X_test, y_test, n_threads=n_threads,
                        callbacks=callbacks, should_stop=should_stop)  # fmt: skip
        trained = trials.run()
        del X, y, X_test, y_test, trials
        if not study.user_attrs.get("cancelled"):
            _help_refit(plan, study, workdir, n_threads, should_stop or (lambda: False))
        return trained
    finally:
        close_storage(opened)


def _help_refit(plan: Plan, study: optuna.Study, workdir: Workdir, n_threads: int,
                should_stop: Callable[[], bool]) -> None:  # fmt: skip
    """Once the search is over for this worker: wait for the coordinator to hand the final
    model's refit out, and take a share of it."""
    me = f"refitting:{worker_name()}"
    give_up = time.monotonic() + REFIT_WAIT_SECONDS
    said = 0.0
    try:
        while not should_stop() and time.monotonic() < give_up:
            if time.monotonic() - said >= REFIT_BEAT_SECONDS:
                study.set_user_attr(me, time.time())
                said = time.monotonic()
            attrs = study.user_attrs
            if attrs.get("ended") or attrs.get("cancelled") or attrs.get("refit") == 0:
                return
            if attrs.get("refit"):
                take_refits(plan, study, workdir, attrs["refit"], n_threads, should_stop)
                return
            time.sleep(0.2)
    finally:
        with contextlib.suppress(Exception):
            study.set_user_attr(me, False)


def take_refits(plan: Plan, study: optuna.Study, workdir: Workdir, round_: int, n_threads: int,
                should_stop: Callable[[], bool] = lambda: False, rows=None) -> None:  # fmt: skip
    """Fit the members of refit round ``round_`` that wait, one at a time, until none does:
    each a trial of the study, so that two workers never take the same one, and one whose
    worker is lost is failed as a lost trial is. A member of the round handed out now, by a
    coordinator that took the search over, is fit too (not wasted) should this worker take
    one. ``rows``: round ``round_``'s, when the caller holds them."""
    held = {} if rows is None else {round_: rows}
    while not should_stop():
        rounds = {round_, study.user_attrs.get("refit")}
        trials = study.get_trials(deepcopy=False, states=(WAITING,))
        if not any(t.user_attrs.get("round") in rounds for t in trials):
            return
        trial = study.ask()
        attrs = trial.user_attrs
        if attrs.get("round") not in rounds:  # a trial the search never took, or an old round's
            study.tell(trial, state=optuna.trial.TrialState.PRUNED)
            continue
        this = attrs["round"]
        sign(trial)
        started = time.monotonic()
        try:
            with Beat(trial), threadpool_limits(n_threads):
                if this not in held:
                    held = {this: workdir.read_refit_rows(this)}
                pipeline = fit_pipeline(plan.profile, attrs["family"], attrs["params"],
                                        plan.seed, n_threads, *held[this])  # fmt: skip
            workdir.save_refit(this, attrs["refit"], pipeline)
        except Exception:  # the coordinator fits it itself
            logger.exception("Refitting %s failed", attrs["refit"])
            study.tell(trial, state=optuna.trial.TrialState.FAIL)
            continue
        study.tell(trial, time.monotonic() - started)


def _refit_trials(study: optuna.Study, round_: int) -> list[optuna.trial.FrozenTrial]:
    return [t for t in study.get_trials(deepcopy=False) if t.user_attrs.get("round") == round_]


def fit_pipeline(profile: DatasetProfile, family: str, params: dict, seed: int, threads: int,
                 X, y):  # fmt: skip
    """A new pipeline of ``family`` with ``params``, fit on ``X, y``."""
    pipeline = make_pipeline(profile, family, params, seed, threads)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pipeline.fit(X, y)


def _wait_for_helpers(study: optuna.Study, processes: list[subprocess.Popen]) -> None:
    """Until the worker processes this search started have joined it (they take seconds to
    import their libraries), so that each trains its share even of a short search."""
    give_up = time.monotonic() + HELPER_START_SECONDS
    while processes and time.monotonic() < give_up:
        joined = sum(key.startswith("joined:") for key in study.user_attrs)
        if joined >= len(processes) or any(p.poll() is not None for p in processes):
            return
        time.sleep(0.1)


def _load(plan: Plan, storage) -> optuna.Study:
    """The search's study; each worker samples and prunes its own way (``Trials``)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = OrderedSampler(plan.seed, lambda number: [])
    return optuna.load_study(study_name=plan.study_name, storage=storage, sampler=sampler,
                             pruner=optuna.pruners.NopPruner())  # fmt: skip


def portfolio_order(profile: DatasetProfile) -> list[tuple[str, int]]:
    """The portfolio's configurations in the order they are tried. On a table with text the
    linear model comes first: TF-IDF terms with a linear model are the strong, cheap baseline
    there (seconds), where boosting on a few hundred terms takes many times longer and scores
    lower."""
    if not any(column.kind == "text" for column in profile.features):
        return PORTFOLIO_ORDER
    first = ("linear", 0)
    return [first, *(entry for entry in PORTFOLIO_ORDER if entry != first)]


def first_look(params: dict) -> bool:
    """Whether a candidate is the search's first look: quick to show, trained on a sample;
    never an ensemble's member, and the final model only when it is the best there is."""
    return "sample_rows" in params


def fold_fit_seconds(fit_seconds: float | None, params: dict, fold_rows: int) -> float:
    """A candidate's seconds to fit a training fold of ``fold_rows``: a first look's, measured
    on its sample, scaled up by rows."""
    sample = params.get("sample_rows")
    scale = fold_rows / sample if sample and sample < fold_rows else 1.0
    return (fit_seconds or 0.0) * scale


def _counts(trial: optuna.trial.FrozenTrial) -> bool:
    """Whether a trial counts towards ``n_trials``: a candidate, not one lost and retried."""
    return "model_id" in trial.user_attrs and not trial.user_attrs.get("retried")


def _rows(study: optuna.Study, *, complete: bool) -> list[dict]:
    """The leaderboard rows the workers have written (only complete ones if ``complete``)."""
    states = (optuna.trial.TrialState.COMPLETE,) if complete else None
    return [t.user_attrs["row"] for t in study.get_trials(deepcopy=False, states=states)
            if "row" in t.user_attrs]  # fmt: skip


def _params(family: str, suggested: dict) -> dict:
    prefix = f"{family}__"
    return {k[len(prefix) :]: v for k, v in suggested.items() if k.startswith(prefix)}


def _classes(profile: DatasetProfile, y) -> np.ndarray | None:
    return np.unique(y) if profile.task != "regression" else None


def _width(class_labels) -> int | None:
    return None if class_labels is None else len(class_labels)


def pool_weights(pool, y, metric, classes, *, seed, max_rows=None, rounds=ROUNDS) -> np.ndarray:
    """Ensemble weights of ``pool``, chosen on the rows validated (a sample of at most
    ``max_rows`` of them, for a quick estimate), without the members it does not need."""
    rows = np.flatnonzero(_validated(pool[0]._oof, len(y)))
    if max_rows and len(rows) > max_rows:
        rows = np.random.default_rng(seed).choice(rows, max_rows, replace=False)
    oof = [c._oof[rows].astype(float) for c in pool]
    weights = select_weights(oof, y[rows], metric, classes, rounds=rounds)
    costs = [c.predict_ms_per_1k or 0.0 for c in pool]
    return lighten(oof, y[rows], metric, weights, costs, classes)


def evaluation_of(candidate: Candidate, y, profile, class_labels, seed) -> dict | None:
    # A holdout validates some rows only: the charts show those.
    seen = _validated(candidate._oof, len(y))
    labels = _classes(profile, y) if class_labels is None else class_labels
    try:
        return evaluate(profile.task, y[seen], candidate._oof[seen].astype(float), labels,
                        seed=seed)  # fmt: skip
    except Exception:  # charts are a bonus: never lose a model over them
        logger.exception("Evaluating candidate %s failed", candidate.model_id)
        return None


def _emit(callbacks, kind: str, data: dict) -> None:
    event = Event(kind, data)
    for callback in callbacks:
        callback(event)


def _validated(oof: np.ndarray, n_rows: int) -> np.ndarray:
    """Which rows out-of-fold predictions cover: all with k folds, a holdout's else."""
    return ~np.isnan(oof.reshape(n_rows, -1)).any(axis=1)


def _release(candidate: Candidate) -> None:
    candidate._oof, candidate._test, candidate._first_fold = None, None, None
