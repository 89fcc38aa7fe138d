from django import template
from django.utils.html import format_html

from webapp.lib import charts

register = template.Library()

TASK_NAMES = {
    "binary": "binary classification (two classes)",
    "multiclass": "multiclass classification",
    "regression": "regression (a number)",
}


@register.filter
def percent(share) -> str:
    if share is None:
        return "–"
    return "0%" if share == 0 else f"{share:.1%}" if share < 0.1 else f"{share:.0%}"


@register.filter
def task_name(task: str) -> str:
    return TASK_NAMES.get(task, task)


@register.simple_tag
def column_chart(column: dict):
    """The small chart of a column: histogram, timeline or top values, by kind, and the codes
    for "unknown" it holds."""
    chart = _chart(column)
    codes = (column.get("stats") or {}).get("disguised")
    if not codes:
        return chart
    treated = "read as missing" if column.get("missing_values") else "kept as values"
    found = ", ".join(f"{value!r} in {rows} rows" for value, rows in codes)
    return format_html('{}<small class="muted disguised">{}: {}</small>', chart, found, treated)


def _chart(column: dict):
    stats = column.get("stats") or {}
    if "histogram" in stats:
        histogram = stats["histogram"]
        edges = histogram["edges"]
        labels = [
            f"{edges[i]:.4g} to {edges[i + 1]:.4g}: {n} rows"
            for i, n in enumerate(histogram["counts"])
        ]
        return charts.bars(histogram["counts"], labels, title=f"Histogram of {column['name']}")
    if "timeline" in stats:
        points = stats["timeline"]
        labels = [f"{period}: {n} rows" for period, n in points]
        title = f"Rows over time, {column['name']}"
        return charts.bars([n for _, n in points], labels, title=title)
    if "top" in stats:
        return charts.top_values([(str(v), n) for v, n in stats["top"]], column["count"])
    examples = ", ".join(str(v) for v in column.get("examples", [])[:3])
    return format_html('<span class="muted examples">{}</span>', examples)


@register.simple_tag
def target_chart(result: dict):
    """Class balance, or the distribution of a numeric target."""
    summary = result.get("target_summary") or {}
    if "classes" in summary:
        pairs = list(summary["classes"].items())
        return charts.top_values(pairs, sum(n for _, n in pairs), limit=20)
    column = next((c for c in result.get("columns", []) if c["name"] == result.get("target")), None)
    return column_chart(column) if column else ""
