"""Evaluation charts: well-formed SVG, one hover title per point, escaped text, honest axes."""

import itertools
import math
import re
import xml.etree.ElementTree as ET

import pytest

from webapp.lib import charts

ROC = {"name": "xgboost", "x": [0, 0, 0.1, 0.4, 1], "y": [0, 0.5, 0.8, 0.95, 1]}


def parse(svg):
    root = ET.fromstring(str(svg))
    assert root.tag == "svg"
    assert root.get("role") == "img"
    assert re.fullmatch(r"0 0 [\d.]+ [\d.]+", root.get("viewBox"))
    return root


def titles(root, tag):
    return [el.find("title").text for el in root.iter(tag)]


def tick_labels(root):
    return [t.text for t in root.iter("text") if t.get("class") == "plot-tick"]


def series_groups(root):
    return [g for g in root.iter("g") if re.search(r"\bseries-\d\b", g.get("class", ""))]


def test_number_shows_three_significant_digits_and_thousands():
    assert charts.number(0.86123) == "0.861"
    assert charts.number(0.012345) == "0.0123"
    assert charts.number(12345.6) == "12,346"
    assert charts.number(1234567) == "1,234,567"
    assert charts.number(2.0) == "2"
    assert charts.number(999.7) == "1,000"
    assert charts.number(0.1 + 0.2) == "0.3"
    assert charts.number(-0.0) == "0"
    assert charts.number(None) == charts.number(math.nan) == "–"


@pytest.mark.parametrize(
    "chart",
    [
        lambda: charts.lines([], title="t", x_label="x", y_label="y"),
        lambda: charts.lines([{"name": "a", "x": [], "y": []}], title="t", x_label="", y_label=""),
        lambda: charts.scatter([], title="t", x_label="x", y_label="y"),
        lambda: charts.scatter(
            [{"name": "a", "x": [None, math.nan], "y": [1, 2]}], title="t", x_label="", y_label=""
        ),
        lambda: charts.hbars([], title="t", value_label="v"),
        lambda: charts.histogram([], [], title="t", x_label="x"),
        lambda: charts.confusion([], [], title="t"),
    ],
)
def test_empty_input_gives_empty_string(chart):
    assert chart() == ""


def test_lines_draw_one_polyline_and_a_hover_point_per_value():
    root = parse(charts.lines([ROC], title="ROC curve", x_label="FPR", y_label="TPR"))
    assert root.get("aria-label") == "ROC curve"
    assert len(list(root.iter("polyline"))) == 1
    assert titles(root, "circle") == [
        "xgboost: x 0, y 0",
        "xgboost: x 0, y 0.5",
        "xgboost: x 0.1, y 0.8",
        "xgboost: x 0.4, y 0.95",
        "xgboost: x 1, y 1",
    ]


def test_lines_keep_about_fifty_hover_points_but_the_whole_curve():
    x = [i / 999 for i in range(1000)]
    root = parse(
        charts.lines([{"name": "pr", "x": x, "y": x[::-1]}], title="t", x_label="", y_label="")
    )
    hover = titles(root, "circle")
    assert len(hover) == charts.HOVER_POINTS
    assert hover[0] == "pr: x 0, y 1" and hover[-1] == "pr: x 1, y 0"
    # A straight line needs every point: only the upright/level steps are thinned.
    assert len(root.find(".//polyline").get("points").split()) == 1000


def test_lines_thin_straight_steps_of_a_roc_curve():
    steps = {"name": "s", "x": [0, 0, 0, 0, 0.5, 0.5, 1], "y": [0, 0.2, 0.4, 0.6, 0.6, 1, 1]}
    root = parse(charts.lines([steps], title="t", x_label="", y_label=""))
    assert len(root.find(".//polyline").get("points").split()) == 5
    assert len(titles(root, "circle")) == 7


def test_rates_use_axes_from_zero_to_one():
    root = parse(charts.lines([ROC], title="t", x_label="", y_label=""))
    assert tick_labels(root) == ["0", "0.2", "0.4", "0.6", "0.8", "1"] * 2


