"""What each table accepts from callers (see :mod:`warehouse._validate`), defaults, and cross-field checks."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tradeloop import utc_now
from tradeloop.errors import WarehouseError
from warehouse._schema import (
    ANALYSIS_DECISIONS,
    CHECK_OUTCOMES,
    EVIDENCE_MODES,
    ID,
    PROPOSAL_OUTCOMES,
    REGIMES,
    RESULT_STATUSES,
    ROLLOUT_STAGES,
    RUN_STATUSES,
    SHORT,
    TRADE_SIDES,
)
from warehouse._validate import Field

__all__ = [
    "BACKTEST_FIELDS",
    "CHECK_FIELDS",
    "EQUITY_FIELDS",
    "PREDICTION_FIELDS",
    "PROPOSAL_FIELDS",
    "REGIME_FIELDS",
    "ROLLOUT_FIELDS",
    "RUN_FIELDS",
    "TRADE_FIELDS",
    "check_regime",
    "check_trade",
    "with_delta_pct",
]


def _name(name: str, *, required: bool = True) -> Field:
    return Field(name, "str", required=required, max_length=ID)


def _short(name: str) -> Field:
    return Field(name, "str", max_length=SHORT)


def _when(name: str, *, required: bool = True, now: bool = False) -> Field:
    return Field(name, "datetime", required=required, default=utc_now if now else None)


RUN_FIELDS = (
    _name("run_id"),
    _short("kind"),
    Field("status", "str", choices=RUN_STATUSES),
    _when("started_at", now=True),
    _when("finished_at", required=False),
    _name("git_sha"),
    _name("config_hash", required=False),
    _name("data_hash", required=False),
    Field("seed", "int", required=False),
    Field("params", "object", required=False),
    Field("notes", "str", required=False),
)

BACKTEST_FIELDS = (
    _name("run_id"),
    _name("cell_hash"),
    _name("strategy"),
    _name("symbol"),
    _short("timeframe"),
    _name("window"),
    Field("params", "object"),
    Field("seed", "int", required=False),
    Field("kpis", "object", default=dict),
    Field("status", "str", choices=RESULT_STATUSES),
    Field("error", "str", required=False),
    _name("git_sha", required=False),
    _name("config_hash", required=False),
    _name("data_hash", required=False),
    _when("created_at", now=True),
)

PROPOSAL_FIELDS = (
    _name("run_id"),
    _name("strategy"),
    _name("symbol"),
    _short("timeframe"),
    _name("parameter"),
    Field("current_value", "float"),
    Field("proposed_value", "float"),
    Field("delta_pct", "float", required=False),
    Field("bound", "str"),
    Field("rationale", "str"),
    Field("kpis_before", "object"),
    Field("kpis_after", "object"),
    _name("config_hash"),
    Field("outcome", "str", choices=PROPOSAL_OUTCOMES, default=lambda: "proposed"),
    Field("pr_url", "str", required=False),
    _when("created_at", now=True),
    _when("decided_at", required=False),
    _name("proposal_hash", required=False),
    Field("pr_number", "int", required=False),
    _name("commit_sha", required=False),
)

PREDICTION_FIELDS = (
    _name("run_id"),
    _name("model"),
    _name("symbol"),
    _short("timeframe"),
    _when("ts"),
    Field("horizon_bars", "int", low=1),
    Field("predicted", "float"),
    Field("realized", "float", required=False),
    Field("hit", "bool", required=False),
    _when("created_at", now=True),
)

TRADE_FIELDS = (
    _name("run_id"),
    _name("strategy"),
    _name("symbol"),
    _short("timeframe"),
    Field("side", "str", choices=TRADE_SIDES),
    _when("entry_time"),
    _when("exit_time"),
    Field("entry_price", "float", low=0),
    Field("exit_price", "float", low=0),
    Field("size", "float", low=0),
    Field("pnl", "float"),
    Field("pnl_pct", "float"),
    Field("fees", "float", low=0, default=lambda: 0.0),
    Field("exit_reason", "str", required=False, max_length=SHORT),
    _name("trade_id", required=False),
    _name("config_hash", required=False),
    Field("mode", "str", required=False, choices=EVIDENCE_MODES),
)

EQUITY_FIELDS = (
    _name("run_id"),
    _name("strategy"),
    _name("symbol"),
    _short("timeframe"),
    _name("config_hash"),
    Field("mode", "str", choices=EVIDENCE_MODES),
    _when("ts"),
    Field("equity_usd", "float"),
    _when("created_at", now=True),
)

CHECK_FIELDS = (
    _name("analysis_id"),
    _name("strategy"),
    _name("symbol"),
    _name("config_hash"),
    Field("stage", "str", choices=ROLLOUT_STAGES),
    Field("mode", "str", choices=EVIDENCE_MODES),
    _when("checked_at"),
    Field("interval_index", "int", low=0),
    _short("name"),
    Field("outcome", "str", choices=CHECK_OUTCOMES),
    Field("figure", "float", required=False),
    Field("threshold", "float", required=False),
    Field("comparator", "str", choices=(">=", ">", "<=", "<")),
    Field("unit", "str", required=False, max_length=16, default=lambda: ""),
    Field("detail", "str", required=False, default=lambda: ""),
    Field("analysis_outcome", "str", choices=CHECK_OUTCOMES),
    Field("decision", "str", choices=ANALYSIS_DECISIONS),
    Field("failed_checks", "int", low=0),
    Field("reason", "str", required=False, default=lambda: ""),
)

REGIME_FIELDS = (
    _name("run_id"),
    _name("symbol"),
    _short("timeframe"),
    _when("window_start"),
    _when("window_end"),
    Field("regime", "str", choices=REGIMES),
    Field("confidence", "float", low=0, high=1),
    Field("momentum_pct_per_day", "float"),
    Field("volatility", "float", low=0),
    Field("volume_strength", "float", required=False),
    _when("detected_at", now=True),
)

ROLLOUT_FIELDS = (
    _name("strategy"),
    _name("symbol"),
    _name("config_hash"),
    Field("stage", "str", choices=ROLLOUT_STAGES),
    Field("canary_fraction", "float", low=0, high=1),
    _short("status"),
    Field("reason", "str", required=False),
    Field("pr_number", "int", required=False, low=1),
    _when("started_at", now=True),
    _when("updated_at", now=True),
    _name("previous_config_hash", required=False),
    _when("stage_since", required=False),
)


def with_delta_pct(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with ``delta_pct`` derived from the current and proposed values when it is missing."""
    if row["delta_pct"] is not None:
        return row
    current, proposed = row["current_value"], row["proposed_value"]
    if current == 0:
        raise WarehouseError(
            f"optimization_history.delta_pct is missing and cannot be derived for parameter "
            f"{row['parameter']!r} because current_value is 0; pass delta_pct explicitly"
        )
    return {**row, "delta_pct": (proposed - current) / abs(current) * 100.0}


def check_trade(row: Mapping[str, Any], index: int) -> None:
    if row["exit_time"] < row["entry_time"]:
        raise WarehouseError(
            f"trades.exit_time (row {index}) {row['exit_time'].isoformat()} is before entry_time "
            f"{row['entry_time'].isoformat()}; swap or fix them"
        )


def check_regime(row: Mapping[str, Any], index: int) -> None:
    if row["window_end"] < row["window_start"]:
        raise WarehouseError(
            f"regime_detections.window_end (row {index}) {row['window_end'].isoformat()} is before "
            f"window_start {row['window_start'].isoformat()}; swap or fix them"
        )
