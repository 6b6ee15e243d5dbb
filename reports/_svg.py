"""Hand-made inline SVG: a heatmap and a line chart, with no dependency and no external reference."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

__all__ = ["diverging_colour", "heatmap_svg", "line_svg"]

_CHAR_PX = 7.0  # rough width of one character of the 12 px sans-serif labels
_CELL_W, _CELL_H = 64, 26
_MISSING = "#d9d9d9"


def _attr(text: object) -> str:
    return escape(str(text), quote=True)


def diverging_colour(value: float | None, limit: float) -> str:
    """Red (``-limit`` and below) through white (0) to green (``+limit`` and above); grey when missing."""
    if value is None or not math.isfinite(value):
        return _MISSING
    t = max(-1.0, min(1.0, value / limit))
    low, high = (215, 48, 39), (26, 152, 80)
    end = high if t >= 0 else low
    mix = abs(t)
    r, g, b = (round(255 + (channel - 255) * mix) for channel in end)
    return f"#{r:02x}{g:02x}{b:02x}"


def heatmap_svg(
    rows: Sequence[str],
    columns: Sequence[str],
    values: Sequence[Sequence[float | None]],
    *,
    title: str,
    limit: float = 2.0,
    decimals: int = 2,
    css_class: str = "heatmap",
) -> str:
    """A labelled heatmap: one coloured cell per value, the value written in it and in its tooltip.

    Parameters
    ----------
    rows, columns
        Labels of the rows (left) and columns (top).
    values
        ``values[i][j]`` for row ``i`` and column ``j``; None is drawn grey.
    title
        The accessible title (``<title>`` of the SVG).
    limit
        The value drawn at full colour (a Sharpe of ±2 by default).
    """
    left = 10 + _CHAR_PX * max((len(label) for label in rows), default=0)
    top = 18 + _CHAR_PX * max((len(label) for label in columns), default=0) * 0.6
    width = left + _CELL_W * len(columns) + 10
    height = top + _CELL_H * len(rows) + 10
    parts = [
        f'<svg class="{_attr(css_class)}" role="img" '
        f'width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}">',
        f"<title>{escape(title)}</title>",
    ]
    for j, column in enumerate(columns):
        x = left + _CELL_W * (j + 0.5)
        parts.append(f'<text x="{x:.1f}" y="{top - 6:.1f}" text-anchor="middle">{escape(column)}</text>')
    for i, row in enumerate(rows):
        y = top + _CELL_H * i
        parts.append(f'<text x="{left - 6:.1f}" y="{y + 17:.1f}" text-anchor="end">{escape(row)}</text>')
        for j, column in enumerate(columns):
            value = values[i][j]
            x = left + _CELL_W * j
            shown = "—" if value is None else f"{value:.{decimals}f}"
            parts.append(
                f"<g><title>{escape(f'{row} × {column}: {shown}')}</title>"
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{_CELL_W - 2}" height="{_CELL_H - 2}" '
                f'fill="{diverging_colour(value, limit)}"/>'
                f'<text x="{x + _CELL_W / 2 - 1:.1f}" y="{y + 17:.1f}" text-anchor="middle">'
                f"{shown}</text></g>"
            )
    parts.append("</svg>")
    return "".join(parts)


def line_svg(
    values: Sequence[float],
    *,
    title: str,
    width: int = 360,
    height: int = 140,
    css_class: str = "equity",
    data_cell: str | None = None,
) -> str:
    """A line chart of ``values`` (e.g. an equity curve) with its first value as a dashed reference line."""
    pad_left, pad = 64.0, 10.0
    finite = [v for v in values if math.isfinite(v)]
    low, high = (min(finite), max(finite)) if finite else (0.0, 1.0)
    if high == low:
        low, high = low - 1.0, high + 1.0
    span_x = max(len(values) - 1, 1)

    def xy(index: int, value: float) -> str:
        x = pad_left + (width - pad_left - pad) * index / span_x
        y = pad + (height - 2 * pad) * (high - value) / (high - low)
        return f"{x:.1f},{y:.1f}"

    points = " ".join(xy(i, v) for i, v in enumerate(values) if math.isfinite(v))
    cell = f' data-cell="{_attr(data_cell)}"' if data_cell else ""
    start = values[0] if values and math.isfinite(values[0]) else low
    reference = xy(0, start).split(",")[1]
    return (
        f'<svg class="{_attr(css_class)}"{cell} role="img" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
        f"<title>{escape(title)}</title>"
        f'<line x1="{pad_left}" x2="{width - pad}" y1="{reference}" y2="{reference}" stroke="#999" '
        'stroke-dasharray="4 3"/>'
        f'<text x="{pad_left - 4}" y="{pad + 4}" text-anchor="end">{high:,.0f}</text>'
        f'<text x="{pad_left - 4}" y="{height - pad}" text-anchor="end">{low:,.0f}</text>'
        f'<polyline fill="none" stroke="#1f5f9f" stroke-width="1.5" points="{points}"/>'
        "</svg>"
    )
