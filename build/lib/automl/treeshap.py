"""Exact TreeSHAP for scikit-learn's forests and histogram boosting, computed by XGBoost.

XGBoost ships a C++ TreeSHAP (``pred_contribs``) for its own trees. A scikit-learn tree is
copied, once per model and class, into an XGBoost booster of the same splits, leaf values and
training covers, and XGBoost computes its contributions. The ``shap`` package would compute the
same, but it brings numba and llvmlite (some 60 MB) for what XGBoost, already installed, does.

XGBoost reads its input as 32-bit floats and sends a row left when ``x < threshold``, where
scikit-learn sends it left when ``x <= threshold`` in 64 bits: thresholds are moved to the next
32-bit float so that both agree on every value a 32-bit float holds. A row whose value does not
(a large number with more digits than 32 bits keep) may take another path; the caller compares
the two outputs and explains those rows another way. Histogram boosting's splits on category
sets are not copied: such a model is explained another way too.
"""

from __future__ import annotations

import json
import re
import weakref

import numpy as np

NO_PARENT = 2147483647  # XGBoost's mark for the root's parent
_BOOSTERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


class _Tree:
    """One tree as node arrays: children (-1 at a leaf), split feature and threshold (``<=``
    goes left), where a missing value goes, the node's value (at leaves) and training cover."""

    def __init__(self, left, right, feature, threshold, missing_left, value, cover):
        self.left, self.right = np.asarray(left, int), np.asarray(right, int)
        self.feature, self.threshold = np.asarray(feature, int), np.asarray(threshold, float)
        self.missing_left = np.asarray(missing_left, bool)
        self.value, self.cover = np.asarray(value, float), np.asarray(cover, float)


def forest_contributions(estimator, Z: np.ndarray, column):
    """``base``, contributions (n, features) and XGBoost's output per row, for a forest's
    averaged value (regression) or class ``column``'s probability."""
    n_trees = len(estimator.estimators_)

    def trees():
        for tree in estimator.estimators_:
            t = tree.tree_
            if column is None:
                value = t.value[:, 0, 0]
            else:
                value = t.value[:, 0, column] / t.value[:, 0, :].sum(axis=1)
            missing = getattr(t, "missing_go_to_left", np.ones(t.node_count))
            yield _Tree(t.children_left, t.children_right, t.feature, t.threshold, missing,
                        value / n_trees, t.weighted_n_node_samples)  # fmt: skip

    return _contributions(estimator, column, Z, trees)


def hist_contributions(estimator, Z: np.ndarray, tree_index: int):
    """The same for histogram boosting's raw output (its margin) of tree ``tree_index`` of each
    round, without its baseline; None for a model that splits on category sets."""
    per_round = estimator._predictors
    if any(p.nodes["is_categorical"].any() for trees in per_round for p in trees):
        return None

    def trees():
        for round_trees in per_round:
            nodes = round_trees[tree_index].nodes
            leaf = nodes["is_leaf"].astype(bool)
            left, right = nodes["left"].astype(int), nodes["right"].astype(int)
            yield _Tree(np.where(leaf, -1, left), np.where(leaf, -1, right),
                        nodes["feature_idx"], nodes["num_threshold"], nodes["missing_go_to_left"],
                        nodes["value"], nodes["count"])  # fmt: skip

    return _contributions(estimator, tree_index, Z, trees)


def _contributions(estimator, key, Z, trees):
    import xgboost as xgb

    booster = _booster(estimator, key, Z.shape[1], trees)
    data = xgb.DMatrix(Z)
    out = booster.predict(data, pred_contribs=True).astype(float)
    total = booster.predict(data, output_margin=True).astype(float)
    return out[:, -1], out[:, :-1], total


def _booster(estimator, key, n_features: int, trees):
    """The XGBoost copy of ``estimator``'s trees for ``key`` (a class, or a tree's place in a
    round), built once while the estimator lives."""
    import xgboost as xgb

    made = _BOOSTERS.setdefault(estimator, {})
    if key not in made:
        copies = [_as_json(tree, i, n_features) for i, tree in enumerate(trees())]
        booster = xgb.Booster()
        booster.load_model(bytearray(json.dumps(_model(copies, n_features)).encode()))
        booster.set_param({"nthread": 1})  # one row at a time while serving: no thread pool
        made[key] = booster
    return made[key]


def _as_json(tree: _Tree, index: int, n_features: int) -> dict:
    """``tree`` in XGBoost's JSON, renumbered so that each right child follows its left one
    (XGBoost's predictor finds the right child there)."""
    order, new = [0], {0: 0}
    for node in order:  # breadth first, children given consecutive numbers
        if tree.left[node] >= 0:
            for child in (tree.left[node], tree.right[node]):
                new[child] = len(order)
                order.append(child)
    old = np.array(order)
    internal = tree.left[old] >= 0
    left = np.where(internal, [new.get(c, -1) for c in tree.left[old]], -1)
    right = np.where(internal, [new.get(c, -1) for c in tree.right[old]], -1)
    parents = np.full(len(old), NO_PARENT)
    parents[left[internal]] = np.flatnonzero(internal)
    parents[right[internal]] = np.flatnonzero(internal)
    value = tree.value[old]
    conditions = np.where(internal, _strictly_above(tree.threshold[old]), value)
    return {
        "base_weights": value.tolist(),
        "categories": [],
        "categories_nodes": [],
        "categories_segments": [],
        "categories_sizes": [],
        "default_left": tree.missing_left[old].astype(int).tolist(),
        "id": index,
        "left_children": left.tolist(),
        "loss_changes": [0.0] * len(old),
        "parents": parents.tolist(),
        "right_children": right.tolist(),
        "split_conditions": [float(np.float32(c)) for c in conditions],
        "split_indices": np.where(internal, tree.feature[old], 0).tolist(),
        "split_type": [0] * len(old),
        "sum_hessian": tree.cover[old].tolist(),
        "tree_param": {
            "num_deleted": "0",
            "num_feature": str(n_features),
            "num_nodes": str(len(old)),
            "size_leaf_vector": "1",
        },
    }


def _strictly_above(threshold: np.ndarray) -> np.ndarray:
    """The smallest 32-bit float above every 32-bit float ``<= threshold``: ``x < it`` in 32
    bits is ``x <= threshold`` for each value a 32-bit float holds."""
    with np.errstate(invalid="ignore", over="ignore"):
        down = threshold.astype(np.float32)
        down = np.where(down > threshold, np.nextafter(down, np.float32(-np.inf)), down)
        return np.nextafter(down.astype(np.float32), np.float32(np.inf))


def _model(trees: list[dict], n_features: int) -> dict:
    import xgboost as xgb

    n = len(trees)
    return {
        "learner": {
            "attributes": {},
            "feature_names": [],
            "feature_types": [],
            "gradient_booster": {
                "model": {
                    "cats": {"enc": [], "feature_segments": [], "sorted_idx": []},
                    "gbtree_model_param": {"num_parallel_tree": "1", "num_trees": str(n)},
                    "iteration_indptr": list(range(n + 1)),
                    "tree_info": [0] * n,
                    "trees": trees,
                },
                "name": "gbtree",
            },
            "learner_model_param": {
                "base_score": "[0E0]",
                "boost_from_average": "0",
                "num_class": "0",
                "num_feature": str(n_features),
                "num_target": "1",
            },
            "objective": {"name": "reg:squarederror", "reg_loss_param": {"scale_pos_weight": "1"}},
        },
        "version": [int(part) for part in re.findall(r"\d+", xgb.__version__)[:3]],
    }
