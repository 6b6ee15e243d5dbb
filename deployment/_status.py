"""``tradeloop deploy status``: every rollout's stage, capital share, time in stage, last checks and what it
waits for, from the state files, their git history and the warehouse's recorded analyses."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from deployment._step import analysis_interval, bar_duration, stage_since
from gitops import CanaryCheck, load_state, state_versions
from tradeloop.errors import ForgeError
from warehouse import Warehouse

__all__ = ["RolloutStatus", "rollout_status"]


@dataclass(frozen=True)
class RolloutStatus:
    """One rollout as ``deploy status`` shows it."""

    key: str
    stage: str
    phase: str
    canary_fraction: float
    config_hash: str
    timeframe: str
    since: datetime
    bars_in_stage: float
    next_analysis: datetime | None
    checked_at: datetime | None
    outcome: str | None
    decision: str | None
    failed_checks: int
    reason: str
    checks: tuple[CanaryCheck, ...] = field(default_factory=tuple)

    @property
    def waiting_for(self) -> list[str]:
        """The checks of the last analysis that did not pass, with figure and threshold."""
        return [
            f"{c.name} {_shown(c.figure)} (needs {c.comparator} {_shown(c.threshold)})"
            for c in self.checks
            if c.outcome != "pass"
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "stage": self.stage,
            "phase": self.phase,
            "canary_fraction": self.canary_fraction,
            "config_hash": self.config_hash,
            "timeframe": self.timeframe,
            "since": self.since.isoformat(),
            "bars_in_stage": round(self.bars_in_stage, 3),
            "next_analysis": None if self.next_analysis is None else self.next_analysis.isoformat(),
            "last_analysis": None
            if self.checked_at is None
            else {
                "checked_at": self.checked_at.isoformat(),
                "outcome": self.outcome,
                "decision": self.decision,
                "failed_checks": self.failed_checks,
                "reason": self.reason,
                "checks": [check.to_document() for check in self.checks],
            },
            "waiting_for": self.waiting_for,
        }


def _shown(value: float | None) -> str:
    return "none" if value is None else f"{value:.4g}"


def rollout_status(repo: Path, warehouse: Warehouse | None, clock: datetime) -> list[RolloutStatus]:
    """The status of every rollout in ``repo``'s live state at ``clock``.

    The last analysis comes from the warehouse when it recorded one for the rollout's config hash and stage,
    else from the rollout's ``status`` in ``feature_flags.json``.
    """
    constants, flags = load_state(repo)
    try:
        versions = state_versions(repo, "HEAD")
    except ForgeError:
        versions = []
    found = []
    for key, rollout in flags.rollouts.items():
        strategy, _, symbol = key.partition("/")
        timeframe = str(constants.live_params[strategy][symbol]["timeframe"])
        since = stage_since(versions, key, rollout) or rollout.updated_at
        interval = analysis_interval(constants, timeframe)
        progressing = rollout.phase == "progressing"
        next_at = (
            since + interval * (max(0, math.floor((clock - since) / interval)) + 1) if progressing else None
        )
        last = _last_analysis(warehouse, strategy, symbol, rollout.config_hash, rollout.stage.value, since)
        status = rollout.status
        if last is None and status is not None and status.stage == rollout.stage:
            last = (status.checked_at, status.outcome, status.decision, status.failed_checks, status.reason,
                    status.checks)  # fmt: skip
        checked_at, outcome, decision, failed, reason, checks = last or (None, None, None, 0, "", ())
        found.append(
            RolloutStatus(
                key=key,
                stage=rollout.stage.value,
                phase=rollout.phase,
                canary_fraction=rollout.canary_fraction,
                config_hash=rollout.config_hash,
                timeframe=timeframe,
                since=since,
                bars_in_stage=max(0.0, (clock - since) / bar_duration(timeframe)),
                next_analysis=next_at,
                checked_at=checked_at,
                outcome=outcome,
                decision=decision,
                failed_checks=failed,
                reason=reason or _no_analysis(rollout.phase, next_at),
                checks=tuple(checks),
            )
        )
    return found


def _no_analysis(phase: str, next_at: datetime | None) -> str:
    if phase == "succeeded":
        return "FULL: monitored"
    if phase == "failed":
        return "failed: the bot runs the previous parameters"
    return f"no analysis yet; the first is due at {next_at.isoformat() if next_at else '?'}"


def _last_analysis(
    warehouse: Warehouse | None, strategy: str, symbol: str, config_hash: str, stage: str, since: datetime
) -> tuple[datetime, str, str, int, str, tuple[CanaryCheck, ...]] | None:
    if warehouse is None:
        return None
    analyses = warehouse.analyses(strategy, symbol, config_hash, stage, since=since)
    if not analyses:
        return None
    last = analyses[-1]
    rows = warehouse.rollout_checks(strategy, symbol, analysis_id=last.analysis_id)
    checks = tuple(
        CanaryCheck(row.name, row.outcome, row.figure, row.threshold, row.comparator, row.unit, row.detail)
        for row in rows
    )
    return last.checked_at, last.analysis_outcome, last.decision, last.failed_checks, last.reason, checks
