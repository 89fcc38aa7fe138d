"""Reason codes: why a model answered what it did, row by row, as contributions of columns.

For each row, a base value and one signed contribution per raw column add up exactly to the
model's answer: the predicted value in regression; in classification the probability of the
explained class (the positive class for yes/no targets, else the predicted one).

Each model family gives its contributions the way it can exactly:

- XGBoost and LightGBM: their own TreeSHAP contributions (``pred_contribs``, ``pred_contrib``);
- linear models: each input's weight times its value, the intercept as the base;
- forests and scikit-learn's histogram boosting: exact TreeSHAP too, by XGBoost's code on a
  copy of their trees (``automl.treeshap``); where the copy cannot follow the model (splits
  on category sets, a value 32-bit floats do not hold), each split on the row's path credits
  its column with the change of the expected value it makes (path attribution, Saabas);
- an ensemble: the weighted sum of its members' contributions.

Families whose answer is a margin (log-odds, softmax logits) are explained in margin space,
then each row's contributions are scaled by one factor so that they add up to the probability
(the rescale rule). A yes/no model's probability rises with its one margin: the signs and the
proportions stay those of the margin. With several classes, a column moves every class's
margin, and the explained class's probability can fall while its own margin rises (the others
rising more): each column's margins are first carried into that probability by the softmax's
slope (averaged at the base and at the answer), then rescaled.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.linear_model import LogisticRegression

from automl.ensemble import Blend
from automl.exceptions import AutoMLError
from automl.features import feature_columns
from automl.learners import LogTarget, fitted_layers
from automl.treeshap import forest_contributions, hist_contributions
from automl.wording import plain

TOP = 5
# Rows explained at a time: contributions are computed on dense features, 20,000 columns wide
# for a text column's words, so a batch of 10,000 rows at once would take gigabytes.
CHUNK = 500
# Every class at once, for ``_raw_contributions``.
ALL = slice(None)


def explain(model, X: pd.DataFrame, top: int | None = TOP) -> list[dict]:
    """Reason codes for each row of ``X`` (raw rows, as ``Model.predict`` takes them).

    Returns
    -------
    list of dict, one per row
        ``base``, ``output`` (base plus every contribution), ``explained`` (the class
        explained, or None in regression) and ``contributions``: ``{"column", "value",
        "contribution"}`` for the ``top`` columns of largest contribution in size (all when
        None), the value as sent.
    """
    read = model.validate(X)
    classes = model.classes_
    k = None
    if model.is_classifier:
        probabilities = model.pipeline.predict_proba(read)
        k = np.full(len(X), 1) if len(classes) == 2 else probabilities.argmax(axis=1)
    names = [c["name"] for c in model.schema]
    parts = [
        _contributions(model.pipeline, read.iloc[start : start + CHUNK], names,
                       None if k is None else k[start : start + CHUNK], _n_classes(model))
        for start in range(0, len(read), CHUNK)
    ]  # fmt: skip
    base = np.concatenate([b for b, _ in parts])
    contributions = np.concatenate([c for _, c in parts])
    rows = []
    for i in range(len(X)):
        order = np.argsort(-np.abs(contributions[i]), kind="stable")[: top or len(names)]
        reasons = [_reason(X, names[j], i, contributions[i, j]) for j in order]
        rows.append(
            {
                "base": float(base[i]),
                "output": float(base[i] + contributions[i].sum()),
                "explained": None if k is None else plain(classes[k[i]]),
                "contributions": reasons,
            }
        )
    return rows


def _reason(X: pd.DataFrame, name: str, i: int, contribution: float) -> dict:
    value = X[name].iloc[i] if name in X.columns else None
    return {"column": name, "value": plain(value), "contribution": float(contribution)}


def _n_classes(model) -> int | None:
    return None if model.classes_ is None else len(model.classes_)


def _contributions(predictor, X, names, k, n_classes):
    """``base`` (n,) and contributions (n, columns) of ``predictor`` for class ``k`` of each
    row (None in regression), in the model's output space."""
    if isinstance(predictor, Blend):
        base, total = np.zeros(len(X)), np.zeros((len(X), len(names)))
        for pipeline, weight in zip(predictor.pipelines, predictor.weights, strict=True):
            b, c = _contributions(pipeline, X, names, k, n_classes)
            base, total = base + weight * b, total + weight * c
        return base, total
    features, layers = predictor[:-1], fitted_layers(predictor[-1])
    estimator = layers[-1]
    Z = features.transform(X)
    # XGBoost reads the entries a sparse matrix leaves out as missing, not as 0: it is
    # explained on the matrix it answers from. The others are explained on dense rows.
    if not (sparse.issparse(Z) and hasattr(estimator, "get_booster")):
        Z = Z.toarray() if sparse.issparse(Z) else np.asarray(Z, dtype=float)
    owners = np.array([names.index(c) for c in feature_columns(features[0])])
    if k is None:
        base, phi = _raw_contributions(estimator, Z, None)
        if isinstance(layers[0], LogTarget):  # from the log scale to the target's units
            to_target = layers[0].to_target
            base, phi = _carried(to_target(base), to_target(base + phi.sum(axis=1)), phi,
                                 slope=np.exp(base))  # fmt: skip
    else:
        base, phi = _class_contributions(estimator, Z, k, n_classes)
    by_column = np.zeros((len(X), len(names)))
    np.add.at(by_column.T, owners, phi.T)
    return base, by_column


