"""``deploy_step``: every rollout analysed once per interval, each stage move a pull request a person reads.

For each rollout of the base branch's ``feature_flags.json``:

1. when did the base enter its stage? The commit of the base's first-parent history that brought the
   rollout's config hash and stage (its merge time), read from git so it holds on a fresh runner; the
   rollout's ``updated_at`` when the history does not show it (an uncommitted working tree);
2. an analysis is due at the end of every interval of the stage (``CANARY_INTERVAL_MINUTES``, at least one
   bar of the pair's timeframe) that has not been analysed yet; the first one a full interval after the
   stage began, so a rollout just merged is not failed for the bot not having reported yet;
3. the analysis measures the checks of the stage on the evidence up to the end of that interval
   (:mod:`deployment._analysis`), and :func:`deployment.decide` decides: promote, hold or fail;
4. every check is recorded in the warehouse (``rollout_checks``) and the decision in the rollout's
   ``status`` in ``feature_flags.json``;
5. a promotion or a failure becomes the rollout's deployment pull request (:mod:`deployment._publish`);
   with ``apply`` and no forge, the working tree's ``feature_flags.json`` is rewritten instead (atomically),
   holds included.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path

from deployment._analysis import cold_checks, paired_checks
from deployment._evidence import BarsProvider, backtest_evidence, paired_evidence, stage_mode
from deployment._machine import decide
from deployment._model import Check, Rollout, Verdict
from deployment._publish import close_stale, flags_text_with, moved_rollout, publish_move
from gitops import (
    CONSTANTS_FILE,
    FEATURE_FLAGS_FILE,
    CanaryStatus,
    FeatureFlags,
    Forge,
    LiveConstants,
    Stage,
    StateVersion,
    cross_file_problems,
    load_state,
    parse_constants,
    parse_feature_flags,
    save_feature_flags,
    state_versions,
)
from gitops import Rollout as FlagsRollout
from gitops._deploy_rules import STAGE_RULES, rule_threshold
from gitops._problems import raise_problems
from tradeloop import Provenance, new_run_id
from tradeloop.errors import ForgeError, StateFileError, TradeloopError
from warehouse import Warehouse

__all__ = ["analysis_interval", "bar_duration", "deploy_step", "stage_since"]


def bar_duration(timeframe: str) -> timedelta:
    """One bar of ``timeframe`` (``"5m"`` → 5 minutes)."""
    from backtest_matrix import parse_timeframe

    return timedelta(seconds=parse_timeframe(timeframe).total_seconds())


def analysis_interval(constants: LiveConstants, timeframe: str) -> timedelta:
    """The time between two analyses of a pair: ``CANARY_INTERVAL_MINUTES``, at least one bar."""
    return max(timedelta(minutes=constants.canary_interval_minutes), bar_duration(timeframe))


def stage_since(versions: Sequence[StateVersion], key: str, rollout: FlagsRollout) -> datetime | None:
    """When the history entered ``rollout``'s config hash and stage (the oldest of the newest run of
    versions that hold them), or ``None`` when the newest version does not hold them."""
    since = None
    for version in reversed(versions):
        found = version.flags.rollouts.get(key) if version.flags is not None else None
        if found is None or (found.config_hash, found.stage) != (rollout.config_hash, rollout.stage):
            break
        since = version.at
    return since


def deploy_step(
    repo: Path,
    evidence: Warehouse,
    forge: Forge | None,
    clock: datetime,
    *,
    base: str = "main",
    bars: BarsProvider | None = None,
    apply: bool = False,
    dry_run: bool = False,
    run_url: str | None = None,
    git_sha: str = "nogit",
) -> list[Rollout]:
    """Analyse every rollout once (module docstring) and return what became of each.

    Parameters
    ----------
    repo
        The repository: the working tree read without a forge, the clone a forge builds commits in.
    evidence
        The warehouse holding the bot's equity and trades, where the checks are recorded.
    forge
        Where the deployment pull requests live; ``None`` to read (and with ``apply`` write) the working tree.
    clock
        Now (timezone-aware): the analyses judge the intervals that ended by then.
    base
        The branch the rollouts are read from and the pull requests target.
    bars
        COLD's bars: ``(strategy, symbol, timeframe, start, end) -> bars or None``.
    apply
        Without a forge: write the moves and statuses into ``repo``'s ``feature_flags.json`` (atomically).
    dry_run
        Analyse and decide, but record, push, open and write nothing.
    run_url
        A link to the workflow run, for the pull request bodies.
    git_sha
        The git sha of tradeloop's code, for the provenance of the files written.
    """
    if clock.tzinfo is None:
        raise StateFileError(f"deploy step: the clock {clock!r} has no time zone; pass a UTC time")
    run_id = new_run_id(clock)
    provenance = Provenance(run_id=run_id, git_sha=git_sha, written_at=clock.isoformat(timespec="seconds"))
    if forge is not None:
        base_sha = forge.resolve(base)
        constants, flags = _state_at(forge, base_sha)
        versions = _versions(forge.repo, base_sha)
    else:
        base_sha = ""
        constants, flags = load_state(repo)
        versions = _versions(repo, "HEAD")
    results: list[Rollout] = []
    written = flags
    for key, rollout in flags.rollouts.items():
        strategy, _, symbol = key.partition("/")
        entry = constants.live_params[strategy][symbol]
        timeframe = str(entry["timeframe"])
        since = stage_since(versions, key, rollout) or rollout.updated_at
        result = _analyse(
            evidence, constants, key, rollout, entry, since, clock, bars, run_id=run_id, dry_run=dry_run
        )
        verdict = result.verdict
        if verdict is not None and result.analyzed:
            assert result.checked_at is not None
            status = CanaryStatus(
                checked_at=result.checked_at,
                stage=rollout.stage,
                outcome=verdict.outcome,
                decision=verdict.decision,
                reason=verdict.reason,
                failed_checks=verdict.failed_checks,
                checks=tuple(check.to_canary() for check in result.checks),
            )
            if verdict.decision == "hold":
                after = dataclasses.replace(rollout, status=status)
            else:
                after = moved_rollout(rollout, verdict, status, status.checked_at)
            if forge is not None and verdict.decision != "hold":
                text = flags_text_with(flags, constants, key, after, provenance)
                published = publish_move(
                    forge, base=base, base_sha=base_sha, key=key, before=rollout, after=after,
                    flags_text=text, verdict=verdict, checks=result.checks, timeframe=timeframe,
                    auto_merge=constants.deploy_auto_merge and verdict.decision == "promote",
                    run_url=run_url, dry_run=dry_run,
                )  # fmt: skip
                result = dataclasses.replace(
                    result, action=published.action, pr_number=published.pr_number, pr_url=published.url,
                    pr_reason=published.reason,
                )  # fmt: skip
            elif forge is None:
                written = written.with_rollout(strategy, symbol, after)
        if forge is not None and (verdict is None or verdict.decision == "hold"):
            closed = close_stale(forge, key, rollout, base=base, dry_run=dry_run)
            if closed is not None:
                result = dataclasses.replace(
                    result,
                    action="closed",
                    pr_number=closed.pr_number,
                    pr_url=closed.url,
                    pr_reason=closed.reason,
                )
        results.append(result)
    if apply and forge is None and written != flags and not dry_run:
        raise_problems(cross_file_problems(constants, written))
        save_feature_flags(repo / FEATURE_FLAGS_FILE, written, provenance)
    return results


def _state_at(forge: Forge, sha: str) -> tuple[LiveConstants, FeatureFlags]:
    constants_text = forge.read_file(sha, CONSTANTS_FILE.as_posix())
    flags_text = forge.read_file(sha, FEATURE_FLAGS_FILE.as_posix())
    if constants_text is None or flags_text is None:
        raise StateFileError(
            f"deploy step: the base {sha[:12]} has no {CONSTANTS_FILE.as_posix()} or {FEATURE_FLAGS_FILE}; "
            "check --base"
        )
    constants = parse_constants(constants_text)
    flags = parse_feature_flags(flags_text)
    raise_problems(cross_file_problems(constants, flags))
    return constants, flags


def _versions(repo: Path, ref: str) -> list[StateVersion]:
    """The history of the state files, or none when ``repo`` is not a full git clone (the rollouts'
    ``updated_at`` then tell when their stage began)."""
    try:
        return state_versions(repo, ref)
    except ForgeError:
        return []


def _analyse(
    evidence: Warehouse,
    constants: LiveConstants,
    key: str,
    rollout: FlagsRollout,
    entry: Mapping[str, object],
    since: datetime,
    clock: datetime,
    bars: BarsProvider | None,
    *,
    run_id: str,
    dry_run: bool,
) -> Rollout:
    strategy, _, symbol = key.partition("/")
    params = dict(entry)
    timeframe = str(params["timeframe"])
    bar = bar_duration(timeframe)
    interval = analysis_interval(constants, timeframe)
    stage = rollout.stage.value
    state = Rollout(
        strategy=strategy, symbol=symbol, timeframe=timeframe, config_hash=rollout.config_hash,
        previous_config_hash=rollout.previous_config_hash, stage=stage, phase=rollout.phase,
        canary_fraction=rollout.canary_fraction, since=since, bars_in_stage=max(0.0, (clock - since) / bar),
    )  # fmt: skip
    if rollout.phase != "progressing" or rollout.stage == Stage.FULL:
        note = "monitored at FULL" if rollout.phase == "succeeded" else f"{rollout.phase}: nothing to analyse"
        return dataclasses.replace(state, notes=(note,))
    index = math.floor((clock - since) / interval)
    if index < 1:
        due = (since + interval).isoformat()
        return dataclasses.replace(state, notes=(f"first analysis of {stage} due at {due}",))
    earlier = evidence.analyses(strategy, symbol, rollout.config_hash, stage, since=since)
    if any(record.interval_index >= index for record in earlier):
        due = (since + interval * (index + 1)).isoformat()
        return dataclasses.replace(
            state, notes=(f"interval {index} of {stage} is analysed; next due at {due}",)
        )
    failed_before = max((record.failed_checks for record in earlier), default=0)
    as_of = since + interval * index
    bars_in_stage = (as_of - since) / bar
    checks = _checks(evidence, constants, key, rollout, params, since, as_of, interval, bars, bars_in_stage)
    verdict = decide(
        stage, rollout.phase, rollout.canary_fraction, checks, failed_before=failed_before,
        failure_threshold=constants.canary_failure_threshold, fractions=constants.canary_fractions,
    )  # fmt: skip
    if not dry_run:
        _record(evidence, key, rollout, checks, verdict, as_of, index, run_id, since)
    return dataclasses.replace(
        state,
        analyzed=True,
        checked_at=as_of,
        checks=tuple(checks),
        verdict=verdict,
        bars_in_stage=bars_in_stage,
    )


def _checks(
    evidence: Warehouse,
    constants: LiveConstants,
    key: str,
    rollout: FlagsRollout,
    params: dict[str, object],
    since: datetime,
    as_of: datetime,
    interval: timedelta,
    bars: BarsProvider | None,
    bars_in_stage: float,
) -> list[Check]:
    strategy, _, symbol = key.partition("/")
    timeframe = str(params["timeframe"])
    stage = rollout.stage.value
    if stage == "COLD":
        if bars is None:
            return _errors(
                constants, stage, timeframe, "no bar source for COLD's backtest: pass --data SOURCE"
            )
        try:
            loaded = bars(strategy, symbol, timeframe, rollout.started_at, as_of)
            found = backtest_evidence(
                loaded, strategy=strategy, params=params, capital_usd=constants.trading_capital_usd,
                fee_bps=constants.fee_bps, slippage_bps=constants.slippage_bps, as_of=as_of,
                interval=interval,
            )  # fmt: skip
        except TradeloopError as exc:
            return _errors(constants, stage, timeframe, f"the backtest failed: {exc}")
        return cold_checks(found, constants, timeframe, bars_in_stage)
    paired = paired_evidence(
        evidence, strategy=strategy, symbol=symbol, stage=stage, config_hash=rollout.config_hash,
        previous_config_hash=rollout.previous_config_hash, since=since, as_of=as_of, interval=interval,
    )  # fmt: skip
    return paired_checks(stage, paired, constants, timeframe, bar_duration(timeframe) / timedelta(minutes=1),
                         bars_in_stage)  # fmt: skip


def _errors(constants: LiveConstants, stage: str, timeframe: str, detail: str) -> list[Check]:
    return [
        Check(rule.name, "error", None, rule_threshold(rule, constants, stage, timeframe), rule.comparator,
              rule.unit, detail)
        for rule in STAGE_RULES[stage]
    ]  # fmt: skip


def _record(
    evidence: Warehouse,
    key: str,
    rollout: FlagsRollout,
    checks: Sequence[Check],
    verdict: Verdict,
    as_of: datetime,
    index: int,
    run_id: str,
    since: datetime,
) -> None:
    strategy, _, symbol = key.partition("/")
    analysis_id = f"{run_id}-{hashlib.sha256(key.encode()).hexdigest()[:12]}"
    stage = rollout.stage.value
    evidence.add_checks(
        {
            "analysis_id": analysis_id, "strategy": strategy, "symbol": symbol,
            "config_hash": rollout.config_hash, "stage": stage, "mode": stage_mode(stage),
            "checked_at": as_of,
            "interval_index": index, "name": check.name, "outcome": check.outcome, "figure": check.figure,
            "threshold": check.threshold, "comparator": check.comparator, "unit": check.unit,
            "detail": check.detail, "analysis_outcome": verdict.outcome, "decision": verdict.decision,
            "failed_checks": verdict.failed_checks, "reason": verdict.reason,
        }
        for check in checks
    )  # fmt: skip
    evidence.upsert_rollout(
        strategy, symbol, config_hash=rollout.config_hash, stage=stage,
        canary_fraction=rollout.canary_fraction,
        status=rollout.phase if verdict.decision == "hold" else verdict.decision, reason=verdict.reason,
        pr_number=rollout.pr_number, at=as_of, previous_config_hash=rollout.previous_config_hash,
        stage_since=since,
    )  # fmt: skip
