"""The promotion state machine: one analysis of a stage in, one decision out.

COLD → WARM → LIMITED → FULL, one stage at a time:

1. a rollout that is not progressing (succeeded at FULL, or failed) does not move;
2. an analysis must hold every check of its stage (:data:`gitops._deploy_rules.STAGE_RULES`); a missing one
   is an ``error`` (no promotion without evidence);
3. the outcome of the analysis is the worst of its checks;
4. a failed deadline check fails the rollout at once (Flagger's progress deadline);
5. a ``fail`` or ``error`` counts as a failed analysis; ``CANARY_FAILURE_THRESHOLD`` of them in the stage fail
   the rollout;
6. only an analysis whose every check passed promotes (the dwell is one of the checks), to the next stage
   only, at that stage's ``CANARY_FRACTIONS``;
7. anything else holds: an inconclusive check never passes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from deployment._model import Check, Outcome, Verdict, worst
from gitops import DEPLOY_STAGES
from gitops._deploy_rules import STAGE_RULES, next_stage

__all__ = ["decide"]


def decide(
    stage: str,
    phase: str,
    canary_fraction: float,
    checks: Sequence[Check],
    *,
    failed_before: int,
    failure_threshold: int,
    fractions: Mapping[str, float],
) -> Verdict:
    """The decision of one analysis of ``stage`` (module docstring).

    Parameters
    ----------
    stage, phase, canary_fraction
        The rollout as it is.
    checks
        The analysis.
    failed_before
        Failed analyses of this stage before this one.
    failure_threshold
        ``CANARY_FAILURE_THRESHOLD``.
    fractions
        ``CANARY_FRACTIONS``.
    """
    if stage not in DEPLOY_STAGES:
        raise ValueError(f"stage {stage!r} is not one of {', '.join(DEPLOY_STAGES)}")

    def hold(
        outcome: Outcome, reason: str, failed: int = failed_before, waiting: tuple[str, ...] = ()
    ) -> Verdict:
        return Verdict(outcome, "hold", stage, phase, canary_fraction, failed, reason, waiting)

    if phase != "progressing" or stage not in STAGE_RULES:
        if phase == "succeeded":
            return hold("pass", f"{stage}: monitored")
        return hold("fail", f"{stage}: {phase}; a new optimizer pull request restarts it")
    checks = list(checks)
    names = {check.name for check in checks}
    missing = [rule.name for rule in STAGE_RULES[stage] if rule.name not in names]
    outcome: Outcome = "error" if missing else worst([check.outcome for check in checks])
    failed = failed_before + (1 if outcome in ("fail", "error") else 0)
    deadline = next((check for check in checks if check.name == "deadline"), None)
    if deadline is not None and deadline.outcome == "fail":
        return _fail(stage, outcome, failed, f"progress deadline: {_figure(deadline)} bars in {stage}")
    if failed >= failure_threshold:
        bad = missing or [check.name for check in checks if check.outcome in ("fail", "error")]
        return _fail(stage, outcome, failed, f"{failed} failed analyses in {stage} (last: {', '.join(bad)})")
    if missing:
        why = f"no evidence for {', '.join(missing)}: a failed analysis"
        return hold(outcome, why, failed, tuple(missing))
    if outcome == "pass":
        target = next_stage(stage)
        assert target is not None  # FULL is never progressing
        new_phase = "succeeded" if target == "FULL" else "progressing"
        reason = f"every check of {stage} passed: promote to {target} at {fractions[target]:g} of the capital"
        return Verdict("pass", "promote", target, new_phase, fractions[target], failed, reason)
    waiting = tuple(check.name for check in checks if check.outcome != "pass")
    if outcome in ("fail", "error"):
        reason = f"failed analysis {failed} of {failure_threshold} in {stage}: {', '.join(waiting)}"
    else:
        reason = f"holding in {stage}, waiting for {', '.join(waiting)}"
    return hold(outcome, reason, failed, waiting)


def _fail(stage: str, outcome: Outcome, failed: int, reason: str) -> Verdict:
    return Verdict(outcome, "fail", stage, "failed", 0.0, failed, f"rollout failed: {reason}")


def _figure(check: Check) -> str:
    return "?" if check.figure is None else f"{check.figure:g}"
