"""Plain values the warehouse hands back: frozen dataclasses, detached from any session or connection."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Self

__all__ = ["AnalysisRecord", "CheckRecord", "ProposalRecord", "RolloutRecord", "RunRecord"]


class _FromRow:
    __slots__ = ()

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Self:
        names = {field.name for field in fields(cls)}  # type: ignore[arg-type]
        return cls(**{name: value for name, value in row.items() if name in names})


@dataclass(frozen=True, slots=True)
class RunRecord(_FromRow):
    """An experiment run: what ran (``kind``), how it ended, and its provenance."""

    run_id: str
    kind: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    git_sha: str
    config_hash: str | None
    data_hash: str | None
    seed: int | None
    params: dict[str, Any] | None
    notes: str | None


@dataclass(frozen=True, slots=True)
class ProposalRecord(_FromRow):
    """One proposed parameter change (a row of ``optimization_history``)."""

    id: int
    run_id: str
    strategy: str
    symbol: str
    timeframe: str
    parameter: str
    current_value: float
    proposed_value: float
    delta_pct: float
    bound: str
    rationale: str
    kpis_before: dict[str, Any]
    kpis_after: dict[str, Any]
    config_hash: str
    outcome: str
    pr_url: str | None
    created_at: datetime
    decided_at: datetime | None
    proposal_hash: str | None = None
    pr_number: int | None = None
    commit_sha: str | None = None


@dataclass(frozen=True, slots=True)
class RolloutRecord(_FromRow):
    """The canary rollout state of one strategy/symbol."""

    strategy: str
    symbol: str
    config_hash: str
    stage: str
    canary_fraction: float
    status: str
    reason: str | None
    pr_number: int | None
    started_at: datetime
    updated_at: datetime
    previous_config_hash: str | None = None
    stage_since: datetime | None = None


@dataclass(frozen=True, slots=True)
class CheckRecord(_FromRow):
    """One check of one canary analysis (a row of ``rollout_checks``)."""

    analysis_id: str
    strategy: str
    symbol: str
    config_hash: str
    stage: str
    mode: str
    checked_at: datetime
    interval_index: int
    name: str
    outcome: str
    figure: float | None
    threshold: float | None
    comparator: str
    unit: str
    detail: str
    analysis_outcome: str
    decision: str
    failed_checks: int
    reason: str


@dataclass(frozen=True, slots=True)
class AnalysisRecord(_FromRow):
    """One canary analysis: when, which interval of the stage, its outcome and decision."""

    analysis_id: str
    interval_index: int
    checked_at: datetime
    analysis_outcome: str
    decision: str
    failed_checks: int
    reason: str
