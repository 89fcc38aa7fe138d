"""A search's shared state, so that processes on one machine or on many can work on one search.

The search state is an Optuna study in storage every worker can open: a journal file (on a
volume they share) or a database (PostgreSQL). Beside it, a work folder holds what the workers
train on and what they leave for the ensemble: the plan (profile, splits, settings), the rows
(Parquet, read memory-mapped), and each pooled candidate's predictions and first-fold model.
After the search, the final model's members are refit in the same way: each is a waiting
trial that any worker still there takes, on rows the coordinator leaves in the folder.
Nothing but the configuration a worker asks for passes through the study; no data passes
through a broker.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import joblib
import numpy as np
import optuna
import pandas as pd
import pyarrow as pa

from automl.profiling import DatasetProfile
from automl.runner import runner_alive, runner_name, worker_name

# A running trial records that its worker still trains it this often; one silent for
# LOST_AFTER seconds lost its worker, and the search fails it (and tries it once more).
BEAT_SECONDS = 5
LOST_AFTER = 60
# A journal's lock left by a killed writer is broken after this long. Appends take
# milliseconds, so a live writer never holds it that long, and a lost one stalls the others
# only this long.
LOCK_GRACE_SECONDS = 10
# The median pruning rule, as Optuna's MedianPruner(n_startup_trials=5, n_warmup_steps=1).
PRUNE_STARTUP_TRIALS = 5
PRUNE_WARMUP_STEPS = 1


def open_storage(spec: str) -> optuna.storages.BaseStorage:
    """The study storage ``spec`` names: a database URL (``postgresql+psycopg://…``) or the
    path of a journal file, which every process that can write the folder may share (its
    lock is a plain file, so it holds on network file systems too)."""
    if "://" in spec:
        # Two connections a worker (its trials, its beat): a database's connection limit
        # is the first limit many workers meet (docs/scaling.md).
        engine = {"pool_pre_ping": True, "pool_size": 1, "max_overflow": 1}
        return optuna.storages.RDBStorage(spec, engine_kwargs=engine)
    lock = optuna.storages.journal.JournalFileOpenLock(spec, grace_period=LOCK_GRACE_SECONDS)
    return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(spec, lock))


def close_storage(storage: optuna.storages.BaseStorage | None) -> None:
    """Give a database storage's connections back: a worker opens one per search."""
    engine = getattr(storage, "engine", None)
    if engine is not None:
        engine.dispose()


@dataclass
class Plan:
    """What every worker of a search needs besides the rows."""

    study_name: str
    storage: str | None  # None: each worker is told where the study lives (a database URL)
    profile: DatasetProfile
    metric: str
    families: list[str]
    splits: list[tuple[np.ndarray, np.ndarray]]
    seed: int
    n_trials: int | None
    class_labels: np.ndarray | None
    n_rows: int
    # Workers meant to share the search, for its window (``OrderedSampler``): the results
    # depend on it, not on how many actually come or which trial each takes.
    parallelism: int = 1


class Workdir:
    """The folder of one search, shared by its workers."""

    def __init__(self, path):
        self.path = Path(path)
        self.trials = self.path / "trials"

    @property
    def journal(self) -> str:
        return str(self.path / "study.log")

    def write_plan(self, plan: Plan) -> None:
        self.trials.mkdir(parents=True, exist_ok=True)
        _write(self.path / "plan.pkl", lambda f: pickle.dump(plan, f))

    def read_plan(self) -> Plan:
        with open(self.path / "plan.pkl", "rb") as f:
            return pickle.load(f)

    def has_plan(self) -> bool:
        return (self.path / "plan.pkl").exists()

    def write_rows(self, X: pd.DataFrame, y, X_test=None, y_test=None) -> None:
        """The rows the search trains on, once, for every worker to read."""
        for name, frame in (("X", X), ("X_test", X_test)):
            if frame is not None:
                _write_frame(self.path / name, frame)
        for name, array in (("y", y), ("y_test", y_test)):
            if array is not None:
                _write(self.path / f"{name}.npy", lambda f, a=array: np.save(f, a))

    def read_rows(self):
        """``X, y, X_test, y_test`` as ``write_rows`` left them (the test ones may be None)."""
        X, X_test = _read_frame(self.path / "X"), _read_frame(self.path / "X_test")
        y, y_test = (
            np.load(path, mmap_mode="r") if path.exists() else None
            for path in (self.path / "y.npy", self.path / "y_test.npy")
        )
        return X, None if y is None else np.asarray(y), X_test, y_test

    def save_candidate(self, model_id: str, oof, test, first_fold) -> None:
        test = np.array([]) if test is None else test
        _write(self.trials / f"{model_id}.npz", lambda f: np.savez(f, oof=oof, test=test))
        _write(self.trials / f"{model_id}.joblib", lambda f: joblib.dump(first_fold, f))

    def load_predictions(self, model_id: str) -> tuple[np.ndarray, np.ndarray | None] | None:
        """A pooled candidate's out-of-fold and test predictions; None once dropped."""
        try:
            with np.load(self.trials / f"{model_id}.npz") as saved:
                test = saved["test"]
                return saved["oof"], (test if test.size else None)
        except FileNotFoundError:
            return None

    def load_first_fold(self, model_id: str):
        return joblib.load(self.trials / f"{model_id}.joblib")

    def drop(self, model_id: str) -> None:
        for suffix in (".npz", ".joblib"):
            (self.trials / f"{model_id}{suffix}").unlink(missing_ok=True)

    # The final refit's rows and fitted members, per round: a coordinator that takes a search
    # over hands its refit out again under a new round, so nobody mixes in the old one's.
    def write_refit_rows(self, round_: int, X: pd.DataFrame, y) -> None:
        folder = self.path / f"refit-{round_}"
        folder.mkdir(exist_ok=True)
        _write_frame(folder / "X", X)
        _write(folder / "y.npy", lambda f: np.save(f, y))

    def read_refit_rows(self, round_: int):
        folder = self.path / f"refit-{round_}"
        return _read_frame(folder / "X"), np.load(folder / "y.npy")

    def save_refit(self, round_: int, model_id: str, pipeline) -> None:
        path = self.path / f"refit-{round_}" / f"{model_id}.joblib"
        _write(path, lambda f: joblib.dump(pipeline, f))

    def load_refit(self, round_: int, model_id: str):
        return joblib.load(self.path / f"refit-{round_}" / f"{model_id}.joblib")


def _write(path: Path, dump) -> None:
    """Write ``path`` whole or not at all: a reader on another machine never sees half."""
    partial = path.with_name(f".{path.name}.{worker_name()}.partial")
    try:
        with open(partial, "wb") as f:
            dump(f)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def _write_frame(path: Path, frame: pd.DataFrame) -> None:
    # Parquet, memory-mapped by readers; a column Parquet cannot hold (mixed Python objects
    # in a user's frame) falls back to a pickle.
    try:
        _write(path.with_suffix(".parquet"), lambda f: frame.to_parquet(f, index=False))
    except (pa.ArrowException, ValueError, TypeError):
        _write(path.with_suffix(".pkl"), lambda f: pickle.dump(frame, f))


def _read_frame(path: Path) -> pd.DataFrame | None:
    if path.with_suffix(".parquet").exists():
        return pd.read_parquet(path.with_suffix(".parquet"), memory_map=True)
    if path.with_suffix(".pkl").exists():
        with open(path.with_suffix(".pkl"), "rb") as f:
            return pickle.load(f)
    return None


class Beat:
    """A thread that marks a running trial as alive until the trial ends."""

    def __init__(self, trial: optuna.Trial):
        self.trial = trial
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)

    def __enter__(self) -> Beat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._done.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._done.wait(BEAT_SECONDS):
            # A storage hiccup skips one beat; LOST_AFTER allows many.
            with contextlib.suppress(Exception):
                self.trial.set_user_attr("beat", time.time())


