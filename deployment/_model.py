"""The typed results of the deployment stage: a :class:`Check`, a :class:`Verdict`, a :class:`Rollout`.

Check outcomes follow Argo Rollouts: ``pass``, ``fail``, ``inconclusive`` (too little evidence: the rollout
holds and never passes on it) and ``error`` (the check could not be measured; it counts as a failed
analysis, like Flagger's failed checks).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

from gitops import CanaryCheck

__all__ = [
    "OUTCOME_ORDER",
    "Check",
    "Decision",
    "Outcome",
    "PullRequestAction",
    "Rollout",
    "Verdict",
    "worst",
]

Outcome = Literal["pass", "fail", "inconclusive", "error"]
Decision = Literal["promote", "hold", "fail"]
#: From best to worst: the outcome of an analysis is the worst of its checks.
OUTCOME_ORDER: tuple[Outcome, ...] = ("pass", "inconclusive", "fail", "error")


def worst(outcomes: list[Outcome]) -> Outcome:
    """The worst outcome (``error`` for none: an analysis without checks has no evidence)."""
    if not outcomes:
        return "error"
    return max(outcomes, key=OUTCOME_ORDER.index)


@dataclass(frozen=True)
class Check:
    """One check of an analysis: its figure, the threshold it is held to, and the outcome.

    ``comparator`` says how ``figure`` must compare with ``threshold`` to pass.
    """

    name: str
    outcome: Outcome
    figure: float | None
    threshold: float | None
    comparator: str
    unit: str = ""
    detail: str = ""

    def to_canary(self) -> CanaryCheck:
        """The form ``feature_flags.json`` keeps (figures rounded to 6 significant digits)."""
        return CanaryCheck(
            name=self.name,
            outcome=self.outcome,
            figure=_rounded(self.figure),
            threshold=self.threshold,
            comparator=self.comparator,
            unit=self.unit,
            detail=self.detail,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _rounded(value: float | None) -> float | None:
    return None if value is None else float(f"{value:.6g}")


@dataclass(frozen=True)
class Verdict:
    """What one analysis of a stage decided.

    Attributes
    ----------
    outcome
        The worst outcome of the checks.
    decision
        ``promote`` (every check passed), ``fail`` (the deadline passed, or ``CANARY_FAILURE_THRESHOLD``
        analyses of the stage failed) or ``hold``.
    stage, phase, canary_fraction
        The rollout after the decision: the next stage for a promotion (never more than one), ``failed`` with
        0 for a failure, unchanged for a hold.
    failed_checks
        Failed analyses of the stage, this one included.
    reason
        One line for people.
    waiting_for
        What a hold waits for (the checks that are not passing yet), empty otherwise.
    """

    outcome: Outcome
    decision: Decision
    stage: str
    phase: str
    canary_fraction: float
    failed_checks: int
    reason: str
    waiting_for: tuple[str, ...] = ()


PullRequestAction = Literal["created", "updated", "closed", "none"]


@dataclass(frozen=True)
class Rollout:
    """One rollout as ``deploy step`` left it: the state read, the analysis run (if one was due) and its PR.

    Attributes
    ----------
    strategy, symbol, timeframe
        The pair.
    config_hash, previous_config_hash
        The configuration rolled out, and the one before it.
    stage, phase, canary_fraction
        The rollout in ``feature_flags.json`` of the base branch, before this step.
    since
        When the base branch entered this stage (the commit that brought it), ``None`` when unknown.
    bars_in_stage
        Bars of the pair's timeframe since then.
    analyzed, checked_at
        Whether an analysis was due and ran (one per interval of the stage), and the end of the interval it
        judged.
    checks, verdict
        The analysis (empty and ``None`` when none ran).
    action, pr_number, pr_url, pr_reason
        What happened to the rollout's deployment pull request.
    """

    strategy: str
    symbol: str
    timeframe: str
    config_hash: str
    previous_config_hash: str | None
    stage: str
    phase: str
    canary_fraction: float
    since: datetime | None
    bars_in_stage: float
    analyzed: bool = False
    checked_at: datetime | None = None
    checks: tuple[Check, ...] = ()
    verdict: Verdict | None = None
    action: PullRequestAction = "none"
    pr_number: int | None = None
    pr_url: str | None = None
    pr_reason: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def key(self) -> str:
        return f"{self.strategy}/{self.symbol}"

    def to_dict(self) -> dict[str, Any]:
        verdict = self.verdict
        return {
            "key": self.key,
            "strategy": self.strategy,
            "symbol": self.symbol,
            "timeframe": self.timeframe,
            "config_hash": self.config_hash,
            "previous_config_hash": self.previous_config_hash,
            "stage": self.stage,
            "phase": self.phase,
            "canary_fraction": self.canary_fraction,
            "since": None if self.since is None else self.since.isoformat(),
            "bars_in_stage": self.bars_in_stage,
            "analyzed": self.analyzed,
            "checked_at": None if self.checked_at is None else self.checked_at.isoformat(),
            "checks": [check.to_dict() for check in self.checks],
            "verdict": None
            if verdict is None
            else {
                "outcome": verdict.outcome,
                "decision": verdict.decision,
                "stage": verdict.stage,
                "phase": verdict.phase,
                "canary_fraction": verdict.canary_fraction,
                "failed_checks": verdict.failed_checks,
                "reason": verdict.reason,
                "waiting_for": list(verdict.waiting_for),
            },
            "pull_request": {
                "action": self.action,
                "number": self.pr_number,
                "url": self.pr_url,
                "reason": self.pr_reason,
            },
            "notes": list(self.notes),
        }