def test_other_values_get_round_ticks_around_them():
    curve = {"name": "score", "x": [10, 250, 1200], "y": [0.71, 0.8, 0.86]}
    root = parse(charts.lines([curve], title="t", x_label="", y_label=""))
    # Thousands with separators; the y axis hugs the scores instead of starting at zero.
    assert tick_labels(root) == [
        *["0", "200", "400", "600", "800", "1,000", "1,200"],
        *["0.7", "0.75", "0.8", "0.85", "0.9"],
    ]


def test_diagonal_only_when_asked():
    plain = parse(charts.lines([ROC], title="t", x_label="", y_label=""))
    chance = parse(charts.lines([ROC], title="t", x_label="", y_label="", diagonal=True))
    assert not [el for el in plain.iter("line") if el.get("class") == "plot-diagonal"]
    (line,) = [el for el in chance.iter("line") if el.get("class") == "plot-diagonal"]
    # From the bottom-left corner of the plot to its top-right one.
    assert float(line.get("x1")) < float(line.get("x2"))
    assert float(line.get("y1")) > float(line.get("y2"))


def test_missing_values_are_skipped():
    curve = {"name": "a", "x": [0, None, 0.5, math.nan, 1], "y": [0, 0.3, None, 0.7, 1]}
    root = parse(charts.lines([curve], title="t", x_label="", y_label=""))
    assert titles(root, "circle") == ["a: x 0, y 0", "a: x 1, y 1"]
    assert "nan" not in str(charts.lines([curve], title="t", x_label="", y_label="")).lower()


def test_several_series_get_distinct_colours_and_a_legend():
    other = {"name": "logistic regression", "x": [0, 1], "y": [0, 1]}
    root = parse(charts.lines([ROC, other], title="t", x_label="", y_label=""))
    groups = series_groups(root)
    assert {g.get("class") for g in groups if "plot-legend" not in g.get("class")} == {
        "series-0",
        "series-1",
    }
    legend = [g.find("text").text for g in groups if "plot-legend" in g.get("class")]
    assert legend == ["xgboost", "logistic regression"]


def test_a_single_series_needs_no_legend():
    root = parse(charts.lines([ROC], title="t", x_label="", y_label=""))
    assert not [g for g in root.iter("g") if "plot-legend" in g.get("class", "")]


def test_colours_repeat_after_the_palette():
    many = [{"name": f"s{i}", "x": [0, 1], "y": [0, i / 10]} for i in range(10)]
    root = parse(charts.lines(many, title="t", x_label="", y_label=""))
    classes = [g.get("class") for g in series_groups(root) if "plot-legend" not in g.get("class")]
    assert classes == [f"series-{i % 8}" for i in range(10)]


def test_text_is_escaped():
    evil = "<script>alert(1)</script>"
    svg = charts.lines(
        [{"name": evil, "x": [0, 1], "y": [0, 1]}, {"name": "b", "x": [0, 1], "y": [1, 0]}],
        title=evil,
        x_label=evil,
        y_label=evil,
    )
    assert "<script" not in svg
    root = parse(svg)
    assert root.get("aria-label") == evil
    assert titles(root, "circle")[0] == f"{evil}: x 0, y 0"
    assert evil in [t.text for t in root.iter("text")]


def test_scatter_titles_come_from_point_labels():
    trials = {
        "name": "trials",
        "x": [2.3, 0.4],
        "y": [0.861, 0.8],
        "labels": ["m003 · xgboost · score 0.861 · 2.3 s", "<b>m004</b>"],
    }
    svg = charts.scatter([trials], title="t", x_label="seconds", y_label="score")
    root = parse(svg)
    assert titles(root, "circle") == ["m003 · xgboost · score 0.861 · 2.3 s", "<b>m004</b>"]
    assert "<b>" not in svg


