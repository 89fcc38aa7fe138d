"""Leaderboard numbers in words and units, and the evaluation charts of models."""

from __future__ import annotations

from django import template
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from webapp.datasets.templatetags.datasets import TASK_NAMES
from webapp.lib import charts

register = template.Library()

METRIC_NAMES = {
    "roc_auc": "ROC AUC",
    "log_loss": "log loss",
    "accuracy": "accuracy",
    "balanced_accuracy": "balanced accuracy",
    "f1": "F1",
    "rmse": "RMSE",
    "mae": "MAE",
    "r2": "R²",
}


@register.filter
def score(value) -> str:
    return charts.number(value, digits=4)


@register.filter
def percent_value(share) -> str:
    return "–" if share is None else f"{share:.1%}"


@register.filter
def duration(seconds) -> str:
    """``40 ms``, ``2.4 s``, ``12 s``, ``3 min 05 s``, ``1 h 02 min``."""
    if seconds is None:
        return "–"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min" if not rest else f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


@register.filter
def milliseconds(value) -> str:
    if value is None:
        return "–"
    return f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms"


@register.filter
def metric_label(name: str) -> str:
    return METRIC_NAMES.get(name, name)


@register.filter
def task_label(task: str) -> str:
    return TASK_NAMES.get(task, task)


@register.filter
def family_label(family: str) -> str:
    from automl import family_title

    return family_title(family)


@register.filter
def validation_label(experiment) -> str:
    if experiment.validation == "cv":
        return f"{experiment.n_splits}-fold cross-validation"
    share = f"{experiment.holdout_size:.0%}"
    if experiment.validation == "time":
        return f"latest {share} by {experiment.time_column}"
    return f"{share} holdout"


@register.filter
def has_test_scores(leaderboard) -> bool:
    return any(row.test_score is not None for row in leaderboard)


@register.filter
def get(mapping, key):
    return (mapping or {}).get(key)


@register.filter
def param_label(name: str) -> str:
    return name.replace("_", " ")


@register.filter
def param_value(value) -> str:
    return charts.number(value) if isinstance(value, float) else str(value)


# What a setting that is not a model's own means, for people who never met it.
SETTING_NOTES = {
    ("target_scale", "log"): "learns log(1 + target) and answers in the target's units",
    ("target_scale", "raw"): "learns the target as it is",
    ("sample_rows", None): "a first look: trained on this many rows of each validation fold; "
    "built, it trains on every row",
}


@register.simple_tag
def param_note(name: str, value) -> str:
    note = SETTING_NOTES.get((name, value)) or SETTING_NOTES.get((name, None))
    return format_html('<span class="muted">{}</span>', note) if note else ""


@register.simple_tag
def sort_link(key: str, label: str, current: str):
    marker = " ▾" if key == current else ""
    return format_html(
        '<a href="?sort={}" hx-get="?sort={}" hx-target="#experiment-body" hx-push-url="true">'
        "{}{}</a>",
        key, key, label, marker,
    )  # fmt: skip


def _many(candidates) -> list:
    return list(candidates) if isinstance(candidates, (list, tuple)) else [candidates]


@register.simple_tag
def score_time_chart(leaderboard, experiment):
    """Score against fit time for every finished candidate, one colour per family."""
    by_family: dict[str, dict] = {}
    for row in leaderboard:
        if row.state != "complete" or not row.fit_seconds:
            continue
        series = by_family.setdefault(
            row.family, {"name": family_label(row.family), "x": [], "y": [], "labels": []}
        )
        series["x"].append(row.fit_seconds)
        series["y"].append(row.score)
        series["labels"].append(
            f"{row.model_id} · {family_label(row.family)} · score {score(row.score)} · "
            f"fit {duration(row.fit_seconds)}"
        )
    return charts.scatter(
        list(by_family.values()),
        title="Score against training time",
        x_label="fit time per fold (s, log scale)",
        y_label=metric_label(experiment.metric_name),
        log_x=True,
    )


def _curves(candidates, key: str, x: str, y: str) -> list[dict]:
    series = []
    for candidate in _many(candidates):
        curve = (candidate.evaluation or {}).get(key)
        if curve:
            series.append({"name": candidate.model_id, "x": curve[x], "y": curve[y]})
    return series


@register.simple_tag
def roc_chart(candidates):
    series = _curves(candidates, "roc", "fpr", "tpr")
    return charts.lines(
        series, title="ROC curve", x_label="false positive rate", y_label="true positive rate",
        diagonal=True,
    )  # fmt: skip


@register.simple_tag
def pr_chart(candidates):
    series = _curves(candidates, "pr", "recall", "precision")
    return charts.lines(series, title="Precision and recall", x_label="recall", y_label="precision")


@register.simple_tag
def actual_chart(candidates):
    series = _curves(candidates, "scatter", "actual", "predicted")
    return charts.scatter(
        series, title="Predicted against actual", x_label="actual", y_label="predicted",
        diagonal=True,
    )  # fmt: skip


@register.simple_tag
def residual_chart(candidate):
    residuals = (candidate.evaluation or {}).get("residuals")
    if not residuals:
        return mark_safe("")
    return charts.histogram(
        residuals["edges"], residuals["counts"], title="Errors", x_label="actual − predicted"
    )


@register.simple_tag
def confusion_table(candidate):
    confusion = (candidate.evaluation or {}).get("confusion")
    if not confusion:
        return mark_safe("")
    table = charts.confusion(
        confusion["labels"], confusion["matrix"], title=f"Confusion matrix of {candidate.model_id}"
    )
    return format_html('<div class="table-scroll">{}</div>', table)


@register.simple_tag
def importance_chart(candidate, limit: int = 25):
    items = [
        (row["column"], row["importance"], row["std"])
        for row in (candidate.importance or [])[:limit]
    ]
    return charts.hbars(items, title="Column importance", value_label="drop in score")
