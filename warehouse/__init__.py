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
from warehouse._records import AnalysisRecord, CheckRecord, ProposalRecord, RolloutRecord, RunRecord
from warehouse._schema import (
    ANALYSIS_DECISIONS,
    CHECK_OUTCOMES,
    EVIDENCE_MODES,
    PROPOSAL_OUTCOMES,
    REGIMES,
    RESULT_STATUSES,
    ROLLOUT_STAGES,
    RUN_STATUSES,
    SCHEMA_VERSION,
    TRADE_SIDES,
    BacktestResult,
    Base,
    Equity,
    ExperimentRun,
    OptimizationProposal,
    PredictionPerformance,
    RegimeDetection,
    Rollout,
    RolloutCheck,
    SchemaVersion,
    Trade,
)
from warehouse._types import UTCDateTime
from warehouse._warehouse import Warehouse, get_warehouse

__all__ = [
    "ANALYSIS_DECISIONS",
    "CHECK_OUTCOMES",
    "EVIDENCE_MODES",
    "PROPOSAL_OUTCOMES",
    "REGIMES",
    "RESULT_STATUSES",
    "ROLLOUT_STAGES",
    "RUN_STATUSES",
    "SCHEMA_VERSION",
    "TRADE_SIDES",
    "AnalysisRecord",
    "BacktestResult",
    "Base",
    "CheckRecord",
    "Equity",
    "ExperimentRun",
    "OptimizationProposal",
    "PredictionPerformance",
    "ProposalRecord",
    "RegimeDetection",
    "Rollout",
    "RolloutCheck",
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