def sign(trial: optuna.Trial) -> None:
    """Name this process on ``trial``: ``worker`` for the leaderboard, ``runner`` for whoever
    asks whether it still trains it."""
    trial.set_user_attr("worker", worker_name())
    trial.set_user_attr("runner", runner_name())


def is_lost(trial: optuna.trial.FrozenTrial, now: float) -> bool:
    """Whether a running trial's worker is gone: no longer alive on this machine, or (on
    another) silent for ``LOST_AFTER`` seconds."""
    if trial.state != optuna.trial.TrialState.RUNNING:
        return False
    if runner_alive(trial.user_attrs.get("runner", "")) is False:
        return True
    beat = last_beat(trial)
    return beat is not None and now - beat > LOST_AFTER


def last_beat(trial: optuna.trial.FrozenTrial) -> float | None:
    """When ``trial``'s worker last said it trains it: before its first beat (or if it was
    killed between asking for the trial and naming itself on it), when the trial started."""
    beat = trial.user_attrs.get("beat")
    if beat is None and trial.datetime_start is not None:
        beat = trial.datetime_start.timestamp()
    return beat


class OrderedSampler(optuna.samplers.BaseSampler):
    """TPE that sees, for trial n, only the trials numbered below n - parallelism + 1 (all
    finished by then, see ``Trials.history``), with a seed of its own: so a search with a
    fixed seed, ``n_trials`` and parallelism asks the same configurations whichever worker
    takes which trial and whenever each ends. Each trial's suggestions come from a copy of
    that history in memory."""

    def __init__(self, seed: int, history: Callable[[int], list]):
        self.seed, self.history = seed, history
        self._shadow: tuple[int, optuna.Trial] | None = None

    def infer_relative_search_space(self, study, trial):
        return {}

    def sample_relative(self, study, trial, search_space):
        return {}

    def sample_independent(self, study, trial, param_name, param_distribution):
        if self._shadow is None or self._shadow[0] != trial.number:
            tpe = optuna.samplers.TPESampler(
                seed=self.seed + trial.number, n_startup_trials=10, multivariate=True
            )
            shadow = optuna.create_study(direction=study.direction, sampler=tpe)
            shadow.add_trials(self.history(trial.number))
            self._shadow = (trial.number, shadow.ask())
        return _suggest(self._shadow[1], param_name, param_distribution)


def _suggest(trial: optuna.Trial, name: str, distribution):
    d = optuna.distributions
    if isinstance(distribution, d.CategoricalDistribution):
        return trial.suggest_categorical(name, distribution.choices)
    if isinstance(distribution, d.IntDistribution):
        return trial.suggest_int(name, distribution.low, distribution.high,
                                 step=distribution.step, log=distribution.log)  # fmt: skip
    return trial.suggest_float(name, distribution.low, distribution.high,
                               step=distribution.step, log=distribution.log)  # fmt: skip


def should_prune(history: list, direction, step: int, fold_means: list[float]) -> bool:
    """The median rule (Optuna's ``MedianPruner``) against ``history`` only: prune when the
    best fold mean so far is worse than the median of the complete trials' at ``step``."""
    complete = [t for t in history if t.state == optuna.trial.TrialState.COMPLETE]
    if step < PRUNE_WARMUP_STEPS or len(complete) < PRUNE_STARTUP_TRIALS:
        return False
    others = [t.intermediate_values[step] for t in complete if step in t.intermediate_values]
    if not others:
        return False
    maximize = direction == optuna.study.StudyDirection.MAXIMIZE
    median, mine = float(np.median(others)), (max if maximize else min)(fold_means)
    return mine < median if maximize else mine > median
