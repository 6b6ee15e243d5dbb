"""The nightly HTML report: one page (inline CSS, interactive plotly charts) and ``plotly.min.js`` beside it.

Sections: the counts, the flags, Sharpe heatmaps over strategy × symbol (one per timeframe and window, for
the live parameter set, or the base set where a pair is not live), neighbourhood heatmaps (param set ×
window, per strategy/symbol/timeframe), the equity curve of every live cell, and the failed cells. Every
link is a ``#fragment`` of an ``id`` in the same document; the only file it loads is the library next to it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from backtest_matrix.matrix import Flag, MergeResult
from reports._charts import chart, downsample, heatmap_figure, plotly_script_tag
from reports._tables import KPI_COLUMNS, fmt, group_records, number, window_order

__all__ = ["render_html"]

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem;color:#222;max-width:1400px}
table{border-collapse:collapse;margin:0.5rem 0 1.5rem}
th,td{border:1px solid #ccc;padding:0.25rem 0.5rem;font-size:0.9rem}
td.num{text-align:right;font-variant-numeric:tabular-nums}
figure{display:inline-block;margin:0 1rem 1rem 0;min-width:420px;vertical-align:top}
figcaption{font-size:0.85rem;color:#444}
nav li{display:inline;margin-right:1rem}
"""
_SECTIONS = (
    ("summary", "Summary"),
    ("flags", "Flags"),
    ("heatmaps", "Sharpe heatmaps"),
    ("neighbourhoods", "Neighbourhoods"),
    ("equity", "Equity curves"),
    ("failures", "Errors and timeouts"),
)
_SLUG = re.compile(r"[^a-z0-9]+")


def _slug(*parts: str) -> str:
    return _SLUG.sub("-", "-".join(parts).lower()).strip("-")


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[bool]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(
            f'<td class="num">{escape(c)}</td>' if n else f"<td>{escape(c)}</td>"
            for c, n in zip(row, numeric, strict=True)
        )
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _summary(merge: MergeResult, flags: Sequence[Flag]) -> str:
    counts = {**merge.counts(), "flags": len(flags)}
    headers = [name.replace("_", " ") for name in counts]
    return _table(headers, [[f"{value:,}" for value in counts.values()]], [True] * len(counts))


def _flags(flags: Sequence[Flag]) -> str:
    if not flags:
        return "<p>No flags: no cell moved beyond its thresholds against its trailing baseline.</p>"
    headers = [
        "Flag",
        "Cell",
        "Param set",
        "Metric",
        "Tonight",
        "Baseline",
        "Threshold",
        "Score",
        "Nights",
        "Why",
    ]
    rows = [
        [flag.kind, f"{flag.strategy} · {flag.symbol} · {flag.timeframe} · {flag.window}", flag.param_set,
         flag.metric, fmt(flag.figure, 2), fmt(flag.baseline, 2), f"{flag.threshold:g}", fmt(flag.score, 2),
         str(flag.nights), flag.message]
        for flag in flags
    ]  # fmt: skip
    return _table(headers, rows, [False] * 4 + [True] * 5 + [False])


