"""The results warehouse: where runs, backtest results, proposals, trades, regimes and rollouts are kept.

SQLite under ``TRADELOOP_HOME`` by default, PostgreSQL when ``TRADELOOP_DB_URL`` names one::

    from warehouse import get_warehouse

    with get_warehouse() as wh:
        run_id = wh.start_run("matrix", git_sha=sha, seed=7)
        wh.add_backtest_results(records)
        wh.finish_run(run_id, "ok")
"""

from __future__ import annotations

from warehouse._connect import create_warehouse_engine, masked_url
from warehouse._records import ProposalRecord, RolloutRecord, RunRecord
from warehouse._schema import (
    PROPOSAL_OUTCOMES,
    REGIMES,
    RESULT_STATUSES,
    ROLLOUT_STAGES,
    RUN_STATUSES,
    SCHEMA_VERSION,
    TRADE_SIDES,
    BacktestResult,
    Base,
    ExperimentRun,
    OptimizationProposal,
    PredictionPerformance,
    RegimeDetection,
    Rollout,
    SchemaVersion,
    Trade,
)
from warehouse._types import UTCDateTime
from warehouse._warehouse import Warehouse, get_warehouse

__all__ = [
    "PROPOSAL_OUTCOMES",
    "REGIMES",
    "RESULT_STATUSES",
    "ROLLOUT_STAGES",
    "RUN_STATUSES",
    "SCHEMA_VERSION",
    "TRADE_SIDES",
    "BacktestResult",
    "Base",
    "ExperimentRun",
    "OptimizationProposal",
    "PredictionPerformance",
    "ProposalRecord",
    "RegimeDetection",
    "Rollout",
    "RolloutRecord",
    "RunRecord",
    "SchemaVersion",
    "Trade",
    "UTCDateTime",
    "Warehouse",
    "create_warehouse_engine",
    "get_warehouse",
    "masked_url",
]
