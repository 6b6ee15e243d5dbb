"""Interactive charts with plotly: figures as ``<div>`` fragments that share one ``plotly.min.js`` file.

Every page of a site (the dashboard, the nightly report) loads the library once, from the asset file written
next to it (:func:`write_plotly_asset`), so the pages open from ``file://`` and GitHub Pages alike, offline.
Figures are passed as plain dicts (no per-trace validation, which costs more than the rendering) and long
series are cut down by :func:`downsample`, which keeps each bucket's first, last, lowest and highest point.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.io as pio
from plotly.offline import get_plotlyjs

from tradeloop._atomic import atomic_write_text

__all__ = [
    "PLOTLY_ASSET",
    "chart",
    "compact",
    "downsample",
    "heatmap_figure",
    "no_data",
    "plotly_script_tag",
    "stamps",
    "steps",
    "utc_naive",
    "write_plotly_asset",
]

#: The file name of the library next to every page that draws charts.
PLOTLY_ASSET = "plotly.min.js"
#: The most points one drawn line keeps (each bucket keeps up to 4).
MAX_POINTS = 1_000
_CONFIG = {"displaylogo": False, "responsive": True, "scrollZoom": True}
_LAYOUT = {
    "margin": {"l": 56, "r": 16, "t": 40, "b": 40},
    "height": 320,
    "font": {"family": "system-ui, sans-serif", "size": 12},
    "hovermode": "x unified",
}


def write_plotly_asset(directory: Path) -> Path:
    """Write ``plotly.min.js`` into ``directory`` (atomically; skipped when the same file is there)."""
    path = directory / PLOTLY_ASSET
    source = get_plotlyjs()
    if not path.is_file() or path.stat().st_size != len(source.encode()):
        atomic_write_text(path, source)
    return path


def plotly_script_tag() -> str:
    """The ``<script>`` that loads the library from the asset file next to the page."""
    return f'<script src="{PLOTLY_ASSET}" charset="utf-8"></script>'


def chart(div_id: str, figure: Mapping[str, Any], *, css_class: str = "chart") -> str:
    """One figure as a ``<div>`` and the ``<script>`` that draws it (the library is loaded by the page)."""
    layout = {**_LAYOUT, **dict(figure.get("layout", {}))}
    if isinstance(layout.get("title"), Mapping):  # left, clear of the mode bar on the right
        layout["title"] = {"x": 0.01, "xanchor": "left", **layout["title"]}
    document = {"data": list(figure.get("data", [])), "layout": layout}
    html = pio.to_html(
        document,
        include_plotlyjs=False,
        full_html=False,
        div_id=div_id,
        config=_CONFIG,
        validate=False,
        default_height=f"{layout['height']}px",
    )
    attributes = f'class="{escape(css_class, quote=True)}" data-chart="{escape(div_id, quote=True)}"'
    return f"<div {attributes}>{html}</div>"


def no_data(what: str) -> str:
    """The line a panel shows when it has nothing to draw yet."""
    return f'<p class="no-data">No data yet: {escape(what)}.</p>'


def downsample(
    x: Sequence[Any] | np.ndarray, y: Sequence[float] | np.ndarray, limit: int = MAX_POINTS
) -> tuple[np.ndarray, np.ndarray]:
    """At most ``limit`` points of the line ``(x, y)``: per bucket its first, lowest, highest and last point.

    Drawn at screen width, the line looks the same (peaks and troughs are kept, so a drawdown's depth
    survives), and the file stays small whatever the length of the history.
    """
    xs, ys = np.asarray(x), np.asarray(y, dtype=float)
    if len(ys) <= limit:
        return xs, ys
    buckets = max(1, limit // 4)
    edges = np.linspace(0, len(ys), buckets + 1).astype(int)
    keep: list[int] = []
    for start, end in itertools.pairwise(edges):
        if end <= start:
            continue
        segment = ys[start:end]
        finite = np.where(np.isfinite(segment), segment, np.nan)
        picks = {start, end - 1}
        if np.isfinite(finite).any():
            picks |= {start + int(np.nanargmin(finite)), start + int(np.nanargmax(finite))}
        keep.extend(sorted(picks))
    index = np.asarray(keep)
    return xs[index], ys[index]


def compact(values: Any, digits: int = 5) -> list[float | None]:
    """Numbers at ``digits`` significant digits (a smaller page; no chart shows more), NaN as a gap."""
    return [float(f"{v:.{digits}g}") if math.isfinite(v) else None for v in np.asarray(values, dtype=float)]


def steps(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The points of a step line where its value changes (and its last point): the same line, drawn ``hv``."""
    if len(y) == 0:
        return x, y
    keep = np.ones(len(y), dtype=bool)
    keep[1:] = y[1:] != y[:-1]
    keep[-1] = True
    return x[keep], y[keep]


def utc_naive(times: Any) -> np.ndarray:
    """Times as ``datetime64[ns]`` in UTC (no per-value objects: cheap to slice and downsample)."""
    index = pd.DatetimeIndex(pd.to_datetime(times, utc=True))
    return index.tz_localize(None).to_numpy()


def stamps(times: Any) -> list[str]:
    """Times as the short strings plotly reads as dates (``2025-01-02 03:00``), UTC."""
    index = pd.DatetimeIndex(times)
    index = index.tz_convert("UTC") if index.tz is not None else index
    return [str(t) for t in index.strftime("%Y-%m-%d %H:%M")]


def heatmap_figure(
    rows: Sequence[str],
    columns: Sequence[str],
    values: Sequence[Sequence[float | None]],
    *,
    title: str,
    limit: float = 2.0,
    colorbar: str = "Sharpe",
) -> dict[str, Any]:
    """A labelled red–white–green heatmap (``±limit`` at full colour; missing cells blank), values written."""
    z = [[None if v is None or not math.isfinite(v) else v for v in row] for row in values]
    text = [["—" if v is None else f"{v:.2f}" for v in row] for row in z]
    return {
        "data": [
            {
                "type": "heatmap", "x": list(columns), "y": list(rows), "z": z, "text": text,
                "texttemplate": "%{text}", "zmin": -limit, "zmax": limit, "zmid": 0,
                "colorscale": [[0, "#d73027"], [0.5, "#ffffff"], [1, "#1a9850"]],
                "colorbar": {"title": {"text": colorbar}},
                "hovertemplate": "%{y} × %{x}: %{text}<extra></extra>",
            }
        ],
        "layout": {
            "title": {"text": escape(title)},
            "height": max(220, 60 + 34 * len(rows)),
            "yaxis": {"autorange": "reversed", "type": "category"},
            "xaxis": {"type": "category"},
            "hovermode": "closest",
        },
    }  # fmt: skip
