"""Small inline SVG charts, drawn on the server: no script, nothing fetched, crisp at any size.

Each bar or point carries a <title>, which browsers show on hover, so a reader gets exact values.
All text goes through format_html, so labels and column names from uploads are escaped.

The evaluation charts (``lines``, ``scatter``, ``hbars``, ``histogram``) are one <svg class="plot">
each, scaled to the width of their container by a viewBox, with a few tick labels per axis. Series
take the colours ``series-0`` .. ``series-7`` from app.css; ``confusion`` is an HTML table.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

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


# Evaluation charts ------------------------------------------------------------------------------

PALETTE_SIZE = 8  # series-0 .. series-7 in app.css
HOVER_POINTS = 50  # points per line that show their values on hover
SCATTER_POINTS = 2000  # beyond this a series is thinned evenly, to keep pages light
CONFUSION_RGB = "37, 99, 235"
EMPTY = mark_safe("")


def number(value: Any, digits: int = 3) -> str:
    """``value`` for reading: ``digits`` significant digits, thousands with separators.

    >>> number(0.86123), number(12345.6), number(7), number(None)
    ('0.861', '12,346', '7', '\u2013')
    """
    v = _finite(value)
    if v is None:
        return "–"
    v += 0.0  # no "-0"
    if abs(v) < 1e15 and (v.is_integer() or abs(v) >= 10**digits - 0.5):
        return f"{v:,.0f}"
    return re.sub(r"e([+-])0*(\d)", r"e\1\2", f"{v:.{digits}g}")


def lines(
    series: Sequence[Mapping[str, Any]],
    *,
    title: str,
    x_label: str,
    y_label: str,
    diagonal: bool = False,
) -> SafeString:
    """Curves such as ROC or precision-recall, one per ``{"name", "x", "y"}`` in ``series``.

    Points are joined in the order given. When every value lies in [0, 1] both axes run from
    0 to 1; ``diagonal`` adds the dashed chance line from (0, 0) to (1, 1).
    """
    cleaned = _clean(series)
    if not cleaned:
        return EMPTY
    xs, ys = _values(cleaned)
    frame = _frame(cleaned)
    is_unit = diagonal or all(0 <= v <= 1 for v in xs + ys)
    extra = [0.0, 1.0] if diagonal else []
    x_axis = _linear_axis(xs + extra, frame.left, frame.right, is_unit=is_unit)
    y_axis = _linear_axis(ys + extra, frame.bottom, frame.top, is_unit=is_unit)
    parts = [_axes(frame, x_axis, y_axis, x_label, y_label)]
    if diagonal:
        parts.append(_diagonal(x_axis, y_axis, 0.0, 1.0))
    parts.extend(_line_series(s, x_axis, y_axis) for s in cleaned)
    parts.append(_legend(frame, cleaned))
    return _svg("plot-lines", frame, title, parts)


def scatter(
    series: Sequence[Mapping[str, Any]],
    *,
    title: str,
    x_label: str,
    y_label: str,
    diagonal: bool = False,
    log_x: bool = False,
) -> SafeString:
    """Points, one series per ``{"name", "x", "y", "labels"?}``; a label becomes its hover text.

    ``diagonal`` draws y = x with both axes on the range they share (predicted against actual).
    ``log_x`` puts x on a log scale (training times); points with x <= 0 are then left out.
    """
    if diagonal and log_x:
        raise ValueError("The y = x line needs two linear axes.")
    cleaned = _clean(series, is_positive_x=log_x)
    if not cleaned:
        return EMPTY
    xs, ys = _values(cleaned)
    frame = _frame(cleaned)
    if diagonal:
        x_axis = _linear_axis(xs + ys, frame.left, frame.right)
        y_axis = _linear_axis(xs + ys, frame.bottom, frame.top)
    else:
        x_axis = (_log_axis if log_x else _linear_axis)(xs, frame.left, frame.right)
        y_axis = _linear_axis(ys, frame.bottom, frame.top)
    parts = [_axes(frame, x_axis, y_axis, x_label, y_label)]
    if diagonal:
        parts.append(_diagonal(x_axis, y_axis, x_axis.lo, x_axis.hi))
    parts.extend(_point_series(s, x_axis, y_axis) for s in cleaned)
    parts.append(_legend(frame, cleaned))
    return _svg("plot-scatter", frame, title, parts)


def hbars(
    items: Sequence[tuple[str, float | None, float | None]],
    *,
    title: str,
    value_label: str,
) -> SafeString:
    """Horizontal bars of ``(label, value, error)``, as for feature importance.

    Negative values extend left of the zero line; an error draws a whisker of ± error. A value
    of None (or NaN) is a greyed "not computed" row.
    """
    rows = [(str(label), _finite(value), _finite(error)) for label, value, error in items]
    if not rows:
        return EMPTY
    ends = [0.0]
    for _, value, error in rows:
        if value is not None:
            ends += [value - abs(error or 0), value + abs(error or 0)]
    layout = _HBarLayout(len(rows))
    axis = _linear_axis(ends, layout.bar_left, layout.bar_right)
    parts = [_hbar_axis(layout, axis, value_label)]
    parts.extend(_hbar_row(layout, axis, i, row) for i, row in enumerate(rows))
    frame = _Frame(width=layout.width, bottom=layout.bottom, legend_rows=0)
    return _svg("plot-hbars", frame, title, parts, height=layout.height)


def histogram(
    edges: Sequence[float], counts: Sequence[float], *, title: str, x_label: str
) -> SafeString:
    """Vertical bars of ``counts`` between consecutive ``edges`` (len(edges) == len(counts) + 1)."""
    if len(counts) == 0:
        return EMPTY
    if len(edges) != len(counts) + 1:
        raise ValueError("A histogram needs one more edge than counts.")
    bins = [
        (a, b, n)
        for i, count in enumerate(counts)
        for a, b, n in [(_finite(edges[i]), _finite(edges[i + 1]), _finite(count))]
        if a is not None and b is not None and n is not None
    ]
    if not bins:
        return EMPTY
    frame = _Frame(bottom=192, legend_rows=0)
    lo, hi = min(a for a, _, _ in bins), max(b for _, b, _ in bins)
    x_axis = _linear_axis([lo, hi], frame.left, frame.right, is_tight=True)
    top = max(1.0, *(n for _, _, n in bins))
    y_axis = _linear_axis([0.0, top], frame.bottom, frame.top, is_integer=True)
    parts = [_axes(frame, x_axis, y_axis, x_label, "rows")]
    parts.extend(_histogram_bin(frame, x_axis, y_axis, *b) for b in bins)
    return _svg("plot-histogram", frame, title, parts)


def confusion(
    labels: Sequence[Any], matrix: Sequence[Sequence[float]], *, title: str
) -> SafeString:
    """A table of true classes (rows) against predicted ones (columns), shaded by row share."""
    names = [str(label) for label in labels]
    if not names:
        return EMPTY
    rows = [[_finite(count) or 0.0 for count in row] for row in matrix]
    if len(rows) != len(names) or any(len(row) != len(names) for row in rows):
        raise ValueError("A confusion matrix needs one row and one column per label.")
    rows_named = list(zip(names, rows, strict=True))
    head = format_html_join("", '<th scope="col" title="{}">{}</th>', ((n, n) for n in names))
    body = format_html_join(
        "",
        '<tr><th scope="row" title="{}">{}</th>{}</tr>',
        ((name, name, _confusion_cells(i, row, names)) for i, (name, row) in enumerate(rows_named)),
    )  # fmt: skip
    return format_html(
        '<table class="confusion"><caption>{}</caption><thead>'
        '<tr><td></td><th scope="colgroup" colspan="{}" class="confusion-axis">predicted</th></tr>'
        '<tr><th scope="col" class="confusion-axis">true</th>{}</tr>'
        "</thead><tbody>{}</tbody></table>",
        title, len(names), head, body,
    )  # fmt: skip


# Private helpers -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Series:
    index: int
    name: str
    points: list[tuple[float, float, str | None]]

    @property
    def css(self) -> str:
        return f"series-{self.index % PALETTE_SIZE}"


@dataclass(frozen=True)
class _Axis:
    """Maps data values in [lo, hi] to pixels in [start, end], linearly or on a log scale."""

    lo: float
    hi: float
    start: float
    end: float
    ticks: tuple[float, ...]
    is_log: bool = False

    def __call__(self, value: float) -> float:
        f = math.log10 if self.is_log else float
        return self.start + (f(value) - f(self.lo)) / (f(self.hi) - f(self.lo)) * (
            self.end - self.start
        )


@dataclass(frozen=True)
class _Frame:
    """The plot area of a chart; the legend, if any, sits below the x axis label."""

    legend_rows: int
    width: float = 480
    left: float = 70
    right: float = 456
    top: float = 12
    bottom: float = 252

    @property
    def height(self) -> float:
        return self.bottom + 42 + self.legend_rows * 18


@dataclass(frozen=True)
class _HBarLayout:
    n_rows: int
    width: float = 480
    label_right: float = 140
    bar_left: float = 148
    bar_right: float = 372
    value_left: float = 378
    top: float = 6
    row: float = 20

    @property
    def bottom(self) -> float:
        return self.top + self.n_rows * self.row

    @property
    def height(self) -> float:
        return self.bottom + 38


def _finite(value: Any) -> float | None:
    """``value`` as a float, or None when it is missing, NaN, infinite or not a number."""
    if value is None:
        return None
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def _f(value: float) -> str:
    """A coordinate: a tenth of a pixel is precise enough."""
    return f"{value:.1f}"


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _plural(count: float, word: str) -> str:
    return f"{number(count)} {word}{'' if count == 1 else 's'}"


def _percent(share: float) -> str:
    if share == 0:
        return "0%"
    if share < 0.001:
        return "<0.1%"
    return f"{share:.1%}" if share < 0.1 else f"{share:.0%}"


def _every(items: list, limit: int) -> list:
    """At most ``limit`` of ``items``, evenly spaced, the first and the last included."""
    if len(items) <= limit:
        return items
    return [items[round(i * (len(items) - 1) / (limit - 1))] for i in range(limit)]


def _clean(series: Iterable[Mapping[str, Any]], *, is_positive_x: bool = False) -> list[_Series]:
    """The series with finite points only (x > 0 too on a log axis); empty series left out."""
    cleaned = []
    for index, s in enumerate(series or ()):
        xs, ys = list(s.get("x", ())), list(s.get("y", ()))
        labels = s.get("labels")
        labels = [None] * len(xs) if labels is None else list(labels)
        points = [
            (x, y, None if label is None else str(label))
            for x, y, label in (
                (_finite(a), _finite(b), c) for a, b, c in zip(xs, ys, labels, strict=True)
            )
            if x is not None and y is not None and (x > 0 or not is_positive_x)
        ]
        if points:
            cleaned.append(_Series(index, str(s.get("name", "")), points))
    return cleaned


def _values(cleaned: list[_Series]) -> tuple[list[float], list[float]]:
    points = [p for s in cleaned for p in s.points]
    return [x for x, _, _ in points], [y for _, y, _ in points]


def _nice_step(lo: float, hi: float, *, is_integer: bool, most: int = 7) -> float:
    """The finest step of 1, 2 or 5 times a power of ten with at most ``most`` intervals."""
    magnitude = 10 ** math.floor(math.log10((hi - lo) / most))
    steps = [m * magnitude for m in (1, 2, 5, 10, 20, 50) if m * magnitude >= 1 or not is_integer]
    for step in steps:
        if math.ceil(hi / step - 1e-9) - math.floor(lo / step + 1e-9) <= most:
            return step
    return steps[-1]


def _linear_axis(
    values: list[float],
    start: float,
    end: float,
    *,
    is_unit: bool = False,
    is_tight: bool = False,
    is_integer: bool = False,
) -> _Axis:
    """An axis over ``values``: [0, 1] for rates, else widened to round ticks unless tight."""
    lo, hi = min(values), max(values)
    if is_unit and lo >= 0 and hi <= 1:
        return _Axis(0.0, 1.0, start, end, (0.0, 0.2, 0.4, 0.6, 0.8, 1.0))
    if hi - lo <= 1e-9 * max(abs(lo), abs(hi), 1):
        pad = abs(lo) / 10 or 1.0
        lo, hi = lo - pad, hi + pad
    step = _nice_step(lo, hi, is_integer=is_integer)
    first, last = math.floor(lo / step + 1e-9), math.ceil(hi / step - 1e-9)
    ticks = tuple(round(k * step, 12) + 0.0 for k in range(first, last + 1))
    if is_tight:
        return _Axis(lo, hi, start, end, tuple(t for t in ticks if lo - 1e-9 <= t <= hi + 1e-9))
    return _Axis(ticks[0], ticks[-1], start, end, ticks)


def _log_axis(values: list[float], start: float, end: float) -> _Axis:
    """A log axis over positive ``values``, from one power of ten to another."""
    lo = math.floor(math.log10(min(values)) + 1e-9)
    hi = max(math.ceil(math.log10(max(values)) - 1e-9), lo + 1)
    step = math.ceil((hi - lo) / 6)
    hi = lo + step * math.ceil((hi - lo) / step)
    ticks = tuple(10.0**e for e in range(lo, hi + 1, step))
    return _Axis(10.0**lo, 10.0**hi, start, end, ticks, is_log=True)


def _frame(cleaned: list[_Series]) -> _Frame:
    if len(cleaned) < 2:
        return _Frame(legend_rows=0)
    return _Frame(legend_rows=max(row for _, row in _legend_layout(cleaned)) + 1)


def _legend_layout(cleaned: list[_Series]) -> list[tuple[float, int]]:
    """Where each legend entry goes: its x and its row, wrapping at the plot's width."""
    frame = _Frame(legend_rows=0)
    x, row, places = frame.left, 0, []
    for s in cleaned:
        width = 20 + 6.2 * len(_truncate(s.name, 28)) + 14
        if x + width > frame.right and x > frame.left:
            x, row = frame.left, row + 1
        places.append((x, row))
        x += width
    return places