def _class_contributions(estimator, Z, k, n_classes):
    """Contributions to the probability of class ``k[i]`` on each row ``i``."""
    known = list(getattr(estimator, "classes_", range(n_classes)))
    base, phi = np.zeros(Z.shape[0]), np.zeros(Z.shape)
    for code in np.unique(k):
        rows = np.flatnonzero(k == code)
        if code not in known:  # a class this member never saw: probability 0, nothing to say
            continue
        column = known.index(code)
        if not _is_margin(estimator):
            base[rows], phi[rows] = _raw_contributions(estimator, Z[rows], column)
            continue
        probability = estimator.predict_proba(Z[rows])
        if len(known) > 2:
            base_probability, c = _softmax_contributions(estimator, Z[rows], probability, column)
            slope = 1.0  # already in probability
        else:
            b, c = _raw_contributions(estimator, Z[rows], column)
            base_probability = 1 / (1 + np.exp(-b))  # the sign of the margin is the class's
            slope = probability[:, column] * (1 - probability[:, column])
        base[rows], phi[rows] = _carried(base_probability, probability[:, column], c, slope)
    return base, phi


def _carried(start, end, phi, slope):
    """``start`` and contributions ``phi`` to a model's raw output (its margin, or a log)
    carried onto an answer that moves from ``start`` to ``end`` as that output moves: each
    column keeps its share of the change, or moves by ``slope`` where the output barely
    does."""
    linear = phi.sum(axis=1)
    steady = np.abs(linear) < 1e-9
    factor = np.where(steady, slope, (end - start) / np.where(steady, 1, linear))
    return start, phi * factor[:, None]


def _softmax_contributions(estimator, Z, probability, column):
    """The probability of class ``column`` at every class's base margin, and each feature's
    margins carried into that probability: the sum over classes c of the slope of the
    probability along c's margin, p_k (1[k = c] - p_c), times the feature's share of it."""
    bases, phis = _raw_contributions(estimator, Z, ALL)
    exp = np.exp(bases - bases.max(axis=1, keepdims=True))
    base_probability = exp / exp.sum(axis=1, keepdims=True)
    slope = (_softmax_slope(base_probability, column) + _softmax_slope(probability, column)) / 2
    return base_probability[:, column], np.einsum("nc,ncf->nf", slope, phis)


def _softmax_slope(probability, column):
    """The slope of class ``column``'s probability along each class's margin, row by row."""
    slope = -probability[:, [column]] * probability
    slope[:, column] += probability[:, column]
    return slope


def _is_margin(estimator) -> bool:
    return not hasattr(estimator, "estimators_")  # forests average probabilities


