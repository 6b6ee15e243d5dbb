"""The nightly markdown summary: unit headers, one KPI table per strategy/symbol/timeframe, flags, failures,
and truncation under GitHub's 1 MiB step-summary limit."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from backtest_matrix.matrix import Flag, MergeResult
from reports import GITHUB_SUMMARY_LIMIT_BYTES, SUMMARY_BUDGET_BYTES, escape_cell, render_markdown

UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")


def tables(markdown: str) -> dict[str, list[list[str]]]:
    """Each table under its preceding heading: rows of cells (header first, separator dropped)."""
    found: dict[str, list[list[str]]] = {}
    heading = ""
    for line in markdown.splitlines():
        if line.startswith("#"):
            heading = line.lstrip("#").strip()
        elif line.startswith("|"):
            cells = [cell.strip() for cell in UNESCAPED_PIPE.split(line)[1:-1]]
            if not all(set(cell) <= set("-:") for cell in cells):
                found.setdefault(heading, []).append(cells)
    return found


def test_kpi_tables_have_unit_headers_one_per_group(merged: MergeResult, flags: list[Flag]) -> None:
    text = render_markdown(merged, flags, run_id="RUN-1", report_path="/runs/RUN-1/report.html")
    found = tables(text)
    groups = [h for h in found if h.count(" · ") == 2]
    assert sorted(groups) == [
        "ema_cross · BTC · 1d", "ema_cross · ETH · 1d", "ema_cross · SOL · 1d",
        "rsi_reversion · BTC · 1d", "rsi_reversion · ETH · 1d",
    ]  # fmt: skip
    header = found["ema_cross · BTC · 1d"][0]
    assert header == [
        "Window", "Param set", "Regime", "Return [%]", "Sharpe", "Max DD [%]", "Win rate [%]", "Trades",
        "Sharpe bull", "Sharpe bear", "Sharpe sideways", "Sharpe high_vol",
    ]  # fmt: skip
    for heading in groups:
        assert all(len(row) == len(header) for row in found[heading]), heading
    rows = {(row[0], row[1]): row for row in found["ema_cross · BTC · 1d"][1:]}
    neighbours = "neighbours (median of 1)"
    assert list(rows) == [("90d", "live"), ("90d", neighbours), ("full", "live"), ("full", neighbours)]
    live = next(r for r in merged.records if (r["strategy"], r["symbol"], r["window"], r["param_set"])
                == ("ema_cross", "BTC", "90d", "live"))  # fmt: skip
    row = rows[("90d", "live")]
    assert row[2] == live["regime"]
    assert row[3] == f"{live['kpis']['return_pct']:,.2f}" and row[4] == f"{live['kpis']['sharpe']:,.2f}"
    assert row[7] == f"{live['kpis']['trades']:,.0f}"
    for position, regime in enumerate(("bull", "bear", "sideways", "high_vol"), 8):
        figures = live["regime_kpis"].get(regime)
        assert row[position] == (
            "—" if figures is None or figures["sharpe"] is None else f"{figures['sharpe']:,.2f}"
        )
    neighbour = next(r for r in merged.records if (r["strategy"], r["symbol"], r["window"], r["param_set"])
                     == ("ema_cross", "BTC", "90d", "n01"))  # fmt: skip
    assert rows[("90d", neighbours)][4] == f"{neighbour['kpis']['sharpe']:,.2f}"
    assert found["ema_cross · SOL · 1d"][1][:3] == ["90d", "live", "**error**"]
    assert found["ema_cross · SOL · 1d"][1][3] == "—"


def test_header_flags_and_failures(merged: MergeResult, flags: list[Flag]) -> None:
    text = render_markdown(merged, flags, run_id="RUN-1", report_path="/runs/RUN-1/report.html")
    assert text.startswith("## Nightly backtest matrix: run `RUN-1`\n")
    counts = tables(text)["Nightly backtest matrix: run `RUN-1`"]
    assert dict(zip(counts[0], counts[1], strict=True)) == {
        "cells": "18", "ok": "16", "error": "1", "timeout": "1", "duplicates": "0", "conflicts": "0",
        "corrupt lines": "0", "torn tails": "0", "flags": "1",
    }  # fmt: skip
    flag_rows = tables(text)["Flags (1)"]
    assert flag_rows[1][:4] == ["underperformance", "ema_cross · BTC · 1d · 90d", "live", "sharpe"]
    assert flag_rows[1][4] == f"{flags[0].figure:,.2f}" and flag_rows[1][5] == f"{flags[0].baseline:,.2f}"
    failures = tables(text)["Errors and timeouts (2)"]
    assert [row[0] for row in failures[1:]] == ["error", "timeout"]
    assert failures[1][3] == r"ValueError: bad \| pipe and a second line"
    assert "Truncated" not in text and "/runs/RUN-1/report.html" in text


def test_no_flags_says_so(merged: MergeResult) -> None:
    text = render_markdown(merged, [], run_id="RUN-1")
    assert "### Flags\n\nNo flags" in text


def _assert_well_formed(text: str, limit: int) -> None:
    assert len(text.encode("utf-8")) <= limit
    lines = text.splitlines()
    assert lines[-1].startswith("> **Truncated:**")
    assert lines[-2] == ""  # the note is its own paragraph, not a table row
    for position, line in enumerate(lines):
        if line.startswith("|"):
            assert line.endswith("|"), line
            separator = lines[position + 1] if position + 1 < len(lines) else ""
            if separator.startswith("|-") and set(separator) <= set("|-:"):
                assert lines[position + 2].startswith("|"), f"table header without rows: {line}"


def test_truncation_keeps_whole_lines_and_says_so(merged: MergeResult, flags: list[Flag]) -> None:
    full = render_markdown(merged, flags, run_id="RUN-1", report_path="/r.html")
    for limit in (1_500, 3_000, len(full.encode()) - 1):
        text = render_markdown(merged, flags, run_id="RUN-1", report_path="/r.html", limit_bytes=limit)
        _assert_well_formed(text, limit)
        assert full.startswith(text[: text.index("\n> **Truncated:**")].rstrip("\n"))
        assert "/r.html" in text.splitlines()[-1]


@pytest.mark.slow
def test_a_huge_matrix_stays_under_githubs_limit(merged: MergeResult) -> None:
    many: list[dict[str, Any]] = []
    for copy_number in range(700):  # 700 × 18 cells, symbols with multi-byte names
        for record in merged.records:
            clone = copy.copy(record)
            clone["symbol"] = f"Ω{copy_number:04d}·{record['symbol']}"
            clone["cell_hash"] = f"{record['cell_hash'][:24]}{copy_number:08d}"
            many.append(clone)
    big = MergeResult(many, merged.files, merged.logs, 0, [], merged.status_counts)
    unlimited = render_markdown(big, [], run_id="RUN-1", limit_bytes=10**9)
    assert len(unlimited.encode()) > GITHUB_SUMMARY_LIMIT_BYTES
    text = render_markdown(big, [], run_id="RUN-1")
    _assert_well_formed(text, SUMMARY_BUDGET_BYTES)
    assert "lines left out" in text


def test_escape_cell() -> None:
    assert escape_cell("a|b\nc\\d") == r"a\|b c\\d"
    assert escape_cell("x" * 500).endswith("…") and len(escape_cell("x" * 500)) == 300
