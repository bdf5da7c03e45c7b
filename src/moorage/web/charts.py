"""Server-side SVG line charts for the dashboard (no JavaScript, no external CSS or fonts).

`line_chart` returns one self-contained ``<svg>`` element to inline into an HTML page.

- x axis: exactly [start, end]; lines are clipped to the plot, so a point just outside the window
  still draws the segment into it. 4-6 ticks on round UTC times, ``HH:MM`` when the span is at
  most two days (``MM-DD`` above).
- y axis: 0 to the smallest m * 10**k (m in 1, 2, 2.5, 5) >= the largest value plotted inside the
  window, or 1 without data: 73 -> 100, 40 -> 50, 2.1 -> 2.5, 2 -> 2. 4 (m = 1, 2) or 5 (m = 2.5,
  5) grid lines above the baseline, labelled compactly (0.25, 1.5k, 2M); the top one adds `unit`.
- A ``None`` (or non-finite) value is a gap: the line restarts with a new ``M``.
- ``stacked``: series i is drawn at the sum of series 0..i at the same timestamp (missing counts
  as 0) and the band between consecutive series is filled.
- Markup: lines ``<path class="sN" stroke=...>``, areas ``<path class="area sN">``, legend swatches
  ``<rect class="sN">``; the root has ``class="chart"``, ``data-points`` (non-None points over all
  series) and a ``<desc>`` with each series' latest value ("2xx: 120 req/min, 5xx: 0 req/min").
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from xml.sax.saxutils import escape

# Okabe-Ito colours (colour-blind safe), yellow left out for contrast on white.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#666666")
NO_DATA = "No data yet"
_LEFT, _RIGHT, _TOP, _BOTTOM = 8, 8, 24, 18
_DAY = 86400
_SHORT_STEPS = tuple(60 * m for m in (1, 2, 5, 10, 15, 20, 30, 60, 90, 120, 180, 240, 360, 720))
_LONG_STEPS = tuple(_DAY * d for d in (1, 2, 3, 7, 14, 28, 56, 91, 182, 364))

# (t, base, value): base is 0 unless stacked; value None is a gap.
_Drawn = list[tuple[float, float, float | None]]


@dataclass(frozen=True)
class Series:
    name: str  # legend label, e.g. "2xx", "p95", "web.1"
    points: list[tuple[float, float | None]]  # (unix time seconds, value); None = gap


@dataclass(frozen=True)
class _Box:
    width: int
    height: int
    start: float
    end: float
    ymax: float

    @property
    def right(self) -> float:
        return self.width - _RIGHT

    @property
    def bottom(self) -> float:
        return self.height - _BOTTOM

    def x(self, t: float) -> float:
        return _LEFT + (self.right - _LEFT) * (t - self.start) / (self.end - self.start)

    def y(self, v: float) -> float:
        return self.bottom - (self.bottom - _TOP) * v / self.ymax


def _n(v: float) -> str:
    """A coordinate rounded to 1 decimal, without a trailing ".0"."""
    r = round(v, 1)
    return str(int(r)) if r == int(r) else f"{r:.1f}"


def _compact(v: float) -> str:
    """120 -> "120", 1500 -> "1.5k", 2e6 -> "2M", 0.25 -> "0.25"."""
    for div, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(v) >= div * 0.9995:
            return f"{v / div:.3g}{suffix}"
    return f"{v:.3g}"


def _nice_max(peak: float) -> tuple[float, int]:
    """The axis top for `peak` and its number of grid intervals."""
    if not peak > 0:
        return 1.0, 4
    k = math.floor(math.log10(peak))
    for m, intervals in ((1.0, 4), (2.0, 4), (2.5, 5), (5.0, 5)):
        top = m * 10.0**k
        if top >= peak * (1 - 1e-9):
            return top, intervals
    return 10.0 ** (k + 1), 4


def _ticks(start: float, end: float) -> list[tuple[float, str]]:
    """4-6 (time, label) x-axis ticks on round UTC times."""
    short = end - start <= 2 * _DAY
    times: list[float]
    for step in _SHORT_STEPS if short else _LONG_STEPS:
        first = math.ceil(start / step) * step
        count = math.floor((end - first) / step) + 1
        if 4 <= count <= 6:
            fmt = "%H:%M" if short else "%m-%d"
            times = [first + i * step for i in range(count)]
            break
    else:  # no round step fits: five evenly spaced ticks
        fmt = "%H:%M:%S" if short else "%m-%d %H:%M"
        times = [start + (end - start) * i / 4 for i in range(5)]
    return [(t, datetime.fromtimestamp(t, UTC).strftime(fmt)) for t in times]


def _clean(points: list[tuple[float, float | None]]) -> list[tuple[float, float | None]]:
    """Points sorted by time, non-finite values turned into gaps."""
    kept = [(t, v if v is not None and math.isfinite(v) else None) for t, v in points]
    return sorted((p for p in kept if math.isfinite(p[0])), key=lambda p: p[0])


def _layers(clean: list[list[tuple[float, float | None]]], stacked: bool) -> list[_Drawn]:
    below: dict[float, float] = {}
    layers: list[_Drawn] = []
    for pts in clean:
        if not stacked:
            layers.append([(t, 0.0, v) for t, v in pts])
            continue
        layer: _Drawn = []
        for t, v in pts:
            base = below.get(t, 0.0)
            layer.append((t, base, None if v is None else base + v))
        for t, v in pts:
            below[t] = below.get(t, 0.0) + (v or 0.0)
        layers.append(layer)
    return layers


def _segments(layer: _Drawn) -> list[list[tuple[float, float, float]]]:
    segments: list[list[tuple[float, float, float]]] = [[]]
    for t, base, v in layer:
        if v is None:
            if segments[-1]:
                segments.append([])
        else:
            segments[-1].append((t, base, v))
    return [s for s in segments if s]


def _series_paths(box: _Box, layers: list[_Drawn], stacked: bool, uid: str) -> list[str]:
    areas: list[str] = []
    lines: list[str] = []
    for i, layer in enumerate(layers):
        color = PALETTE[i % len(PALETTE)]
        line_d, area_d = [], []
        for seg in _segments(layer):
            tops = [f"{_n(box.x(t))},{_n(box.y(v))}" for t, _, v in seg]
            line_d.append("M" + "L".join(tops) + ("h0" if len(seg) == 1 else ""))
            if len(seg) == 1:  # a lone point: a dot big enough to see
                t, _, v = seg[0]
                lines.append(
                    f'<circle class="s{i}" cx="{_n(box.x(t))}" cy="{_n(box.y(v))}" r="3"'
                    f' fill="{color}" stroke="none"/>'
                )
            if stacked and len(seg) > 1:
                bases = [f"{_n(box.x(t))},{_n(box.y(b))}" for t, b, _ in reversed(seg)]
                area_d.append("M" + "L".join(tops + bases) + "Z")
        if area_d:
            areas.append(
                f'<path class="area s{i}" d="{"".join(area_d)}" fill="{color}"'
                ' fill-opacity="0.35" stroke="none"/>'
            )
        if line_d:
            lines.append(f'<path class="s{i}" d="{"".join(line_d)}" stroke="{color}"/>')
    return [
        f'<g clip-path="url(#{uid}-c)" fill="none" stroke-width="1.5"'
        ' stroke-linejoin="round" stroke-linecap="round">',
        *areas,
        *lines,
        "</g>",
    ]


def _y_axis(box: _Box, intervals: int, unit: str) -> list[str]:
    out = ['<g class="yaxis" fill="#555">']
    for i in range(intervals + 1):
        v = box.ymax * i / intervals
        y = _n(box.y(v))
        label = _compact(v) + (f" {unit}" if unit and i == intervals else "")
        stroke = "#999" if i == 0 else "#e5e5e5"
        out.append(f'<line x1="{_LEFT}" y1="{y}" x2="{_n(box.right)}" y2="{y}" stroke="{stroke}"/>')
        out.append(f'<text x="{_LEFT + 2}" y="{_n(box.y(v) - 3)}">{escape(label)}</text>')
    out.append("</g>")
    return out


def _x_axis(box: _Box) -> list[str]:
    out = ['<g class="xaxis" fill="#555" text-anchor="middle">']
    for t, label in _ticks(box.start, box.end):
        x = box.x(t)
        out.append(
            f'<line x1="{_n(x)}" y1="{_n(box.bottom)}" x2="{_n(x)}" y2="{_n(box.bottom + 3)}"'
            ' stroke="#999"/>'
        )
        tx = min(max(x, _LEFT + 16), box.right - 16)
        out.append(f'<text x="{_n(tx)}" y="{_n(box.height - 4)}">{escape(label)}</text>')
    out.append("</g>")
    return out


def _legend(box: _Box, names: list[str]) -> list[str]:
    widths = [14 + 6 * len(name) + 10 for name in names]
    x = max(float(_LEFT), box.right - sum(widths) + 10)
    out = ['<g class="legend" fill="#333">']
    for i, (name, w) in enumerate(zip(names, widths, strict=True)):
        color = PALETTE[i % len(PALETTE)]
        out.append(f'<rect class="s{i}" x="{_n(x)}" y="6" width="9" height="9" fill="{color}"/>')
        out.append(f'<text x="{_n(x + 13)}" y="14">{escape(name)}</text>')
        x += w
    out.append("</g>")
    return out


def _desc(series: list[Series], clean: list[list[tuple[float, float | None]]], unit: str) -> str:
    if not series:
        return NO_DATA
    parts = []
    for s, pts in zip(series, clean, strict=True):
        latest = next((v for _, v in reversed(pts) if v is not None), None)
        value = "no data" if latest is None else _compact(latest) + (f" {unit}" if unit else "")
        parts.append(f"{s.name}: {value}")
    return ", ".join(parts)


def line_chart(
    title: str,
    series: list[Series],
    *,
    unit: str = "",
    start: float,
    end: float,
    width: int = 640,
    height: int = 200,
    stacked: bool = False,
) -> str:
    """An ``<svg>`` element (string) charting `series` over the window [start, end].
    See the module docstring for the axis, gap, stacking and markup rules."""
    if not end > start:
        raise ValueError("line_chart: end must be after start")
    clean = [_clean(s.points) for s in series]
    count = sum(1 for pts in clean for _, v in pts if v is not None)
    layers = _layers(clean, stacked)
    inside = (v for layer in layers for t, _, v in layer if v is not None and start <= t <= end)
    ymax, intervals = _nice_max(max(inside, default=0.0))
    box = _Box(width, height, start, end, ymax)
    key = repr((title, series, unit, start, end, width, height, stacked)).encode()
    uid = "chart-" + hashlib.sha256(key).hexdigest()[:10]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}"'
        f' width="{width}" height="{height}" role="img" aria-labelledby="{uid}-t {uid}-d"'
        f' data-points="{count}" font-family="system-ui,sans-serif" font-size="10">',
        f'<title id="{uid}-t">{escape(title)}</title>',
        f'<desc id="{uid}-d">{escape(_desc(series, clean, unit))}</desc>',
        f'<defs><clipPath id="{uid}-c"><rect x="{_LEFT - 2}" y="{_TOP - 2}"'
        f' width="{_n(box.right - _LEFT + 4)}" height="{_n(box.bottom - _TOP + 4)}"/>'
        "</clipPath></defs>",
        *_y_axis(box, intervals, unit),
        *_x_axis(box),
        *_series_paths(box, layers, stacked, uid),
        *(_legend(box, [s.name for s in series]) if series else []),
    ]
    if count == 0:
        parts.append(
            f'<text class="empty" x="{_n((_LEFT + box.right) / 2)}"'
            f' y="{_n((_TOP + box.bottom) / 2)}" text-anchor="middle" font-size="13"'
            f' fill="#777">{NO_DATA}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts)
