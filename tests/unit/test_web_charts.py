from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime

import pytest

from moorage.web.charts import Series, line_chart

NS = {"svg": "http://www.w3.org/2000/svg"}
T0 = datetime(2024, 3, 5, 10, 0, tzinfo=UTC).timestamp()
HOUR = 3600.0


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def minute_series(name: str, values: list[float | None]) -> Series:
    return Series(name, [(T0 + 60 * i, v) for i, v in enumerate(values)])


def path_d(root: ET.Element, cls: str) -> str:
    paths = [p for p in root.iterfind(".//svg:path", NS) if p.get("class") == cls]
    assert len(paths) == 1
    return paths[0].get("d", "")


def ys(d: str) -> list[float]:
    return [float(y) for y in re.findall(r"-?[\d.]+,(-?[\d.]+)", d)]


def grid(root: ET.Element) -> dict[str, float]:
    """Y-axis label -> y coordinate of its grid line."""
    axis = root.find("svg:g[@class='yaxis']", NS)
    assert axis is not None
    lines = axis.findall("svg:line", NS)
    labels = [t.text or "" for t in axis.findall("svg:text", NS)]
    assert len(lines) == len(labels)
    return {label: float(line.get("y1", "nan")) for line, label in zip(lines, labels, strict=True)}


def x_labels(root: ET.Element) -> list[str]:
    axis = root.find("svg:g[@class='xaxis']", NS)
    assert axis is not None
    return [t.text or "" for t in axis.findall("svg:text", NS)]


