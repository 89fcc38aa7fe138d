from datetime import UTC, datetime

from django import template
from django.utils import timezone

from webapp.lib import charts

register = template.Library()

JSON_TYPES = {
    "numeric": "number (or text as written in training)",
    "boolean": "true or false (or 1/0, yes/no as written)",
    "categorical": "string (a category)",
    "datetime": "string (a date, written as in training)",
    "text": "string (free text)",
}


@register.filter
def json_type(kind: str) -> str:
    """What a request sends for a column of ``kind``."""
    return JSON_TYPES.get(kind, "string")


@register.filter
def iso_day(column: dict) -> str:
    """A date column's example as a date input's value (``YYYY-MM-DD``), read as the column
    writes dates; empty when the example is not a whole day (a time of day matters)."""
    example, written = column.get("example"), column.get("date_format")
    try:
        if written and written != "ISO8601":
            moment = datetime.strptime(str(example), written)
        else:
            moment = datetime.fromisoformat(str(example))
    except ValueError:
        return ""
    return moment.date().isoformat() if moment.time() == datetime.min.time() else ""


@register.filter
def ms_bound(value) -> str:
    """A latency percentile, which the histogram knows as an upper bound."""
    return "–" if value is None else f"≤ {value:g} ms"


@register.simple_tag
def traffic_chart(series: list[dict]):
    """Requests per minute, each bar titled with its time, requests and errors."""
    labels = [
        f"{timezone.localtime(datetime.fromtimestamp(p['minute'], tz=UTC)):%H:%M}"
        f": {p['requests']} requests, {p['errors']} errors, {p['rows']} rows"
        for p in series
    ]
    return charts.bars([p["requests"] for p in series], labels, title="Requests per minute")
