"""The nightly markdown summary, fit for ``$GITHUB_STEP_SUMMARY``.

Sections, most important first so that truncation cuts the least important: the header (run id and
counts), the flags, the failed cells (errors and timeouts), then one KPI table per strategy/symbol/timeframe
(rows: window × live/base param set plus the neighbours' medians; columns with units and per-regime Sharpe).

GitHub refuses a step summary over 1 MiB. :func:`render_markdown` stays under ``limit_bytes`` by dropping
whole lines from the end (a table keeps its header and separator, or goes entirely) and ending with a note
that says how much was left out and where the full report is.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from backtest_matrix.matrix import Flag, MergeResult
from reports._tables import KPI_COLUMNS, REGIME_COLUMNS, fmt, group_records, kpi_rows

__all__ = ["GITHUB_SUMMARY_LIMIT_BYTES", "SUMMARY_BUDGET_BYTES", "escape_cell", "render_markdown"]

#: GitHub's limit on one step's summary.
GITHUB_SUMMARY_LIMIT_BYTES = 1024 * 1024
#: What :func:`render_markdown` allows itself by default: the limit less room for other steps' lines.
SUMMARY_BUDGET_BYTES = GITHUB_SUMMARY_LIMIT_BYTES - 64 * 1024
_REASON_CHARS = 300

Unit = str  # one or more lines that are kept or dropped together


def escape_cell(text: object, limit: int = _REASON_CHARS) -> str:
    """Text safe inside a markdown table cell: one line, pipes escaped, at most ``limit`` characters."""
    flat = " ".join(str(text).split())
    if len(flat) > limit:
        flat = flat[: limit - 1] + "…"
    return flat.replace("\\", "\\\\").replace("|", "\\|")


def _table(headers: Sequence[str], aligns: Sequence[str], rows: Sequence[Sequence[str]]) -> list[Unit]:
    head = "| " + " | ".join(headers) + " |\n|" + "|".join(aligns) + "|"
    return [head, *("| " + " | ".join(row) + " |" for row in rows)]


def _header(merge: MergeResult, flags: Sequence[Flag], run_id: str, report: str | None) -> list[Unit]:
    counts = merge.counts()
    names = ["cells", "ok", "error", "timeout", "duplicates", "conflicts", "corrupt_lines", "torn_tails"]
    headers = [name.replace("_", " ") for name in names] + ["flags"]
    values = [f"{counts[name]:,}" for name in names] + [f"{len(flags):,}"]
    units = [f"## Nightly backtest matrix: run `{escape_cell(run_id)}`", ""]
    units += _table(headers, ["---:"] * len(headers), [values])
    where = f" · HTML report: `{escape_cell(report)}`" if report else ""
    units += ["", f"{len(merge.files)} shard log(s){where}", ""]
    return units


def _flags(flags: Sequence[Flag]) -> list[Unit]:
    if not flags:
        return [
            "### Flags",
            "",
            "No flags: no cell moved beyond its thresholds against its trailing baseline.",
            "",
        ]
    headers = ["Flag", "Cell", "Param set", "Metric", "Tonight", "Baseline", "Threshold", "Score", "Nights"]
    rows = [
        [
            flag.kind,
            escape_cell(f"{flag.strategy} · {flag.symbol} · {flag.timeframe} · {flag.window}"),
            escape_cell(flag.param_set),
            flag.metric,
            fmt(flag.figure, 2),
            fmt(flag.baseline, 2),
            f"{flag.threshold:g}",
            fmt(flag.score, 2),
            str(flag.nights),
        ]
        for flag in flags
    ]
    aligns = ["---", "---", "---", "---", "---:", "---:", "---:", "---:", "---:"]
    return [f"### Flags ({len(flags)})", "", *_table(headers, aligns, rows), ""]


def _failures(records: Sequence[Mapping[str, Any]]) -> list[Unit]:
    failed = [record for record in records if record.get("status") != "ok"]
    if not failed:
        return []
    rows = [
        [
            str(record["status"]),
            escape_cell(
                f"{record['strategy']} · {record['symbol']} · {record['timeframe']} · {record['window']}"
            ),
            escape_cell(record.get("param_set") or "?"),
            escape_cell(record.get("error") or "(no reason recorded)"),
        ]
        for record in failed
    ]
    table = _table(["Status", "Cell", "Param set", "Reason"], ["---", "---", "---", "---"], rows)
    return [f"### Errors and timeouts ({len(failed)})", "", *table, ""]


def _kpi_tables(records: Sequence[Mapping[str, Any]]) -> list[Unit]:
    headers = [
        "Window",
        "Param set",
        "Regime",
        *(h for h, _, _ in KPI_COLUMNS),
        *(h for h, _ in REGIME_COLUMNS),
    ]
    aligns = ["---", "---", "---"] + ["---:"] * (len(KPI_COLUMNS) + len(REGIME_COLUMNS))
    units: list[Unit] = []
    for (strategy, symbol, timeframe), group in group_records(records).items():
        rows = []
        for row in kpi_rows(group):
            regime = escape_cell(row.regime or "—") if row.status == "ok" else f"**{row.status}**"
            kpis = [fmt(row.values[name], decimals) for _, name, decimals in KPI_COLUMNS]
            sharpes = [fmt(row.values[f"regime:{regime_name}"], 2) for _, regime_name in REGIME_COLUMNS]
            rows.append([escape_cell(row.window), escape_cell(row.param_set), regime, *kpis, *sharpes])
        title = f"### {escape_cell(strategy)} · {escape_cell(symbol)} · {escape_cell(timeframe)}"
        units += [title, "", *_table(headers, aligns, rows), ""]
    return units


def _fit(units: Sequence[Unit], limit_bytes: int, report: str | None) -> str:
    text = "\n".join(units) + "\n"
    if len(text.encode("utf-8")) <= limit_bytes:
        return text
    where = f" The full tables are in the HTML report `{escape_cell(report)}`." if report else ""
    kept: list[Unit] = []
    used = 0
    lines = [unit.count("\n") + 1 for unit in units]
    left = sum(lines)
    for unit, count in zip(units, lines, strict=True):
        note = (
            f"\n> **Truncated:** {left:,} of {sum(lines):,} lines left out to stay under "
            f"{limit_bytes:,} bytes (GitHub's step summary limit is 1 MiB).{where}\n"
        )
        size = len(unit.encode("utf-8")) + 1
        if used + size + len(note.encode("utf-8")) > limit_bytes:
            return "\n".join(kept) + "\n" + note
        kept.append(unit)
        used += size
        left -= count
    return "\n".join(kept) + "\n"  # pragma: no cover - the loop returns once the text is too long


def render_markdown(
    merge: MergeResult,
    flags: Sequence[Flag],
    *,
    run_id: str,
    report_path: str | None = None,
    limit_bytes: int = SUMMARY_BUDGET_BYTES,
) -> str:
    """The nightly summary of a merged matrix run (see the module docstring).

    Parameters
    ----------
    merge
        The merged records and counts.
    flags
        Tonight's underperformance and drift flags.
    run_id
        The matrix run shown in the title.
    report_path
        The HTML report, named in the header and in a truncation note.
    limit_bytes
        The most UTF-8 bytes the summary may take (default 960 KiB, under GitHub's 1 MiB).

    Returns
    -------
    str
        GitHub-flavoured markdown ending with a newline.
    """
    units = [
        *_header(merge, flags, run_id, report_path),
        *_flags(flags),
        *_failures(merge.records),
        *_kpi_tables(merge.records),
    ]
    return _fit(units, limit_bytes, report_path)
