"""``pr check`` of a stage move: a deployment pull request must carry the evidence for the move it makes.

A deployment pull request (``tradeloop deploy step``) changes one rollout of ``feature_flags.json`` and
nothing else. It may:

- **promote** the rollout one stage (COLD → WARM → LIMITED → FULL, never skipping one, never back), with
  ``canary_fraction`` at the new stage's ``CANARY_FRACTIONS`` and, in ``status``, the analysis of the stage
  it leaves: decision ``promote``, every check of that stage (:data:`gitops._deploy_rules.STAGE_RULES`)
  passed, each with the threshold ``config/constants.py`` sets and a figure on the passing side of it;
- **fail** the rollout in its stage (phase ``failed``, ``canary_fraction`` 0), with an analysis whose
  decision is ``fail`` because the deadline passed, ``CANARY_FAILURE_THRESHOLD`` analyses failed, or the
  monitor saw a hard limit breached (``MAX_DAILY_LOSS_USD``, ``MAX_DRAWDOWN_PCT``, at their thresholds);
- record a newer analysis (``status``) without moving.

Its config hash, previous config hash and parameters, pull request and start time stay as they are.
"""

from __future__ import annotations

from gitops._constants import LiveConstants
from gitops._deploy_rules import STAGE_RULES, next_stage, rule_threshold, satisfies, stage_index
from gitops._feature_flags import FEATURE_FLAGS_FILE, CanaryStatus, Rollout, Stage

__all__ = ["stage_move_problems"]

_FLAGS = FEATURE_FLAGS_FILE.as_posix()
_FIXED = ("config_hash", "previous_config_hash", "previous_params", "pr_number", "started_at")
_RUN = "run `tradeloop deploy step`, which writes the analysis into the move"


def stage_move_problems(key: str, constants: LiveConstants, before: Rollout, after: Rollout) -> list[str]:
    """Why the change of rollout ``key`` from ``before`` to ``after`` is not a move the evidence carries."""
    where = f"{_FLAGS}: rollouts.{key}"
    problems = [
        f"{where}.{name} changes {getattr(before, name)!r} → {getattr(after, name)!r}; a deployment pull "
        f"request moves the stage only: restore {name}"
        for name in _FIXED
        if getattr(before, name) != getattr(after, name)
    ]
    moved = (before.stage, before.phase, before.canary_fraction) != (
        after.stage,
        after.phase,
        after.canary_fraction,
    )
    if not moved:
        return problems
    if before.phase != "progressing":
        return [
            *problems,
            f"{where} is {before.phase} at {before.stage.value}; only a progressing rollout moves (a new "
            "optimizer pull request starts a new rollout): restore it",
        ]
    old, new = stage_index(before.stage.value), stage_index(after.stage.value)
    if new > old + 1:
        skipped = ", ".join(stage.value for stage in _between(before, after))
        return [
            *problems,
            f"{where}.stage moves {before.stage.value} → {after.stage.value}, skipping {skipped}; stages "
            f"advance one at a time, each on its own evidence: move it to {_next(before)}",
        ]
    if new < old:
        return [
            *problems,
            f"{where}.stage moves back {before.stage.value} → {after.stage.value}; a rollout never goes back "
            "(a failure keeps its stage with phase 'failed'): restore the stage",
        ]
    strategy, _, symbol = key.partition("/")
    timeframe = str(constants.live_params[strategy][symbol]["timeframe"])
    if new == old + 1:
        return problems + _promotion_problems(where, constants, timeframe, before, after)
    return problems + _failure_problems(where, constants, timeframe, before, after)


def _between(before: Rollout, after: Rollout) -> list[Stage]:
    stages = list(Stage)
    return stages[stages.index(before.stage) + 1 : stages.index(after.stage)]


def _next(before: Rollout) -> str:
    return str(next_stage(before.stage.value))