def _legend(frame: _Frame, cleaned: list[_Series]) -> SafeString:
    if frame.legend_rows == 0:
        return EMPTY
    return format_html_join(
        "",
        '<g class="plot-legend {}"><rect class="plot-swatch" x="{}" y="{}" width="14" height="4"/>'
        '<text x="{}" y="{}">{}</text>{}</g>',
        (
            (s.css, _f(x), _f(y - 4), _f(x + 20), _f(y), _truncate(s.name, 28),
             format_html("<title>{}</title>", s.name) if len(s.name) > 28 else "")
            for s, (x, row) in zip(cleaned, _legend_layout(cleaned), strict=True)
            for y in [frame.bottom + 56 + row * 18]
        ),
    )  # fmt: skip


def _axes(frame: _Frame, x_axis: _Axis, y_axis: _Axis, x_label: str, y_label: str) -> SafeString:
    """Grid lines with tick labels, the two axis lines and their labels."""
    x_ticks = format_html_join(
        "",
        '<line class="plot-grid" x1="{0}" x2="{0}" y1="{1}" y2="{2}"/>'
        '<text class="plot-tick" x="{0}" y="{3}" text-anchor="middle">{4}</text>',
        ((_f(x_axis(t)), _f(frame.top), _f(frame.bottom), _f(frame.bottom + 15), number(t))
         for t in x_axis.ticks),
    )  # fmt: skip
    y_ticks = format_html_join(
        "",
        '<line class="plot-grid" x1="{0}" x2="{1}" y1="{2}" y2="{2}"/>'
        '<text class="plot-tick" x="{3}" y="{4}" text-anchor="end">{5}</text>',
        ((_f(frame.left), _f(frame.right), _f(y_axis(t)), _f(frame.left - 6), _f(y_axis(t) + 4),
          number(t)) for t in y_axis.ticks),
    )  # fmt: skip
    return format_html(
        '{}{}<path class="plot-axis" d="M{} {}V{}H{}"/>'
        '<text class="plot-label" x="{}" y="{}" text-anchor="middle">{}</text>'
        '<text class="plot-label" transform="translate(14 {}) rotate(-90)" '
        'text-anchor="middle">{}</text>',
        x_ticks, y_ticks, _f(frame.left), _f(frame.top), _f(frame.bottom), _f(frame.right),
        _f((frame.left + frame.right) / 2), _f(frame.bottom + 34), x_label,
        _f((frame.top + frame.bottom) / 2), y_label,
    )  # fmt: skip