def _representative(cells: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The live cell, else the base cell."""
    for param_set in ("live", "base"):
        for record in cells:
            if record.get("param_set") == param_set:
                return record
    return None


def _sharpe(record: Mapping[str, Any] | None) -> float | None:
    if record is None or record.get("status") != "ok":
        return None
    return number((record.get("kpis") or {}).get("sharpe"))


def _heatmaps(records: Sequence[Mapping[str, Any]]) -> str:
    """Per timeframe and window: Sharpe of the live (else base) set over strategy × symbol."""
    strategies = sorted({str(r["strategy"]) for r in records})
    symbols = sorted({str(r["symbol"]) for r in records})
    slices: dict[tuple[str, str], dict[tuple[str, str], list[Mapping[str, Any]]]] = {}
    for record in records:
        cell = slices.setdefault((str(record["timeframe"]), str(record["window"])), {})
        cell.setdefault((str(record["strategy"]), str(record["symbol"])), []).append(record)
    parts = []
    for timeframe, window in sorted(slices, key=lambda key: (key[0], window_order(key[1]))):
        cells = slices[(timeframe, window)]
        values = [[_sharpe(_representative(cells.get((s, y), []))) for y in symbols] for s in strategies]
        title = f"Sharpe, live (else base) parameters, {timeframe} bars, window {window}"
        anchor = _slug("heatmap", timeframe, window)
        figure = heatmap_figure(strategies, symbols, values, title=title)
        parts.append(
            f'<figure id="{anchor}">{chart(f"{anchor}-chart", figure, css_class="heatmap")}'
            f"<figcaption>{escape(title)}: strategy (rows) × symbol (columns)</figcaption></figure>"
        )
    return "".join(parts)


def _param_set_order(name: str) -> tuple[int, str]:
    return ({"live": 0, "base": 1}.get(name, 2), name)


def _neighbourhoods(records: Sequence[Mapping[str, Any]]) -> str:
    """Per strategy/symbol/timeframe: Sharpe of every param set (rows) in every window (columns)."""
    parts = []
    for (strategy, symbol, timeframe), group in group_records(records).items():
        windows = sorted({str(r["window"]) for r in group}, key=window_order)
        sets = sorted({str(r.get("param_set") or "?") for r in group}, key=_param_set_order)
        lookup = {(str(r.get("param_set") or "?"), str(r["window"])): r for r in group}
        values = [[_sharpe(lookup.get((p, w))) for w in windows] for p in sets]
        title = f"Sharpe by param set and window: {strategy} · {symbol} · {timeframe}"
        anchor = _slug("neighbourhood", strategy, symbol, timeframe)
        figure = heatmap_figure(sets, windows, values, title=title)
        parts.append(
            f'<figure id="{anchor}">{chart(f"{anchor}-chart", figure, css_class="heatmap")}'
            f"<figcaption>{escape(title)}</figcaption></figure>"
        )
    return "".join(parts)


def _equity(records: Sequence[Mapping[str, Any]]) -> str:
    """The equity curve of every live cell that has one (base cells where a pair has no live set)."""
    parts = []
    for (strategy, symbol, timeframe), group in group_records(records).items():
        has_live = any(r.get("param_set") == "live" for r in group)
        shown = "live" if has_live else "base"
        for record in sorted(group, key=lambda r: window_order(str(r["window"]))):
            equity = record.get("equity")
            if record.get("param_set") != shown or record.get("status") != "ok" or not equity:
                continue
            values = [float(v) if v is not None else float("nan") for v in equity]
            kpis = record.get("kpis") or {}
            caption = f"{strategy} · {symbol} · {timeframe} · {record['window']} ({shown}): " + ", ".join(
                f"{h} {fmt(number(kpis.get(n)), d)}" for h, n, d in KPI_COLUMNS
            )
            anchor = _slug("equity", strategy, symbol, timeframe, str(record["window"]))
            drawn = chart(f"{anchor}-chart", _equity_figure(values), css_class="equity")
            parts.append(
                f'<figure id="{anchor}" data-cell="{escape(str(record["cell_hash"]), quote=True)}">{drawn}'
                f"<figcaption>{escape(caption)}</figcaption></figure>"
            )
    return "".join(parts) or "<p>No equity curves: no live or base cell finished.</p>"


def _equity_figure(values: Sequence[float]) -> dict[str, Any]:
    """The curve by bar number (downsampled), its first value as a dashed reference."""
    bars, equity = downsample(range(len(values)), values)
    start = values[0] if values else 0.0
    return {
        "data": [{"type": "scatter", "mode": "lines", "x": bars.tolist(), "y": equity.tolist(),
                  "name": "equity", "line": {"color": "#1f5f9f"}}],
        "layout": {"height": 220, "showlegend": False, "xaxis": {"title": {"text": "bar"}},
                   "yaxis": {"title": {"text": "equity"}},
                   "shapes": [{"type": "line", "xref": "paper", "x0": 0, "x1": 1, "y0": start, "y1": start,
                               "line": {"dash": "dash", "color": "#999"}}]},
    }  # fmt: skip


def _failures(records: Sequence[Mapping[str, Any]]) -> str:
    failed = [r for r in records if r.get("status") != "ok"]
    if not failed:
        return "<p>Every cell finished.</p>"
    rows = [
        [str(r["status"]), f"{r['strategy']} · {r['symbol']} · {r['timeframe']} · {r['window']}",
         str(r.get("param_set") or "?"), str(r.get("error") or "(no reason recorded)")]
        for r in failed
    ]  # fmt: skip
    return _table(["Status", "Cell", "Param set", "Reason"], rows, [False] * 4)


def render_html(merge: MergeResult, flags: Sequence[Flag], *, run_id: str) -> str:
    """The nightly HTML report of a merged matrix run (see the module docstring).

    Parameters
    ----------
    merge
        The merged records and counts.
    flags
        Tonight's underperformance and drift flags.
    run_id
        The matrix run shown in the title.

    Returns
    -------
    str
        A complete HTML5 document; it loads ``plotly.min.js`` from its own folder
        (:func:`reports._charts.write_plotly_asset`).
    """
    records = merge.records
    bodies = {
        "summary": _summary(merge, flags),
        "flags": _flags(flags),
        "heatmaps": _heatmaps(records),
        "neighbourhoods": _neighbourhoods(records),
        "equity": _equity(records),
        "failures": _failures(records),
    }
    nav = "".join(f'<li><a href="#{key}">{escape(label)}</a></li>' for key, label in _SECTIONS)
    sections = "".join(
        f'<section id="{key}"><h2>{escape(label)}</h2>{bodies[key]}</section>' for key, label in _SECTIONS
    )
    title = f"Nightly backtest matrix: run {run_id}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style>{plotly_script_tag()}</head>"
        f"<body><h1>{escape(title)}</h1><nav><ul>{nav}</ul></nav>{sections}</body></html>\n"
    )
