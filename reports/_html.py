"""The nightly HTML report: one self-contained file (inline CSS and SVG, no script, no external reference).

Sections: the counts, the flags, Sharpe heatmaps over strategy × symbol (one per timeframe and window, for
the live parameter set, or the base set where a pair is not live), neighbourhood heatmaps (param set ×
window, per strategy/symbol/timeframe), the equity curve of every live cell, and the failed cells. Every
link is a ``#fragment`` of an ``id`` in the same document.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from backtest_matrix.matrix import Flag, MergeResult
from reports._svg import heatmap_svg, line_svg
from reports._tables import KPI_COLUMNS, fmt, group_records, number, window_order

__all__ = ["render_html"]

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem;color:#222;max-width:1400px}
table{border-collapse:collapse;margin:0.5rem 0 1.5rem}
th,td{border:1px solid #ccc;padding:0.25rem 0.5rem;font-size:0.9rem}
td.num{text-align:right;font-variant-numeric:tabular-nums}
svg{font-size:12px;margin:0.25rem 1rem 1rem 0}
figure{display:inline-block;margin:0 1rem 1rem 0}
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
        parts.append(
            f'<figure id="{_slug("heatmap", timeframe, window)}">'
            f"{heatmap_svg(strategies, symbols, values, title=title)}"
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
        parts.append(
            f'<figure id="{_slug("neighbourhood", strategy, symbol, timeframe)}">'
            f"{heatmap_svg(sets, windows, values, title=title)}"
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
            chart = line_svg(values, title=f"Equity: {caption}", data_cell=str(record["cell_hash"]))
            anchor = _slug("equity", strategy, symbol, timeframe, str(record["window"]))
            parts.append(f'<figure id="{anchor}">{chart}<figcaption>{escape(caption)}</figcaption></figure>')
    return "".join(parts) or "<p>No equity curves: no live or base cell finished.</p>"


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
        A complete HTML5 document.
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
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>{escape(title)}</h1><nav><ul>{nav}</ul></nav>{sections}</body></html>\n"
    )