def _diagonal(x_axis: _Axis, y_axis: _Axis, lo: float, hi: float) -> SafeString:
    return format_html(
        '<line class="plot-diagonal" x1="{}" y1="{}" x2="{}" y2="{}"/>',
        _f(x_axis(lo)), _f(y_axis(lo)), _f(x_axis(hi)), _f(y_axis(hi)),
    )  # fmt: skip


def _thin(coords: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """The path without repeated points or the inner points of straight level or upright runs.

    ROC and precision-recall curves are mostly such steps, so this keeps their pages light.
    """
    kept: list[tuple[float, float]] = []
    for p in coords:
        if kept and p == kept[-1]:
            continue
        if len(kept) >= 2 and any(
            kept[-2][k] == kept[-1][k] == p[k]
            and min(kept[-2][1 - k], p[1 - k]) <= kept[-1][1 - k] <= max(kept[-2][1 - k], p[1 - k])
            for k in (0, 1)
        ):
            kept[-1] = p
        else:
            kept.append(p)
    return kept


def _point_title(s: _Series, x: float, y: float, label: str | None) -> str:
    if label is not None:
        return label
    return f"{s.name}: x {number(x)}, y {number(y)}" if s.name else f"x {number(x)}, y {number(y)}"


def _line_series(s: _Series, x_axis: _Axis, y_axis: _Axis) -> SafeString:
    coords = _thin([(round(x_axis(x), 1), round(y_axis(y), 1)) for x, y, _ in s.points])
    circles = format_html_join(
        "",
        '<circle class="plot-hover" cx="{}" cy="{}" r="4"><title>{}</title></circle>',
        ((_f(x_axis(x)), _f(y_axis(y)), _point_title(s, x, y, label))
         for x, y, label in _every(s.points, HOVER_POINTS)),
    )  # fmt: skip
    points = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
    return format_html(
        '<g class="{}"><polyline class="plot-line" points="{}"/>{}</g>', s.css, points, circles
    )


def _point_series(s: _Series, x_axis: _Axis, y_axis: _Axis) -> SafeString:
    circles = format_html_join(
        "",
        '<circle class="plot-point" cx="{}" cy="{}" r="3.5"><title>{}</title></circle>',
        ((_f(x_axis(x)), _f(y_axis(y)), _point_title(s, x, y, label))
         for x, y, label in _every(s.points, SCATTER_POINTS)),
    )  # fmt: skip
    return format_html('<g class="{}">{}</g>', s.css, circles)


def _hbar_axis(layout: _HBarLayout, axis: _Axis, value_label: str) -> SafeString:
    ticks = format_html_join(
        "",
        '<line class="plot-grid" x1="{0}" x2="{0}" y1="{1}" y2="{2}"/>'
        '<text class="plot-tick" x="{0}" y="{3}" text-anchor="middle">{4}</text>',
        ((_f(axis(t)), _f(layout.top), _f(layout.bottom), _f(layout.bottom + 14), number(t))
         for t in axis.ticks),
    )  # fmt: skip
    return format_html(
        '{}<line class="hbar-zero" x1="{}" x2="{}" y1="{}" y2="{}"/>'
        '<text class="plot-label" x="{}" y="{}" text-anchor="middle">{}</text>',
        ticks, _f(axis(0)), _f(axis(0)), _f(layout.top), _f(layout.bottom),
        _f((layout.bar_left + layout.bar_right) / 2), _f(layout.bottom + 32), value_label,
    )  # fmt: skip


def _hbar_row(
    layout: _HBarLayout, axis: _Axis, i: int, row: tuple[str, float | None, float | None]
) -> SafeString:
    label, value, error = row
    y = layout.top + i * layout.row
    name = format_html(
        '<text class="hbar-label" x="{}" y="{}" text-anchor="end">{}</text>',
        _f(layout.label_right), _f(y + 14), _truncate(label, 20),
    )  # fmt: skip
    if value is None:
        return format_html(
            '<g class="hbar hbar-missing"><title>{}: not computed</title>{}'
            '<text class="hbar-value" x="{}" y="{}">not computed</text></g>',
            label, name, _f(layout.bar_left), _f(y + 14),
        )  # fmt: skip
    x0, x1 = sorted((axis(0), axis(value)))
    # The spread is in the hover title and the whisker: beside the bar it would not fit.
    text = number(value) + (f" ± {number(abs(error))}" if error else "")
    whisker = EMPTY
    if error:
        whisker = format_html(
            '<path class="hbar-whisker" d="M{0} {2}V{3}M{0} {4}H{1}M{1} {2}V{3}"/>',
            _f(axis(value - abs(error))), _f(axis(value + abs(error))),
            _f(y + 6), _f(y + 14), _f(y + 10),
        )  # fmt: skip
    return format_html(
        '<g class="hbar"><title>{}: {}</title>{}'
        '<rect class="hbar-bar{}" x="{}" y="{}" width="{}" height="12"/>{}'
        '<text class="hbar-value" x="{}" y="{}">{}</text></g>',
        label, text, name, " hbar-negative" if value < 0 else "", _f(x0), _f(y + 4),
        _f(max(x1 - x0, 0.5)), whisker, _f(layout.value_left), _f(y + 14), number(value),
    )  # fmt: skip


def _histogram_bin(
    frame: _Frame, x_axis: _Axis, y_axis: _Axis, a: float, b: float, n: float
) -> SafeString:
    # A transparent full-height rect makes short and empty bins easy to hover too.
    x, width = x_axis(a), max(x_axis(b) - x_axis(a) - 1, 0.5)
    return format_html(
        '<g class="plot-bin"><title>from {} to {}: {}</title>'
        '<rect class="plot-hit" x="{}" y="{}" width="{}" height="{}"/>'
        '<rect class="plot-bar" x="{}" y="{}" width="{}" height="{}"/></g>',
        number(a), number(b), _plural(n, "row"),
        _f(x), _f(frame.top), _f(width), _f(frame.bottom - frame.top),
        _f(x), _f(y_axis(n)), _f(width), _f(frame.bottom - y_axis(n)),
    )  # fmt: skip


def _confusion_cells(i: int, row: list[float], names: list[str]) -> SafeString:
    total = sum(row)
    cells = []
    for j, count in enumerate(row):
        share = count / total if total > 0 else 0.0
        classes = "confusion-cell"
        classes += " confusion-diagonal" if i == j else ""
        classes += " confusion-dark" if share > 0.5 else ""
        title = (
            f"true {names[i]}, predicted {names[j]}: {_plural(count, 'row')} "
            f"({_percent(share)} of {names[i]})"
        )
        alpha = f"{round(0.85 * share, 3):g}"
        cells.append(
            format_html(
                '<td class="{}" style="background: rgba({}, {})" title="{}">{}</td>',
                classes,
                CONFUSION_RGB,
                alpha,
                title,
                number(count),
            )
        )
    return _join(cells)


def _join(parts: Iterable[SafeString | str]) -> SafeString:
    """Concatenate, escaping anything not already safe."""
    return format_html_join("", "{}", ((p,) for p in parts))


def _svg(
    kind: str, frame: _Frame, title: str, parts: list[SafeString], *, height: float | None = None
) -> SafeString:
    return format_html(
        '<svg class="plot {}" viewBox="0 0 {} {}" role="img" aria-label="{}">{}</svg>',
        kind, _f(frame.width), _f(height or frame.height), title, _join(parts),
    )  # fmt: skip