def _raw_contributions(estimator, Z, column):
    """``base`` and contributions (n, features) of the raw output for class ``column`` (its
    margin, or a forest's probability; the value in regression); for ``ALL`` of a model with
    a margin per class, every class's: (n, classes) and (n, classes, features)."""
    native = hasattr(estimator, "get_booster") or hasattr(estimator, "booster_")
    if column is ALL and not native:  # XGBoost and LightGBM give every class in one pass
        each = [_raw_contributions(estimator, Z, j) for j in range(len(estimator.classes_))]
        return np.column_stack([b for b, _ in each]), np.stack([c for _, c in each], axis=1)
    if hasattr(estimator, "get_booster"):
        return _xgboost(estimator, Z, column)
    if hasattr(estimator, "booster_"):
        return _lightgbm(estimator, Z, column)
    if hasattr(estimator, "coef_"):
        return _linear(estimator, Z, column)
    if hasattr(estimator, "estimators_"):
        return _forest(estimator, Z, column)
    if isinstance(estimator, (HistGradientBoostingClassifier, HistGradientBoostingRegressor)):
        return _hist_boosting(estimator, Z, column)
    raise AutoMLError(f"This model ({type(estimator).__name__}) gives no reason codes.")


def _binary_side(values, column, n_known):
    """A yes/no model's one margin is the second class's: the first class's is its opposite."""
    return -values if n_known == 2 and column == 0 else values


def _xgboost(estimator, Z, column):
    import xgboost as xgb

    best = getattr(estimator, "best_iteration", None)
    rounds = (0, best + 1) if best is not None else (0, 0)
    booster, data = estimator.get_booster(), xgb.DMatrix(Z)
    out = booster.predict(data, pred_contribs=True, iteration_range=rounds).astype(float)
    margin = booster.predict(data, output_margin=True, iteration_range=rounds).astype(float)
    if out.ndim == 3:  # one margin per class, all of them in one pass for ALL
        out, margin = out[:, column], margin[:, column]
    elif column is not None:
        out, margin = _binary_side(out, column, 2), _binary_side(margin, column, 2)
    # Summed in float32 the contributions miss the margin by its rounding: the base takes it.
    phi = out[..., :-1]
    return margin - phi.sum(axis=-1), phi


def _lightgbm(estimator, Z, column):
    out = np.asarray(estimator.predict(Z, pred_contrib=True), dtype=float)
    width = Z.shape[1] + 1
    if column is not None and out.shape[1] > width:  # classes side by side
        out = out.reshape(len(out), -1, width)[:, column]
    elif column is not None:
        out = _binary_side(out, column, 2)
    return out[..., -1], out[..., :-1]


def _linear(estimator, Z, column):
    coef, intercept = np.atleast_2d(estimator.coef_), np.atleast_1d(estimator.intercept_)
    row = 0 if coef.shape[0] == 1 else column
    phi, base = Z * coef[row], np.full(len(Z), float(intercept[row]))
    if isinstance(estimator, LogisticRegression) and coef.shape[0] == 1:
        phi, base = _binary_side(phi, column, 2), _binary_side(base, column, 2)
    return base, phi


def _forest(estimator, Z, column):
    """Exact TreeSHAP of the averaged trees, whose values are class shares."""
    raw = estimator.predict(Z) if column is None else estimator.predict_proba(Z)[:, column]
    exact = forest_contributions(estimator, Z, column)
    return _exact_or_paths(exact, raw, lambda rows: _forest_paths(estimator, Z[rows], column))


def _exact_or_paths(exact, raw, paths):
    """TreeSHAP's ``exact`` (base, contributions, output) on the rows where its output is the
    model's ``raw`` one, ``paths(rows)`` on the others (see ``automl.treeshap``); the base takes
    what 32-bit sums miss of the answer, so that every row adds up to it exactly."""
    if exact is None:
        return paths(np.arange(len(raw)))
    _, phi, total = exact
    phi = phi.copy()
    base = raw - phi.sum(axis=1)
    astray = np.flatnonzero(np.abs(total - raw) > 1e-5 * (1 + np.abs(raw)))
    if len(astray):
        base[astray], phi[astray] = paths(astray)
    return base, phi


def _forest_paths(estimator, Z, column):
    """Path attribution averaged over the trees."""
    base, phi = np.zeros(len(Z)), np.zeros(Z.shape)
    for tree in estimator.estimators_:
        b, c = _tree_paths(tree, Z, column)
        base, phi = base + b, phi + c
    return base / len(estimator.estimators_), phi / len(estimator.estimators_)


