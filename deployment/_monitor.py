"""``monitor``: every LIMITED and FULL rollout judged on its live evidence; a breach rolls it back in git.

For each rollout of the base branch's ``feature_flags.json`` at LIMITED or FULL:

1. the new parameters' live equity since the stage began, and the replaced parameters' equity over the same
   period (their shadow: paper at FULL, live at LIMITED), from the warehouse;
2. the breach rules (:mod:`deployment._breach`) judge the last full monitor interval;
3. a hard limit commits the rollback onto the base at once (a pull request with auto-merge when the push is
   refused); ``MONITOR_FAILURE_THRESHOLD`` failed intervals in a row open (or update) the pair's one
   rollback pull request; the rollback is the computed inverse of the pair's last change
   (:func:`gitops.rollback_pair`), recorded in the warehouse as ``rolled_back``;
4. alerts: error for a rollback, warn for a failed check below the threshold or an inconclusive one, each
   sent once (:mod:`deployment._alerts`);
5. the run is recorded in the warehouse (a run of kind ``monitor``: the heartbeat), so the deployment job
   can raise the dead man's switch (:func:`deadman_alert`) when the monitor stops running.

A WARM rollout (paper trading only) is judged by ``deploy step``; the monitor watches its paper equity for the
hard limits alone, and a breach fails the rollout at once: the rollout's deployment pull request moves it to
``failed`` (``pr check`` accepts a failure that carries the breached limit).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from deployment._alerts import Alert, Delivery, WarehouseSentLog, Webhook, send_alerts
from deployment._breach import HARD_CHECKS, BreachJudgement, Series, judge, series
from deployment._model import Verdict
from deployment._publish import PublishedMove, flags_text_with, moved_rollout, publish_move
from deployment._step import _state_at, _versions, bar_duration, stage_since
from gitops import (
    CanaryStatus,
    FeatureFlags,
    Forge,
    LiveConstants,
    PairRollback,
    Stage,
    rollback_pair,
)
from gitops import Rollout as FlagsRollout
from gitops._inverse import RollbackMode
from tradeloop import Provenance, new_run_id
from tradeloop.errors import StateFileError
from warehouse import Warehouse

__all__ = [
    "MONITORED_STAGES",
    "MONITOR_RUN_KIND",
    "MonitorResult",
    "Watch",
    "deadman_alert",
    "last_monitor_run",
    "monitor",
    "monitor_interval",
]

MONITORED_STAGES = ("LIMITED", "FULL")
#: Watched for the hard limits only, on paper: a breach fails the rollout.
PAPER_STAGES = ("WARM",)
#: The warehouse run kind of a monitor run: the heartbeat the dead man's switch reads.
MONITOR_RUN_KIND = "monitor"


def monitor_interval(constants: LiveConstants, timeframe: str) -> timedelta:
    """The time between two monitor checks of a pair: ``MONITOR_INTERVAL_MINUTES``, at least one bar."""
    return max(timedelta(minutes=constants.monitor_interval_minutes), bar_duration(timeframe))


@dataclass(frozen=True)
class Watch:
    """One monitored rollout: its judgement, the rollback it led to, the alerts it raised."""

    key: str
    stage: str
    config_hash: str
    previous_config_hash: str | None
    since: datetime
    judgement: BreachJudgement | None
    rollback: PairRollback | None = None
    failed_move: PublishedMove | None = None
    alerts: tuple[Alert, ...] = ()
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        judged = self.judgement
        return {
            "key": self.key,
            "stage": self.stage,
            "config_hash": self.config_hash,
            "previous_config_hash": self.previous_config_hash,
            "since": self.since.isoformat(),
            "decision": None if judged is None else judged.decision,
            "reason": self.note if judged is None else judged.reason,
            "failed_in_row": 0 if judged is None else judged.failed_in_row,
            "checks": [] if judged is None else [check.to_dict() for check in judged.checks],
            "rollback": None if self.rollback is None else self.rollback.to_dict(),
            "failed_move": None if self.failed_move is None else _move_dict(self.failed_move),
            "alerts": [alert.to_dict() for alert in self.alerts],
        }


def _move_dict(move: PublishedMove) -> dict[str, Any]:
    return {"action": move.action, "number": move.pr_number, "url": move.url, "reason": move.reason}


@dataclass(frozen=True)
class MonitorResult:
    """What one monitor run did."""

    clock: datetime
    watches: tuple[Watch, ...]
    deliveries: tuple[Delivery, ...] = field(default_factory=tuple)
    heartbeat: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "clock": self.clock.isoformat(),
            "rollouts": [watch.to_dict() for watch in self.watches],
            "alerts": [delivery.to_dict() for delivery in self.deliveries],
            "heartbeat": self.heartbeat,
        }


def monitor(
    forge: Forge,
    evidence: Warehouse,
    clock: datetime,
    *,
    webhooks: list[Webhook],
    base: str = "main",
    dry_run: bool = False,
    git_sha: str = "nogit",
    send: dict[str, Any] | None = None,
) -> MonitorResult:
    """Judge every LIMITED and FULL rollout once and act on breaches (module docstring).

    Parameters
    ----------
    forge
        Where the base branch lives (``local``: the repository itself; ``github``: through its API).
    evidence
        The warehouse with the bot's live equity and the shadow paper equity.
    clock
        Now (timezone-aware).
    webhooks
        The alert channels (:func:`deployment.webhooks_from_env`).
    dry_run
        Judge only: roll back, record, send and write nothing.
    send
        Options of :func:`deployment.send_alerts` (``attempts``, ``backoff_s``, ``timeout_s``).
    """
    if clock.tzinfo is None:
        raise StateFileError(f"monitor: the clock {clock!r} has no time zone; pass a UTC time")
    base_sha = forge.resolve(base)
    constants, flags = _state_at(forge, base_sha)
    versions = _versions(forge.repo, base_sha)
    provenance = Provenance(
        run_id=new_run_id(clock), git_sha=git_sha, written_at=clock.isoformat(timespec="seconds")
    )
    watches = []
    for key, rollout in flags.rollouts.items():
        if not _watched(rollout):
            continue
        since = stage_since(versions, key, rollout) or rollout.updated_at
        watch = _watch(evidence, constants, key, rollout, since, clock)
        judged = watch.judgement
        if rollout.stage.value in PAPER_STAGES:
            if judged is None or not judged.hard:
                continue  # WARM is deploy step's: the monitor acts on a hard breach only
            if not dry_run:
                move = _fail_on_paper(forge, key, rollout, judged, clock, provenance, base)
                watch = dataclasses.replace(watch, failed_move=move)
        elif judged is not None and judged.decision.startswith("rollback") and not dry_run:
            watch = _roll_back(forge, evidence, watch, base, provenance)
        watches.append(_with_alerts(watch))
    deliveries: list[Delivery] = []
    heartbeat = None
    if not dry_run:
        alerts = [alert for watch in watches for alert in watch.alerts]
        at = clock.isoformat(timespec="seconds")
        sent = WarehouseSentLog(evidence)
        deliveries = send_alerts(alerts, webhooks, sent, at=at, **(send or {}))
        heartbeat = _beat(evidence, clock, provenance, len(watches))
    return MonitorResult(clock, tuple(watches), tuple(deliveries), heartbeat)


def _watched(rollout: FlagsRollout) -> bool:
    """LIMITED and WARM while progressing; FULL always (monitored until a new rollout replaces it)."""
    if rollout.stage.value not in MONITORED_STAGES + PAPER_STAGES:
        return False
    return rollout.phase == "progressing" or rollout.stage == Stage.FULL


def _baseline(
    evidence: Warehouse, strategy: str, symbol: str, rollout: FlagsRollout, since: datetime, clock: datetime
) -> Series | None:
    previous = rollout.previous_config_hash
    if previous is None or previous == rollout.config_hash:
        return None
    modes = ("paper", "live") if rollout.stage.value == "FULL" else ("live", "paper")
    for mode in modes:
        found = series(evidence.equity_points(strategy, symbol, previous, mode, start=since, end=clock))
        if found.times.size:
            return found
    return None


def _watch(
    evidence: Warehouse,
    constants: LiveConstants,
    key: str,
    rollout: FlagsRollout,
    since: datetime,
    clock: datetime,
) -> Watch:
    strategy, _, symbol = key.partition("/")
    timeframe = str(constants.live_params[strategy][symbol]["timeframe"])
    interval = monitor_interval(constants, timeframe)
    paper = rollout.stage.value in PAPER_STAGES
    candidate = series(
        evidence.equity_points(
            strategy, symbol, rollout.config_hash, "paper" if paper else "live", start=since, end=clock
        )
    )
    baseline = None if paper else _baseline(evidence, strategy, symbol, rollout, since, clock)
    judged = judge(
        candidate, baseline, constants, since=since, clock=clock, interval=interval,
        bar_minutes=bar_duration(timeframe) / timedelta(minutes=1),
    )  # fmt: skip
    note = "" if judged is not None else f"first monitor check due at {(since + interval).isoformat()}"
    return Watch(
        key, rollout.stage.value, rollout.config_hash, rollout.previous_config_hash, since, judged, note=note
    )


def _evidence_table(judged: BreachJudgement) -> str:
    rows = ["| check | outcome | figure | limit | detail |", "|---|---|---|---|---|"]
    for check in judged.checks:
        figure = "—" if check.figure is None else f"{check.figure:.4g}"
        limit = "—" if check.threshold is None else f"{check.comparator} {check.threshold:g}"
        rows.append(f"| {check.name} | {check.outcome} | {figure} {check.unit} | {limit} | {check.detail} |")
    return "\n".join(rows)


def _roll_back(forge: Forge, evidence: Warehouse, watch: Watch, base: str, provenance: Provenance) -> Watch:
    from dataclasses import replace

    judged = watch.judgement
    assert judged is not None
    strategy, _, symbol = watch.key.partition("/")
    mode: RollbackMode = "commit" if judged.decision == "rollback_now" else "pull_request"
    reason = f"monitor at {watch.stage}: {judged.reason}"
    try:
        done = rollback_pair(
            forge, strategy, symbol, mode=mode, provenance=provenance, base=base, reason=reason,
            evidence=_evidence_table(judged),
        )  # fmt: skip
    except StateFileError as exc:  # nothing safe to roll back to: say so, watch the other pairs
        return replace(watch, note=f"no rollback: {exc}")
    evidence.upsert_rollout(
        strategy, symbol, config_hash=watch.config_hash, stage=watch.stage, canary_fraction=0.0,
        status="rolled_back", reason=f"{reason}; {done.describe()}", pr_number=done.pr_number,
        previous_config_hash=watch.previous_config_hash,
    )  # fmt: skip
    return replace(watch, rollback=done)


def _fail_on_paper(
    forge: Forge,
    key: str,
    rollout: FlagsRollout,
    judged: BreachJudgement,
    clock: datetime,
    provenance: Provenance,
    base: str,
) -> PublishedMove:
    """A hard limit breached in WARM: the rollout's deployment pull request fails it (on the base as it is
    now: an earlier rollback of this run may have moved it)."""
    strategy, _, symbol = key.partition("/")
    base_sha = forge.resolve(base)
    constants, flags = _state_at(forge, base_sha)
    checks = tuple(check for check in judged.checks if check.name in HARD_CHECKS)
    reason = f"rollout failed: {judged.reason} on paper in {rollout.stage.value}"
    verdict = Verdict("fail", "fail", rollout.stage.value, "failed", 0.0, 1, reason)
    status = CanaryStatus(
        checked_at=clock, stage=rollout.stage, outcome="fail", decision="fail", reason=reason,
        failed_checks=1, checks=tuple(check.to_canary() for check in checks),
    )  # fmt: skip
    after = moved_rollout(rollout, verdict, status, clock)
    timeframe = str(constants.live_params[strategy][symbol]["timeframe"])
    return publish_move(
        forge, base=base, base_sha=base_sha, key=key, before=rollout, after=after,
        flags_text=flags_text_with(flags, constants, key, after, provenance), verdict=verdict, checks=checks,
        timeframe=timeframe, auto_merge=False,
    )  # fmt: skip


def _with_alerts(watch: Watch) -> Watch:
    """The watch with its alerts: ``info`` once when a rollout is first watched in LIMITED or FULL (a stage
    change), then the judgement's (:func:`_judgement_alert`)."""
    rollout = f"{watch.key}@{watch.config_hash}"
    found = []
    if watch.stage in MONITORED_STAGES:
        text = (
            f"{watch.key} runs config {watch.config_hash} in {watch.stage} since {watch.since.isoformat()}; "
            "the monitor checks it every interval and rolls it back on a breach. Nothing to do."
        )
        found.append(Alert("info", "stage", rollout, watch.stage, f"{watch.key} entered {watch.stage}", text))
    judged_alert = _judgement_alert(watch)
    if judged_alert is not None:
        found.append(judged_alert)
    return dataclasses.replace(watch, alerts=tuple(found))


