"""Fairness: how a model's answers differ between groups of rows, such as the values of a
sensitive column (sex, age band, region), on rows it did not train on.

In classification each group gets its rows, its selection rate (the share of rows predicted
the favourable class), its true and false positive rates for that class, and its accuracy;
the disparate-impact ratio is the lowest selection rate over the highest, and the four-fifths
rule of the US EEOC's guidelines holds when it is at least 0.8. In regression each group gets
its mean actual and predicted values and its errors.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from automl.wording import plain, quoted

FOUR_FIFTHS = 0.8
# Groups beyond the largest ones are pooled as "other": a table of hundreds of groups says
# nothing a person can read.
MAX_GROUPS = 20
# Rates of groups smaller than this are shown but not judged: a handful of rows is noise.
MIN_JUDGED_ROWS = 30
MISSING = "(missing)"
OTHER = "(other)"


def by_group(column: pd.Series, actual, predicted, favourable=None) -> dict:
    """How the answers ``predicted`` (against ``actual``) differ across the values of
    ``column``, all three aligned row by row. ``favourable`` is the class whose selection is
    compared (classification); None for regression.

    Returns
    -------
    dict
        ``column``, ``favourable``, ``groups`` (a dict per group, the largest first), and for
        classification ``ratio`` (the disparate-impact ratio, None when fewer than two groups
        are large enough to judge), ``passes`` (the four-fifths rule) and ``message``.
    """
    groups, actual, predicted = (
        pd.Series(values).reset_index(drop=True) for values in (column, actual, predicted)
    )
    groups = _groups(groups)
    result = {"column": str(column.name), "favourable": plain(favourable), "rows": len(groups)}
    rows = []
    for value, index in groups.groupby(groups, sort=False).groups.items():
        a, p = actual[index], predicted[index]
        row = {"value": value, "rows": len(index)}
        if favourable is None:
            error = p.astype(float) - a.astype(float)
            row |= {
                "mean_actual": float(a.mean()),
                "mean_predicted": float(p.mean()),
                "mean_error": float(error.mean()),
                "mae": float(error.abs().mean()),
                "rmse": float(np.sqrt((error**2).mean())),
            }
        else:
            chosen, positive = p == favourable, a == favourable
            row |= {
                "selection_rate": float(chosen.mean()),
                "true_positive_rate": _rate(chosen[positive]),
                "false_positive_rate": _rate(chosen[~positive]),
                "accuracy": float((a == p).mean()),
            }
        rows.append(row)
    rows.sort(key=lambda r: (r["value"] in (MISSING, OTHER), -r["rows"]))
    result["groups"] = rows
    if favourable is not None:
        result |= _four_fifths(str(column.name), favourable, rows)
    return result


def _groups(column: pd.Series) -> pd.Series:
    labels = column.astype(object).where(column.notna(), MISSING).map(str)
    largest = labels[labels != MISSING].value_counts().index[:MAX_GROUPS]
    return labels.where(labels.isin(largest) | (labels == MISSING), OTHER)


def _rate(chosen: pd.Series) -> float | None:
    return float(chosen.mean()) if len(chosen) else None


def _four_fifths(name: str, favourable, rows: list[dict]) -> dict:
    judged = [r for r in rows if r["rows"] >= MIN_JUDGED_ROWS and r["value"] not in (OTHER,)]
    if len(judged) < 2:
        return {
            "ratio": None,
            "passes": None,
            "message": f"Fewer than two values of {quoted(name)} have {MIN_JUDGED_ROWS} rows or "
            "more: too few to compare the groups.",
        }
    low = min(judged, key=lambda r: r["selection_rate"])
    high = max(judged, key=lambda r: r["selection_rate"])
    ratio = low["selection_rate"] / high["selection_rate"] if high["selection_rate"] else 1.0
    outcome = quoted(plain(favourable))
    if ratio >= FOUR_FIFTHS:
        message = (
            f"Every value of {quoted(name)} is predicted {outcome} at least four fifths as often "
            f"as the most favoured one (ratio {ratio:.2f}): the four-fifths rule holds."
        )
    else:
        message = (
            f"Rows where {quoted(name)} is {quoted(low['value'])} are predicted {outcome} "
            f"{ratio:.0%} as often as rows where it is {quoted(high['value'])}, below the "
            "four fifths (80 %) the rule asks for. Check whether this column, or a column "
            "standing in for it, drives the predictions before the model decides about people."
        )
    return {"ratio": float(ratio), "passes": bool(ratio >= FOUR_FIFTHS), "message": message}
