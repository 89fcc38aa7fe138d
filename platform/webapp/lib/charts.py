"""Small inline SVG charts, drawn on the server: no script, nothing fetched, crisp at any size.

Each bar carries a <title>, which browsers show on hover, so a reader gets exact values.
"""

from __future__ import annotations

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 160, 36


def bars(values: list[float], labels: list[str], *, title: str) -> SafeString:
    """Vertical bars of ``values`` (a histogram or a timeline), one label each for hover."""
    if not values or max(values) <= 0:
        return mark_safe("")
    step = WIDTH / len(values)
    top = max(values)
    rects = format_html_join(
        "",
        '<rect x="{}" y="{}" width="{}" height="{}"><title>{}</title></rect>',
        (
            (f"{i * step:.1f}", f"{HEIGHT - h:.1f}", f"{max(step - 1, 0.5):.1f}", f"{h:.1f}", label)
            for i, (value, label) in enumerate(zip(values, labels, strict=True))
            for h in [max(value / top * HEIGHT, 1 if value else 0)]
        ),
    )
    return format_html(
        '<svg class="chart" viewBox="0 0 {} {}" width="{}" height="{}" role="img" '
        'aria-label="{}">{}</svg>',
        WIDTH, HEIGHT, WIDTH, HEIGHT, title, rects,
    )  # fmt: skip


def top_values(pairs: list[tuple[str, int]], total: int, *, limit: int = 5) -> SafeString:
    """Horizontal bars for the most frequent values, with their share of rows."""
    if not pairs or total <= 0:
        return mark_safe("")
    rows = format_html_join(
        "",
        '<div class="topvalue"><span class="topvalue-label" title="{}">{}</span>'
        '<span class="topvalue-bar"><span style="width:{}%"></span></span>'
        '<span class="topvalue-share">{}</span></div>',
        (
            (value, value, f"{count / total * 100:.0f}", f"{count / total:.0%}")
            for value, count in pairs[:limit]
        ),
    )
    return format_html('<div class="topvalues">{}</div>', rows)
