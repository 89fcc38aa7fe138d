from datetime import UTC, datetime

from django import template
from django.utils import timezone

from webapp.lib import charts

register = template.Library()

JSON_TYPES = {
    "numeric": "number",
    "boolean": "true or false",
    "categorical": "string (a category)",
    "datetime": "string (a date)",
    "text": "string (free text)",
}


@register.filter
def json_type(kind: str) -> str:
    """What a request sends for a column of ``kind``."""
    return JSON_TYPES.get(kind, "string")


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
