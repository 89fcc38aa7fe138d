"""Model families: how to build each one, where to search, and what to try first.

A registry of small classes instead of if-chains (FLAML's idea). Each learner gives a
``portfolio`` of configurations that are strong on most tables, tried first so a useful model
exists within seconds, and a ``search_space`` whose bounds depend on the data's size.
"""

from __future__ import annotations

import time

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, clone
from sklearn.ensemble import (
    ExtraTreesClassifier,
    ExtraTreesRegressor,
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from automl.features import Inputs, make_preprocessor, native_categories

# A regression target never below 0 and at least this skewed (a long right tail: prices,
# claims, counts) is also tried on a log scale, candidate by candidate.
SKEWED = 0.75
# Fully grown trees hold about two nodes a training row: on a large table a forest of
# hundreds would take gigabytes, in memory and in the saved model. Its trees' leaves are
# capped so that the whole forest holds about this many bytes.
FOREST_BYTES = 300 * 2**20
NODE_BYTES = 64  # scikit-learn's tree node, besides its values (8 bytes per class or output)
MIN_LEAVES = 256


class Learner:
    name: str
    title: str  # what people read
    portfolio: list[dict] = []
    inputs = Inputs()  # what it needs of its features (automl.features.Inputs)

    def make(self, params: dict, profile, seed: int, n_jobs: int, categories: int = 0):
        """The model for ``profile``'s task and size; ``categories``: how many leading input
        columns are category codes."""
        raise NotImplementedError

    def search_space(self, trial, n_rows: int) -> dict:
        raise NotImplementedError


class Linear(Learner):
    name = "linear"
    title = "Linear model (logistic or ridge regression)"
    inputs = Inputs(scaled=True)
    portfolio = [{"C": 1.0}]

    def make(self, params, profile, seed, n_jobs, categories=0):
        if profile.task == "regression":
            return Ridge(alpha=1.0 / params["C"])
        return LogisticRegression(C=params["C"], max_iter=2000)

    def search_space(self, trial, n_rows):
        return {"C": trial.suggest_float("linear__C", 1e-3, 1e2, log=True)}


# A timed fit of trees grows this many first, then more each round.
FIRST_ROUNDS = 25


class _Timed:
    """Trees (a boosting's or a forest's) that stop growing, with those they have, past a
    deadline: scikit-learn's estimators have no callbacks, so a timed fit grows in rounds,
    each a warm start continuing the last (the same trees as one fit), until the full
    count, early stopping or the deadline."""

    size: str  # the parameter that counts the trees

    def fit(self, X, y, deadline: float | None = None):
        if deadline is None:
            return super().fit(X, y)
        target, rounds = getattr(self, self.size), FIRST_ROUNDS
        self.warm_start = True
        try:
            while True:
                setattr(self, self.size, min(rounds, target))
                super().fit(X, y)
                full = getattr(self, self.size) >= target
                if full or self._stopped_early() or time.monotonic() > deadline:
                    break
                rounds = self._more(rounds)
        finally:
            setattr(self, self.size, target)
            self.warm_start = False
        return self

    def _stopped_early(self) -> bool:
        return False


class _TimedBoosting(_Timed):
    # Each round bins the rows again: doubling keeps the rounds few.
    size = "max_iter"

    def _stopped_early(self) -> bool:
        return self.n_iter_ < self.max_iter

    def _more(self, rounds: int) -> int:
        return 2 * rounds


class _TimedForest(_Timed):
    # A forest's trees cost alike and a round's own overhead is small: even rounds keep the
    # overrun to one round's trees.
    size = "n_estimators"

    def _more(self, rounds: int) -> int:
        return rounds + FIRST_ROUNDS


class TimedHGBClassifier(_TimedBoosting, HistGradientBoostingClassifier):
    pass


class TimedHGBRegressor(_TimedBoosting, HistGradientBoostingRegressor):
    pass


class TimedRandomForestClassifier(_TimedForest, RandomForestClassifier):
    pass


class TimedRandomForestRegressor(_TimedForest, RandomForestRegressor):
    pass


class TimedExtraTreesClassifier(_TimedForest, ExtraTreesClassifier):
    pass


class TimedExtraTreesRegressor(_TimedForest, ExtraTreesRegressor):
    pass


class _Forest(Learner):
    classes: tuple[type, type]
    portfolio = [{"n_estimators": 300, "max_features": "sqrt", "min_samples_leaf": 1}]

    def make(self, params, profile, seed, n_jobs, categories=0):
        classifier, regressor = self.classes
        regression = profile.task == "regression"
        max_features = params["max_features"]
        if regression and max_features == "sqrt":
            max_features = 1.0 / 3  # the usual default for regression forests
        return (regressor if regression else classifier)(
            n_estimators=params["n_estimators"],
            max_features=max_features,
            min_samples_leaf=params["min_samples_leaf"],
            max_leaf_nodes=_max_leaves(params["n_estimators"], profile),
            n_jobs=n_jobs,
            random_state=seed,
        )

    def search_space(self, trial, n_rows):
        p = self.name
        return {
            "n_estimators": trial.suggest_int(f"{p}__n_estimators", 100, 500, step=100),
            "max_features": trial.suggest_categorical(f"{p}__max_features", ["sqrt", 0.5, 1.0]),
            "min_samples_leaf": trial.suggest_int(f"{p}__min_samples_leaf", 1, 20, log=True),
        }


def _max_leaves(n_estimators: int, profile) -> int | None:
    """Leaves a tree of the forest may grow: None (unbounded) while the forest's nodes, about
    two a training row in each tree, stay within ``FOREST_BYTES``."""
    outputs = len(profile.target_summary.get("classes", ())) or 1
    leaves = FOREST_BYTES / n_estimators / (2 * (NODE_BYTES + 8 * outputs))
    return None if leaves >= profile.n_rows else max(int(leaves), MIN_LEAVES)


class RandomForest(_Forest):
    name = "random_forest"
    title = "Random forest"
    classes = (TimedRandomForestClassifier, TimedRandomForestRegressor)


class ExtraTrees(_Forest):
    name = "extra_trees"
    title = "Extra trees"
    classes = (TimedExtraTreesClassifier, TimedExtraTreesRegressor)


class HistGradientBoosting(Learner):
    name = "hist_gradient_boosting"
    title = "Gradient boosting (scikit-learn)"
    # It splits on category codes itself, grouping them as the data says, and needs a dense
    # matrix.
    inputs = Inputs(native_categories=True, dense=True)
    # The first is scikit-learn's default, the floor every search must reach.
    portfolio = [
        {"learning_rate": 0.1, "max_iter": 100, "max_leaf_nodes": 31, "min_samples_leaf": 20,
         "l2": 1e-6},
        {"learning_rate": 0.05, "max_iter": 300, "max_leaf_nodes": 15, "min_samples_leaf": 40,
         "l2": 1.0},
    ]  # fmt: skip

    def make(self, params, profile, seed, n_jobs, categories=0):
        model = TimedHGBRegressor if profile.task == "regression" else TimedHGBClassifier
        # Early stopping ("auto": above 10,000 rows) holds out 10% of the training fold, so
        # the rounds are chosen without seeing the rows the fold is scored on; below that,
        # the number of rounds is a searched parameter and every row trains.
        return model(
            categorical_features=list(range(categories)) or None,
            learning_rate=params["learning_rate"],
            max_iter=params["max_iter"],
            max_leaf_nodes=params["max_leaf_nodes"],
            min_samples_leaf=params["min_samples_leaf"],
            l2_regularization=params["l2"],
            early_stopping="auto",
            random_state=seed,
        )

    def search_space(self, trial, n_rows):
        p = self.name
        return {
            "learning_rate": trial.suggest_float(f"{p}__learning_rate", 0.01, 0.3, log=True),
            "max_iter": trial.suggest_int(f"{p}__max_iter", 50, 1000, log=True),
            "max_leaf_nodes": trial.suggest_int(f"{p}__max_leaf_nodes", 4, 128, log=True),
            "min_samples_leaf": trial.suggest_int(f"{p}__min_samples_leaf", 2, 100, log=True),
            "l2": trial.suggest_float(f"{p}__l2", 1e-6, 10.0, log=True),
        }


# Boosting rounds at most, and rounds without improvement on the inner split before stopping.
MAX_ROUNDS = 2000
PATIENCE = 50


class EarlyStopped(BaseEstimator):
    """Gradient boosting that picks its number of rounds on an inner split of the data it is
    fitted on: taking the stopping rows from the training rows keeps the validation fold
    unseen. Subclasses say how their library boosts with an evaluation set.
    """

    def __init__(self, task="binary", params=None, seed=0, n_jobs=1):
        self.task = task
        self.params = params
        self.seed = seed
        self.n_jobs = n_jobs

    def fit(self, X, y, deadline: float | None = None):
        """Fit on ``X``, ``y``; past ``deadline`` (a ``time.monotonic()`` time) boosting stops
        with the rounds it has, so one slow candidate cannot overrun a search's budget."""
        stratify = y if self.task != "regression" and np.bincount(y).min() >= 2 else None
        X_fit, X_stop, y_fit, y_stop = train_test_split(
            X, y, test_size=0.1, random_state=self.seed, stratify=stratify
        )
        if self.task != "regression" and len(np.unique(y_fit)) < len(np.unique(y)):
            X_fit, y_fit = X, y  # a class lost to the split: stop on training rows instead
        # No second fit on every row with the rounds found: that would double the cost of
        # every candidate, for a tenth more rows.
        self.model_ = self._boost(X_fit, y_fit, X_stop, y_stop, deadline)
        if self.task != "regression":
            self.classes_ = self.model_.classes_
        return self

    def _boost(self, X_fit, y_fit, X_stop, y_stop, deadline):
        raise NotImplementedError

    def predict(self, X):
        return self.model_.predict(X)

    def predict_proba(self, X):
        return self.model_.predict_proba(X)


class EarlyStoppedXGB(EarlyStopped):
    def _boost(self, X_fit, y_fit, X_stop, y_stop, deadline):
        import xgboost as xgb

        kind = xgb.XGBRegressor if self.task == "regression" else xgb.XGBClassifier
        model = kind(
            n_estimators=MAX_ROUNDS,
            early_stopping_rounds=PATIENCE,
            tree_method="hist",
            n_jobs=self.n_jobs,
            random_state=self.seed,
            verbosity=0,
            callbacks=[_xgb_deadline(deadline)] if deadline else None,
            **(self.params or {}),
        )
        model.fit(X_fit, y_fit, eval_set=[(X_stop, y_stop)], verbose=False)
        return model.set_params(callbacks=None)


def _xgb_deadline(deadline: float):
    import xgboost as xgb

    class Deadline(xgb.callback.TrainingCallback):
        def after_iteration(self, model, epoch, evals_log) -> bool:
            return time.monotonic() > deadline

    return Deadline()


def _lgbm_deadline(deadline: float):
    import lightgbm as lgb

    def stop(env) -> None:
        if time.monotonic() > deadline:
            raise lgb.callback.EarlyStopException(env.iteration, env.evaluation_result_list)

    stop.order = 40  # after early stopping's own check
    return stop


class XGBClassifierES(ClassifierMixin, EarlyStoppedXGB):
    pass


class XGBRegressorES(RegressorMixin, EarlyStoppedXGB):
    pass


class EarlyStoppedLGBM(EarlyStopped):
    def _boost(self, X_fit, y_fit, X_stop, y_stop, deadline):
        import lightgbm as lgb

        kind = lgb.LGBMRegressor if self.task == "regression" else lgb.LGBMClassifier
        model = kind(
            n_estimators=MAX_ROUNDS,
            subsample_freq=1,
            n_jobs=self.n_jobs,
            random_state=self.seed,
            verbose=-1,
            **(self.params or {}),
        )
        stops = [lgb.early_stopping(PATIENCE, verbose=False)]
        if deadline:
            stops.append(_lgbm_deadline(deadline))
        return model.fit(X_fit, y_fit, eval_X=X_stop, eval_y=y_stop, callbacks=stops)


class LGBMClassifierES(ClassifierMixin, EarlyStoppedLGBM):
    pass


class LGBMRegressorES(RegressorMixin, EarlyStoppedLGBM):
    pass


class _Boosting(Learner):
    estimators: tuple[type, type]  # classifier, regressor: ``EarlyStopped`` subclasses

    def make(self, params, profile, seed, n_jobs, categories=0):
        classifier, regressor = self.estimators
        kind = regressor if profile.task == "regression" else classifier
        return kind(task=profile.task, params=params, seed=seed, n_jobs=n_jobs)


class LightGBM(_Boosting):
    estimators = (LGBMClassifierES, LGBMRegressorES)
    name = "lightgbm"
    title = "LightGBM"
    portfolio = [
        {"learning_rate": 0.05, "num_leaves": 31, "min_child_samples": 20,
         "colsample_bytree": 1.0, "subsample": 1.0, "reg_lambda": 1e-3},
        {"learning_rate": 0.03, "num_leaves": 128, "min_child_samples": 3,
         "colsample_bytree": 0.9, "subsample": 1.0, "reg_lambda": 1e-3},
    ]  # fmt: skip

    def search_space(self, trial, n_rows):
        p = self.name
        return {
            "learning_rate": trial.suggest_float(f"{p}__learning_rate", 0.01, 0.2, log=True),
            "num_leaves": trial.suggest_int(f"{p}__num_leaves", 4, 256, log=True),
            "min_child_samples": trial.suggest_int(f"{p}__min_child_samples", 2, 100, log=True),
            "colsample_bytree": trial.suggest_float(f"{p}__colsample_bytree", 0.3, 1.0),
            "subsample": trial.suggest_float(f"{p}__subsample", 0.5, 1.0),
            "reg_lambda": trial.suggest_float(f"{p}__reg_lambda", 1e-3, 10.0, log=True),
        }


class XGBoost(_Boosting):
    estimators = (XGBClassifierES, XGBRegressorES)
    name = "xgboost"
    title = "XGBoost"
    portfolio = [
        {"learning_rate": 0.05, "max_depth": 6, "subsample": 0.8, "colsample_bytree": 0.8,
         "min_child_weight": 1.0, "reg_lambda": 1.0},
        {"learning_rate": 0.03, "max_depth": 4, "subsample": 0.9, "colsample_bytree": 0.6,
         "min_child_weight": 3.0, "reg_lambda": 3.0},
    ]  # fmt: skip

    def search_space(self, trial, n_rows):
        p = self.name
        return {
            "learning_rate": trial.suggest_float(f"{p}__learning_rate", 0.01, 0.3, log=True),
            "max_depth": trial.suggest_int(f"{p}__max_depth", 2, 10),
            "subsample": trial.suggest_float(f"{p}__subsample", 0.5, 1.0),
            "colsample_bytree": trial.suggest_float(f"{p}__colsample_bytree", 0.3, 1.0),
            "min_child_weight": trial.suggest_float(f"{p}__min_child_weight", 0.5, 20, log=True),
            "reg_lambda": trial.suggest_float(f"{p}__reg_lambda", 1e-3, 10.0, log=True),
        }


class LogTarget(RegressorMixin, BaseEstimator):
    """A regressor that learns log(1 + y) and answers in y's units. On a target with a long
    right tail, squared error on the raw scale is ruled by its few largest values; on the log
    scale every row's relative error counts alike."""

    def __init__(self, model=None):
        self.model = model

    def fit(self, X, y, deadline: float | None = None):
        y = np.asarray(y, dtype=float)
        self.model_ = clone(self.model)
        timed = {"deadline": deadline} if takes_deadline(self.model_) else {}
        self.model_.fit(X, np.log1p(y), **timed)
        # exp() of a linear model's answer far outside the training rows would overflow:
        # answers stay between 0 and twice the largest target seen.
        self.limits_ = (0.0, float(np.log1p(2 * y.max())))
        return self

    def predict(self, X):
        return self.to_target(self.model_.predict(X))

    def to_target(self, log_answer):
        """Answers on the log scale, in the target's units."""
        return np.expm1(np.clip(log_answer, *self.limits_))


def takes_deadline(estimator) -> bool:
    """Whether ``estimator.fit`` takes a ``deadline`` (a ``time.monotonic()`` time) past which
    it stops with what it has learnt."""
    if isinstance(estimator, LogTarget):
        return takes_deadline(estimator.model)
    return isinstance(estimator, (EarlyStopped, _Timed))


def fitted_layers(estimator) -> list:
    """A fitted model and those it wraps, outermost first: a log-scale target's model, an
    early-stopped booster's library model."""
    layers = [estimator]
    while isinstance(layers[-1], (LogTarget, EarlyStopped)):
        layers.append(layers[-1].model_)
    return layers


def target_scales(profile) -> list[str]:
    """The scales a candidate may learn the target on: "raw", and also "log" for a
    regression target that is never negative and has a long right tail."""
    summary = profile.target_summary
    skewed = summary.get("min", -1) >= 0 and summary.get("skew", 0) >= SKEWED
    return ["raw", "log"] if profile.task == "regression" and skewed else ["raw"]


def make_pipeline(profile, family: str, params: dict, seed: int, n_jobs: int) -> Pipeline:
    """The unfitted pipeline of one candidate: its family's features, then its model (on the
    target's log scale when ``params["target_scale"]`` is "log")."""
    params = dict(params)
    scale = params.pop("target_scale", "raw")
    params.pop("sample_rows", None)  # the rows a search trained it on: the caller's choice
    learner = LEARNERS[family]
    model = learner.make(
        params, profile, seed, n_jobs, categories=native_categories(profile, learner.inputs)
    )
    if scale == "log":
        model = LogTarget(model)
    return Pipeline([("features", make_preprocessor(profile, learner.inputs)), ("model", model)])


# Not a learner: the leaderboard's name for a weighted blend of other candidates.
ENSEMBLE = "ensemble"
ENSEMBLE_TITLE = "Weighted ensemble"


def family_title(family: str) -> str:
    """What people read for a leaderboard family."""
    if family == ENSEMBLE:
        return ENSEMBLE_TITLE
    learner = LEARNERS.get(family)
    return learner.title if learner else family


LEARNERS: dict[str, Learner] = {
    learner.name: learner
    for learner in [
        HistGradientBoosting(),
        LightGBM(),
        XGBoost(),
        RandomForest(),
        ExtraTrees(),
        Linear(),
    ]
}