def test_root_element_is_an_accessible_self_contained_svg() -> None:
    svg = line_chart("Requests", [minute_series("2xx", [1.0, 2.0])], start=T0, end=T0 + HOUR)
    root = parse(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("class") == "chart"
    assert root.get("role") == "img"
    assert root.get("viewBox") == "0 0 640 200"
    title, desc = root.find("svg:title", NS), root.find("svg:desc", NS)
    assert title is not None and desc is not None
    assert (root.get("aria-labelledby") or "").split() == [title.get("id"), desc.get("id")]
    assert "<script" not in svg and "href" not in svg


def test_title_desc_and_legend_are_escaped() -> None:
    series = [minute_series("<b>&co", [3.0, 120.0]), minute_series("5xx", [2.0, 0.0])]
    svg = line_chart("Latency <p95> & co", series, unit="req/min", start=T0, end=T0 + HOUR)
    assert "Latency &lt;p95&gt; &amp; co" in svg
    assert "<b>" not in svg
    root = parse(svg)
    assert root.findtext("svg:title", namespaces=NS) == "Latency <p95> & co"
    assert root.findtext("svg:desc", namespaces=NS) == "<b>&co: 120 req/min, 5xx: 0 req/min"
    legend = [t.text for t in root.iterfind("svg:g[@class='legend']/svg:text", NS)]
    assert legend == ["<b>&co", "5xx"]


def test_desc_uses_the_latest_non_gap_value_and_compact_numbers() -> None:
    series = [minute_series("a", [1.0, 1500.0, None]), minute_series("b", [None, None])]
    root = parse(line_chart("t", series, start=T0, end=T0 + HOUR))
    assert root.findtext("svg:desc", namespaces=NS) == "a: 1.5k, b: no data"


def test_data_points_counts_non_none_points_over_all_series() -> None:
    series = [minute_series("a", [1.0, None, 3.0]), minute_series("b", [None, 5.0])]
    root = parse(line_chart("t", series, start=T0, end=T0 + HOUR))
    assert root.get("data-points") == "3"


def test_none_breaks_the_line_into_segments() -> None:
    series = [minute_series("a", [1.0, 2.0, None, 4.0, 5.0]), minute_series("b", [1.0, 2.0])]
    root = parse(line_chart("t", series, start=T0, end=T0 + HOUR))
    assert path_d(root, "s0").count("M") == 2
    assert path_d(root, "s1").count("M") == 1


def test_each_series_has_a_default_stroke_colour() -> None:
    series = [minute_series(f"web.{i}", [1.0, 2.0]) for i in range(3)]
    root = parse(line_chart("t", series, start=T0, end=T0 + HOUR))
    strokes = [p.get("stroke") for p in root.iterfind(".//svg:path", NS)]
    assert len(strokes) == 3 and len(set(strokes)) == 3
    assert all(re.fullmatch(r"#[0-9A-Fa-f]{6}", s or "") for s in strokes)


def test_stacked_series_are_drawn_at_the_cumulative_sum_with_filled_areas() -> None:
    series = [minute_series("2xx", [10.0, 10.0]), minute_series("5xx", [30.0, 20.0])]
    root = parse(line_chart("t", series, start=T0, end=T0 + HOUR, stacked=True))
    levels = grid(root)
    assert "50" in levels  # 10 + 30 = 40 -> nice max 50, grid every 10
    assert min(ys(path_d(root, "s1"))) == levels["40"]
    assert min(ys(path_d(root, "s0"))) == levels["10"]
    for i in (0, 1):
        assert root.find(f".//svg:path[@class='area s{i}']", NS) is not None
    area = root.find(".//svg:path[@class='area s1']", NS)
    assert area is not None and area.get("fill-opacity") == "0.35"


def test_unstacked_series_use_their_own_values() -> None:
    series = [minute_series("2xx", [10.0, 10.0]), minute_series("5xx", [30.0, 20.0])]
    root = parse(line_chart("t", series, start=T0, end=T0 + HOUR))
    levels = grid(root)
    assert min(ys(path_d(root, "s1"))) == levels["30"]
    assert root.find(".//svg:path[@class='area s0']", NS) is None


def test_empty_chart_still_has_axes_and_says_no_data_yet() -> None:
    for series in ([], [minute_series("a", [None, None])]):
        root = parse(line_chart("t", series, unit="ms", start=T0, end=T0 + HOUR))
        assert root.get("data-points") == "0"
        assert root.findtext("svg:text[@class='empty']", namespaces=NS) == "No data yet"
        assert list(grid(root)) == ["0", "0.25", "0.5", "0.75", "1 ms"]
        assert len(x_labels(root)) >= 4
    root = parse(line_chart("t", [minute_series("a", [0.0])], start=T0, end=T0 + HOUR))
    assert root.find("svg:text[@class='empty']", NS) is None


@pytest.mark.parametrize(
    ("peak", "top"),
    [
        (73.0, "100"),
        (100.0, "100"),
        (101.0, "200"),
        (40.0, "50"),
        (2.0, "2"),
        (2.1, "2.5"),
        (0.3, "0.5"),
        (0.0, "1"),
        (1500.0, "2k"),
        (2.2e6, "2.5M"),
    ],
)
def test_y_axis_tops_at_the_smallest_nice_value_at_or_above_the_peak(peak: float, top: str) -> None:
    root = parse(line_chart("t", [minute_series("a", [peak / 2, peak])], start=T0, end=T0 + HOUR))
    labels = list(grid(root))
    assert labels[0] == "0"
    assert labels[-1] == top
    assert 4 <= len(labels) - 1 <= 5


def test_top_y_label_carries_the_unit_and_grid_labels_are_compact() -> None:
    series = [minute_series("a", [7300.0])]
    root = parse(line_chart("t", series, unit="req/min", start=T0, end=T0 + HOUR))
    assert list(grid(root)) == ["0", "2.5k", "5k", "7.5k", "10k req/min"]


def test_points_outside_the_window_do_not_raise_the_y_axis() -> None:
    series = [Series("a", [(T0 - HOUR, 900.0), (T0 + 60, 7.0)])]
    root = parse(line_chart("t", series, start=T0, end=T0 + HOUR))
    assert list(grid(root))[-1] == "10"


def test_x_ticks_are_round_utc_times() -> None:
    root = parse(line_chart("t", [], start=T0, end=T0 + HOUR))
    assert x_labels(root) == ["10:00", "10:15", "10:30", "10:45", "11:00"]


@pytest.mark.parametrize("span", [10 * 60, HOUR, 3 * HOUR, 6 * HOUR, 24 * HOUR, 48 * HOUR])
def test_x_tick_labels_are_hh_mm_and_four_to_six(span: float) -> None:
    start = T0 + 17 * 60 + 23  # not on a round time
    labels = x_labels(parse(line_chart("t", [], start=start, end=start + span)))
    assert 4 <= len(labels) <= 6
    assert all(re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", label) for label in labels)


def test_coordinates_have_at_most_one_decimal() -> None:
    series = [Series("a", [(T0 + 7.77 * i, 1.0 / (i + 3)) for i in range(50)])]
    svg = line_chart("t", series, start=T0, end=T0 + 1000, width=613, height=177)
    assert not re.search(r"\d\.\d\d", path_d(parse(svg), "s0"))


def test_output_is_deterministic() -> None:
    def chart() -> str:
        series = [minute_series("a", [1.0, None, 3.0]), minute_series("b", [2.0, 2.0])]
        return line_chart("t", series, unit="ms", start=T0, end=T0 + HOUR, stacked=True)

    assert chart() == chart()


def test_empty_window_is_rejected() -> None:
    with pytest.raises(ValueError, match="end must be after start"):
        line_chart("t", [], start=T0, end=T0)