def _judgement_alert(watch: Watch) -> Alert | None:
    judged = watch.judgement
    if judged is None or judged.decision == "ok":
        return None
    rollout = f"{watch.key}@{watch.config_hash}"
    facts = {
        check.name: f"{check.outcome}: {'—' if check.figure is None else f'{check.figure:.4g}'} {check.unit}"
        for check in judged.checks
    }
    if watch.stage in PAPER_STAGES:
        move = watch.failed_move
        where = "dry run: nothing opened" if move is None else f"deployment pull request #{move.pr_number}"
        text = (
            f"{judged.reason} on paper in {watch.stage}: the rollout fails ({where}). What to do: merge the "
            "pull request; the bot stops paper-trading the new parameters and the live ones never changed."
        )
        alert = Alert(
            "error", "rollout_failed", rollout, watch.stage, f"{watch.key} failed in WARM", text, facts
        )
        return alert
    if watch.rollback is not None:
        done = watch.rollback
        text = (
            f"{judged.reason}. {done.describe()}. What to do: find why the new parameters lost; the pair "
            "runs its previous parameters again and the optimizer never proposes the rolled-back "
            "configuration again."
        )
        if done.action in ("pr_opened", "pr_updated", "pr_unchanged", "pr_auto_merge"):
            text += f" Review and merge {done.url} (it is not on {done.base} yet)."
        alert = Alert("error", "rollback", rollout, watch.stage, f"{watch.key} rolled back", text, facts)
    elif judged.decision.startswith("rollback") and watch.note.startswith("no rollback: "):
        text = f"{judged.reason}, but {watch.note[len('no rollback: ') :]}"
        title = f"{watch.key} breached and cannot roll back"
        alert = Alert("error", "rollback_impossible", rollout, watch.stage, title, text, facts)
    elif judged.decision.startswith("rollback"):  # a dry run
        text = f"{judged.reason} (dry run: nothing rolled back)"
        alert = Alert("error", "rollback", rollout, watch.stage, f"{watch.key} would roll back", text, facts)
    elif judged.failed_in_row:
        text = f"{judged.reason}. What to do: watch it; the rollback follows at the threshold."
        event = f"check_failed_{judged.failed_in_row}"
        alert = Alert("warn", event, rollout, watch.stage, f"{watch.key}: monitor check failed", text, facts)
    else:
        text = f"{judged.reason}. What to do: make sure the bot reports the shadow paper equity."
        alert = Alert("warn", "inconclusive", rollout, watch.stage, f"{watch.key}: inconclusive", text, facts)
    return alert