def _tree_paths(tree, Z, column):
    t = tree.tree_
    if column is None:
        values = t.value[:, 0, 0]
    else:  # what the tree predicts at each node: the class's share
        values = t.value[:, 0, column] / t.value[:, 0, :].sum(axis=1)
    parent = np.full(t.node_count, -1)
    internal = np.flatnonzero(t.children_left >= 0)
    parent[t.children_left[internal]] = internal
    parent[t.children_right[internal]] = internal
    children = np.flatnonzero(parent >= 0)
    credit = sparse.csr_matrix(
        (values[children] - values[parent[children]],
         (children, t.feature[parent[children]])), shape=(t.node_count, Z.shape[1]),
    )  # fmt: skip
    paths = tree.decision_path(Z)
    return np.full(len(Z), values[0]), np.asarray((paths @ credit).todense())


def _hist_boosting(estimator, Z, column):
    """Exact TreeSHAP over every boosting round, path attribution for a model splitting on
    category sets; expected values from the training counts."""
    per_round = estimator._predictors  # one list of trees (one per class) a round
    tree_index = 0 if column is None or len(per_round[0]) == 1 else column
    raw = estimator._raw_predict(Z)[:, tree_index]
    exact = hist_contributions(estimator, Z, tree_index)
    if exact is not None:
        baseline = np.atleast_1d(estimator._baseline_prediction.ravel())
        shift = float(baseline[tree_index if len(baseline) > 1 else 0])
        exact = exact[0] + shift, exact[1], exact[2] + shift
    base, phi = _exact_or_paths(
        exact, raw, lambda rows: _hist_paths(estimator, Z[rows], tree_index)
    )
    if column is not None and len(per_round[0]) == 1:
        base, phi = _binary_side(base, column, 2), _binary_side(phi, column, 2)
    return base, phi


def _hist_paths(estimator, Z, tree_index):
    """Path attribution over every boosting round."""
    per_round = estimator._predictors
    baseline = np.atleast_1d(estimator._baseline_prediction.ravel())
    base = np.full(len(Z), float(baseline[tree_index if len(baseline) > 1 else 0]))
    phi = np.zeros(Z.shape)
    for trees in per_round:
        b, c = _hist_tree(trees[tree_index], Z)
        base, phi = base + b, phi + c
    return base, phi


def _hist_tree(predictor, Z):
    nodes = predictor.nodes
    leaf = nodes["is_leaf"].astype(bool)
    expected = nodes["value"].astype(float).copy()
    for i in np.argsort(-nodes["depth"].astype(int), kind="stable"):  # deepest first
        if not leaf[i]:
            left, right = nodes["left"][i], nodes["right"][i]
            counts = nodes["count"][left], nodes["count"][right]
            expected[i] = (counts[0] * expected[left] + counts[1] * expected[right]) / sum(counts)
    phi = np.zeros(Z.shape)
    at = np.zeros(len(Z), dtype=int)
    rows = np.arange(len(Z))
    while not leaf[at].all():
        moving = ~leaf[at]
        here, who = at[moving], rows[moving]
        feature = nodes["feature_idx"][here]
        x = Z[who, feature]
        left = _goes_left(predictor, nodes, here, x)
        nxt = np.where(left, nodes["left"][here], nodes["right"][here])
        np.add.at(phi, (who, feature), expected[nxt] - expected[here])
        at[moving] = nxt
    return np.full(len(Z), expected[0]), phi


def _goes_left(predictor, nodes, here, x):
    missing = np.isnan(x)
    left = np.where(missing, nodes["missing_go_to_left"][here], x <= nodes["num_threshold"][here])
    categorical = nodes["is_categorical"][here].astype(bool)
    if categorical.any():
        bitsets = predictor.raw_left_cat_bitsets[nodes["bitset_idx"][here[categorical]]]
        codes = x[categorical]
        known = ~np.isnan(codes) & (codes >= 0)
        code = np.where(known, codes, 0).astype(int)
        inside = (bitsets[np.arange(len(code)), code // 32] >> (code % 32)) & 1
        left[categorical] = np.where(
            known, inside.astype(bool), nodes["missing_go_to_left"][here[categorical]]
        )
    return left.astype(bool)