def _promotion_problems(
    where: str, constants: LiveConstants, timeframe: str, before: Rollout, after: Rollout
) -> list[str]:
    problems = []
    stage = after.stage.value
    phase = "succeeded" if stage == "FULL" else "progressing"
    if after.phase != phase:
        problems.append(f"{where}.phase is {after.phase!r}; a rollout promoted to {stage} is {phase!r}")
    fraction = constants.canary_fractions[stage]
    if after.canary_fraction != fraction:
        problems.append(
            f"{where}.canary_fraction is {after.canary_fraction!r}; {stage} trades "
            f"CANARY_FRACTIONS[{stage!r}] "
            f"= {fraction!r} of the capital on the new parameters: set it to {fraction!r}"
        )
    status = after.status
    leaving = before.stage.value
    if status is None:
        return [
            *problems,
            f"{where} moves {leaving} → {stage} without evidence (status is null); a promotion carries the "
            f"analysis of {leaving} that passed: {_RUN}",
        ]
    problems += _status_for(where, status, leaving, "promote")
    if status.outcome != "pass":
        problems.append(
            f"{where}.status.outcome is {status.outcome!r}; a promotion needs every check of "
            f"{leaving} to pass "
            "(an inconclusive check holds): wait for the evidence"
        )
    for rule in STAGE_RULES[leaving]:
        check = status.check(rule.name)
        label = f"{where}.status.checks.{rule.name}"
        if check is None:
            names = ", ".join(r.name for r in STAGE_RULES[leaving])
            problems.append(
                f"{label} is missing; a promotion from {leaving} carries every check of its analysis "
                f"({names}): {_RUN}"
            )
            continue
        threshold = rule_threshold(rule, constants, leaving, timeframe)
        if check.threshold != threshold or check.comparator != rule.comparator:
            problems.append(
                f"{label} is held to {check.comparator} {check.threshold!r}, but config/constants.py sets "
                f"{rule.comparator} {threshold!r} for {leaving} on {timeframe} bars: the evidence "
                "must use the "
                f"live thresholds; {_RUN}"
            )
        elif check.outcome != "pass" or not satisfies(check.figure, rule.comparator, threshold):
            problems.append(
                f"{label} is {check.outcome} with {check.figure!r} (needs {rule.comparator} {threshold!r}); "
                f"a promotion needs every check to pass: wait for the evidence"
            )
    return problems


def _failure_problems(
    where: str, constants: LiveConstants, timeframe: str, before: Rollout, after: Rollout
) -> list[str]:
    stage = before.stage.value
    if after.phase != "failed":
        return [
            f"{where} changes its capital share or phase in {stage} without failing; only a promotion or a "
            "failure (phase 'failed', canary_fraction 0) moves a rollout: restore them"
        ]
    problems = []
    if after.canary_fraction != 0.0:
        problems.append(f"{where}.canary_fraction is {after.canary_fraction!r}; a failed rollout trades 0")
    status = after.status
    if status is None:
        return [*problems, f"{where} fails without evidence (status is null): {_RUN}"]
    problems += _status_for(where, status, stage, "fail")
    deadline = status.check("deadline")
    [deadline_rule] = [rule for rule in STAGE_RULES[stage] if rule.kind == "deadline"]
    limit = rule_threshold(deadline_rule, constants, stage, timeframe)
    past_deadline = (
        deadline is not None
        and deadline.outcome == "fail"
        and deadline.threshold == limit
        and deadline.figure is not None
        and deadline.figure >= limit
    )
    threshold = constants.canary_failure_threshold
    too_many = status.failed_checks >= threshold and status.outcome in ("fail", "error")
    if not (past_deadline or too_many or _hard_limit_breached(status, constants)):
        problems.append(
            f"{where}.status shows {status.failed_checks} failed analyses (CANARY_FAILURE_THRESHOLD is "
            f"{threshold}) and no passed deadline ({limit:g} bars for {stage} on {timeframe}); a rollout "
            "fails "
            f"on either alone: {_RUN}"
        )
    return problems


#: The monitor's hard limits (``deployment._breach``): one breach on paper fails a WARM rollout at once.
_HARD_LIMITS = {"daily_loss_usd": "max_daily_loss_usd", "max_drawdown_pct": "max_drawdown_pct"}


def _hard_limit_breached(status: CanaryStatus, constants: LiveConstants) -> bool:
    """Whether the analysis shows a hard limit breached, held to the threshold of ``config/constants.py``."""
    for name, attribute in _HARD_LIMITS.items():
        check, limit = status.check(name), getattr(constants, attribute)
        if check is None or check.outcome != "fail" or check.threshold != limit or check.figure is None:
            continue
        if check.figure > limit:
            return True
    return False


def _status_for(where: str, status: CanaryStatus, stage: str, decision: str) -> list[str]:
    problems = []
    if status.stage.value != stage:
        problems.append(
            f"{where}.status.stage is {status.stage.value!r}, but the move leaves {stage}: the evidence "
            "must be "
            f"the analysis of {stage}; {_RUN}"
        )
    if status.decision != decision:
        problems.append(
            f"{where}.status.decision is {status.decision!r}, not {decision!r}: the analysis did not decide "
            f"this move; {_RUN}"
        )
    return problems