def test_scatter_diagonal_spans_the_shared_range():
    points = {"name": "rows", "x": [1, 5, 40], "y": [3, 7, 30]}
    root = parse(
        charts.scatter([points], title="t", x_label="actual", y_label="predicted", diagonal=True)
    )
    (line,) = [el for el in root.iter("line") if el.get("class") == "plot-diagonal"]
    ticks = tick_labels(root)
    half = len(ticks) // 2
    assert ticks[:half] == ticks[half:]  # both axes on the same scale
    # y = x from corner to corner, at 45 degrees in data units.
    left, _, _, right = map(float, re.findall(r"[\d.]+", root.find("path").get("d")))
    assert (float(line.get("x1")), float(line.get("x2"))) == (left, right)
    assert float(line.get("y1")) > float(line.get("y2"))
    assert len(titles(root, "circle")) == 3


def test_scatter_without_diagonal_has_none():
    root = parse(charts.scatter([ROC], title="t", x_label="", y_label=""))
    assert not [el for el in root.iter("line") if el.get("class") == "plot-diagonal"]


def test_log_axis_spans_orders_of_magnitude():
    times = {"name": "trials", "x": [0.01, 0.1, 1, 10, 100], "y": [0.5, 0.6, 0.7, 0.8, 0.9]}
    root = parse(charts.scatter([times], title="t", x_label="s", y_label="", log_x=True))
    assert tick_labels(root)[:5] == ["0.01", "0.1", "1", "10", "100"]
    xs = [float(c.get("cx")) for c in root.iter("circle")]
    gaps = [b - a for a, b in itertools.pairwise(xs)]
    assert gaps[0] > 0
    assert max(gaps) - min(gaps) < 0.2  # one decade is the same width everywhere


def test_log_axis_leaves_out_points_it_cannot_place():
    times = {"name": "t", "x": [0, -1, 0.5, 3], "y": [1, 2, 3, 4]}
    root = parse(charts.scatter([times], title="t", x_label="", y_label="", log_x=True))
    assert titles(root, "circle") == ["t: x 0.5, y 3", "t: x 3, y 4"]


def test_log_axis_with_diagonal_is_refused():
    with pytest.raises(ValueError, match="linear"):
        charts.scatter([ROC], title="t", x_label="", y_label="", diagonal=True, log_x=True)


def hbar_rows(root):
    return [g for g in root.iter("g") if "hbar" in g.get("class", "").split()]


def zero_x(root):
    (zero,) = [el for el in root.iter("line") if el.get("class") == "hbar-zero"]
    return float(zero.get("x1"))


def test_hbars_draw_negative_values_left_of_zero():
    root = parse(
        charts.hbars([("age", 0.2, None), ("noise", -0.05, None)], title="t", value_label="v")
    )
    positive, negative = (row.find("rect") for row in hbar_rows(root))
    zero = zero_x(root)
    assert float(positive.get("x")) == pytest.approx(zero, abs=0.1)
    assert float(positive.get("width")) > float(negative.get("width")) > 0
    assert float(negative.get("x")) < zero
    assert float(negative.get("x")) + float(negative.get("width")) == pytest.approx(zero, abs=0.1)
    assert "hbar-negative" in negative.get("class")


def test_hbars_show_values_and_errors():
    root = parse(charts.hbars([("age", 0.1234, 0.01)], title="t", value_label="v"))
    (row,) = hbar_rows(root)
    assert row.find("title").text == "age: 0.123 ± 0.01"
    assert row.find("path").get("class") == "hbar-whisker"


def test_hbars_grey_out_values_not_computed():
    items = [("age", 0.2, 0.01), ("income", None, None), ("city", math.nan, None)]
    root = parse(charts.hbars(items, title="t", value_label="v"))
    rows = hbar_rows(root)
    missing = [r for r in rows if "hbar-missing" in r.get("class")]
    assert [r.find("title").text for r in missing] == ["income: not computed", "city: not computed"]
    assert all(r.find("rect") is None for r in missing)
    assert len(list(root.iter("rect"))) == 1