def _beat(evidence: Warehouse, clock: datetime, provenance: Provenance, watched: int) -> str:
    """Record the run (kind ``monitor``) and return its run id."""
    run_id = evidence.start_run(
        MONITOR_RUN_KIND, git_sha=provenance.git_sha, run_id=provenance.run_id, started_at=clock,
        params={"rollouts": watched}, resume=True,
    )  # fmt: skip
    evidence.finish_run(run_id, "ok", finished_at=clock)
    return run_id


def last_monitor_run(evidence: Warehouse) -> datetime | None:
    """When the monitor last ran to the end (the newest ``monitor`` run that finished ok), or ``None``."""
    done = [run.started_at for run in evidence.runs(MONITOR_RUN_KIND) if run.status == "ok"]
    return max(done, default=None)


def deadman_alert(
    evidence: Warehouse, constants: LiveConstants, flags: FeatureFlags, clock: datetime
) -> Alert | None:
    """The dead man's switch: an error alert when a LIMITED or FULL rollout exists and the monitor has not
    run for ``MONITOR_DEADMAN_INTERVALS`` intervals (or never ran); ``None`` otherwise."""
    watched = [
        key for key, r in flags.rollouts.items() if r.stage.value in MONITORED_STAGES and r.phase != "failed"
    ]
    if not watched:
        return None
    limit = timedelta(minutes=constants.monitor_interval_minutes) * constants.monitor_deadman_intervals
    last = last_monitor_run(evidence)
    if last is not None and clock - last <= limit:
        return None
    seen = "never" if last is None else f"last at {last.isoformat()}"
    text = (
        f"The monitor has not run for {constants.monitor_deadman_intervals} intervals of "
        f"{constants.monitor_interval_minutes} minutes ({seen}); {', '.join(sorted(watched))} are not "
        "watched. What to do: check the monitor workflow (disabled schedule, failing runs), then run "
        "`tradeloop monitor`."
    )
    return Alert(
        "error", "deadman", "monitor", "last_run=" + ("never" if last is None else last.isoformat()),
        "monitor stopped", text, {"monitored": ", ".join(sorted(watched))},
    )  # fmt: skip
