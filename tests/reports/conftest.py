"""A merged matrix run with failures and flags, built from real backtests (shared by the report tests)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from backtest_matrix.matrix import (
    Flag,
    HistoryPoint,
    MergeResult,
    ResultLog,
    cell_key,
    compute_flags,
    merge_logs,
)
from tests.backtest_matrix.matrix_records import make_record, matrix_records

RUN = "20240101T000000Z-night000"
FAILED: list[dict[str, Any]] = [
    {"symbol": "SOL", "window": "90d", "param_set": "live", "status": "error",
     "error": "ValueError: bad | pipe\nand a second line"},
    {"symbol": "SOL", "window": "full", "param_set": "live", "status": "timeout",
     "error": "killed after 60 s timeout"},
]  # fmt: skip


@pytest.fixture(scope="session")
def records() -> list[dict[str, Any]]:
    return [*matrix_records(RUN), *(make_record(run_id=RUN, **spec) for spec in FAILED)]


@pytest.fixture
def merged(tmp_path: Path, records: list[dict[str, Any]]) -> MergeResult:
    ResultLog(tmp_path / "shard-1-of-2.jsonl").append_many(records[::2])
    ResultLog(tmp_path / "shard-2-of-2.jsonl").append_many(records[1::2])
    return merge_logs([tmp_path])


@pytest.fixture
def flags(merged: MergeResult) -> list[Flag]:
    """The live BTC ema_cross 90d cell had a Sharpe 1.5 higher on 7 earlier nights."""
    target = next(
        r for r in merged.records
        if (r["strategy"], r["symbol"], r["window"], r["param_set"]) == ("ema_cross", "BTC", "90d", "live")
    )  # fmt: skip
    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    points = [
        HistoryPoint(
            f"night{i}",
            t0 + timedelta(days=i),
            f"h{i}",
            {**target["kpis"], "sharpe": target["kpis"]["sharpe"] + 1.5},
        )
        for i in range(7)
    ]
    found = compute_flags(merged.records, {cell_key(target): points})
    assert [f.kind for f in found] == ["underperformance"]
    return found