def test_hbars_truncate_long_labels_but_title_them_in_full():
    long = "customer_lifetime_value_in_euros_<script>"
    svg = charts.hbars([(long, 1.0, None)], title="t", value_label="v")
    assert "<script" not in svg
    (row,) = hbar_rows(parse(svg))
    label = row.find("text").text
    assert label.endswith("…") and len(label) < len(long)
    assert row.find("title").text == f"{long}: 1"


def test_histogram_has_a_title_per_bin():
    svg = charts.histogram([-1, -0.5, 0, 0.5, 1], [3, 12, 1, 0], title="Residuals", x_label="error")
    root = parse(svg)
    bins = [g for g in root.iter("g") if g.get("class") == "plot-bin"]
    assert [b.find("title").text for b in bins] == [
        "from -1 to -0.5: 3 rows",
        "from -0.5 to 0: 12 rows",
        "from 0 to 0.5: 1 row",
        "from 0.5 to 1: 0 rows",
    ]
    heights = [float(b.findall("rect")[1].get("height")) for b in bins]
    assert heights[1] > heights[0] > heights[2] > heights[3] == 0
    assert {"-1", "0", "1"} <= set(tick_labels(root))


def test_histogram_needs_one_more_edge_than_counts():
    with pytest.raises(ValueError, match="edge"):
        charts.histogram([0, 1], [1, 2], title="t", x_label="x")


def confusion_cells(table):
    return [[td for td in tr.iter("td")] for tr in table.find("tbody")]


def alpha(td):
    return float(re.fullmatch(r"background: rgba\(37, 99, 235, ([\d.]+)\)", td.get("style"))[1])


def test_confusion_table_shades_cells_by_share_of_row():
    html = charts.confusion(["cat", "dog"], [[30, 10], [2, 18]], title="Confusion")
    table = ET.fromstring(str(html))
    assert table.tag == "table" and table.get("class") == "confusion"
    assert table.find("caption").text == "Confusion"
    cells = confusion_cells(table)
    assert [[td.text for td in row] for row in cells] == [["30", "10"], ["2", "18"]]
    (cat_cat, cat_dog), (dog_cat, dog_dog) = cells
    assert cat_dog.get("title") == "true cat, predicted dog: 10 rows (25% of cat)"
    assert dog_cat.get("title") == "true dog, predicted cat: 2 rows (10% of dog)"
    # By share of the row, not by count: 18 of 20 dogs is darker than 30 of 40 cats.
    assert alpha(dog_dog) > alpha(cat_cat) > alpha(cat_dog) > alpha(dog_cat) > 0
    assert "confusion-dark" in dog_dog.get("class")
    assert "confusion-dark" not in cat_dog.get("class")


def test_confusion_marks_the_diagonal():
    table = ET.fromstring(
        str(charts.confusion([0, 1, 2], [[1, 0, 0], [0, 1, 0], [0, 0, 1]], title="t"))
    )
    cells = confusion_cells(table)
    for i, row in enumerate(cells):
        for j, td in enumerate(row):
            assert ("confusion-diagonal" in td.get("class")) == (i == j)


def test_confusion_rows_without_examples_are_unshaded():
    table = ET.fromstring(str(charts.confusion(["a", "b"], [[2, 0], [0, 0]], title="t")))
    (_, _), (b_a, b_b) = confusion_cells(table)
    assert alpha(b_a) == alpha(b_b) == 0
    assert b_b.get("title") == "true b, predicted b: 0 rows (0% of b)"


def test_confusion_escapes_labels():
    html = charts.confusion(["<script>", "ok"], [[1, 0], [0, 1]], title="<i>t</i>")
    assert "<script" not in html and "<i>" not in html
    table = ET.fromstring(str(html))
    assert [th.text for th in table.iter("th") if th.get("scope") == "row"] == ["<script>", "ok"]


def test_confusion_needs_a_square_matrix():
    with pytest.raises(ValueError, match="one row and one column"):
        charts.confusion(["a", "b"], [[1, 2]], title="t")
