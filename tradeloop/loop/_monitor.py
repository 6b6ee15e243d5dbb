"""``monitor`` and ``notify``: the monitor run and the alerts, glued to the settings, forge and warehouse."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tradeloop._settings import Settings
from tradeloop.errors import SettingsError
from tradeloop.loop._common import make_forge

if TYPE_CHECKING:
    from deployment import Alert, BarsProvider, Delivery, MonitorResult, Rollout
    from gitops import PairRollback

__all__ = [
    "DeployStepResult",
    "MonitorOptions",
    "NotifyResult",
    "delivery_options",
    "deploy_step",
    "notify",
    "roll_back_pair",
    "run_monitor",
]


def delivery_options(given: dict[str, Any] | None = None) -> dict[str, Any]:
    """:func:`deployment.send_alerts`'s delivery options: ``given``, else ``TRADELOOP_ALERT_BACKOFF_S`` (the
    first retry's wait, doubled each time) and ``TRADELOOP_ALERT_TIMEOUT_S`` when set."""
    if given:
        return dict(given)
    found: dict[str, Any] = {}
    for name, key in (("TRADELOOP_ALERT_BACKOFF_S", "backoff_s"), ("TRADELOOP_ALERT_TIMEOUT_S", "timeout_s")):
        value = os.environ.get(name)
        if value:
            try:
                seconds = float(value)
            except ValueError:
                seconds = math.nan
            least = "> 0" if key == "timeout_s" else ">= 0"
            if not math.isfinite(seconds) or seconds < 0 or (key == "timeout_s" and seconds == 0):
                raise SettingsError(f"{name}={value!r} is not a number of seconds {least}; e.g. {name}=1")
            found[key] = seconds
    return found


@dataclass(frozen=True)
class MonitorOptions:
    """The options of one monitor run (``tradeloop monitor``)."""

    forge: str | None = None
    remote: str = "origin"
    repository: str | None = None
    base: str = "main"
    dry_run: bool = False
    git_sha: str = "nogit"
    send: dict[str, Any] = field(default_factory=dict)


def run_monitor(settings: Settings, options: MonitorOptions) -> MonitorResult:
    """Judge every LIMITED and FULL rollout on the base branch, roll breaches back, send the alerts."""
    from deployment import monitor, webhooks_from_env
    from warehouse import get_warehouse

    webhooks = webhooks_from_env()
    target = make_forge(settings, options.forge, remote=options.remote, repository=options.repository)
    with get_warehouse(settings.warehouse_url) as warehouse:
        return monitor(
            target, warehouse, settings.current_time(),
            webhooks=webhooks, base=options.base, dry_run=options.dry_run, git_sha=options.git_sha,
            send=delivery_options(options.send),
        )  # fmt: skip


@dataclass(frozen=True)
class NotifyResult:
    """The alerts ``tradeloop notify`` sent (or found sent before)."""

    deliveries: tuple[Delivery, ...]
    webhooks: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"webhooks": list(self.webhooks), "alerts": [d.to_dict() for d in self.deliveries]}


def notify(
    settings: Settings,
    alert: Alert | None,
    *,
    deadman: bool = False,
    send: dict[str, Any] | None = None,
) -> NotifyResult:
    """Send ``alert`` once to every ``TRADELOOP_WEBHOOK_*``; with ``deadman``, also the dead man's switch's
    error alert when the monitor has stopped running (:func:`deployment.deadman_alert`)."""
    from deployment import WarehouseSentLog, deadman_alert, send_alerts, webhooks_from_env
    from gitops import load_state
    from warehouse import get_warehouse

    webhooks = webhooks_from_env()
    clock = settings.current_time()
    alerts = [] if alert is None else [alert]
    with get_warehouse(settings.warehouse_url) as warehouse:
        if deadman:
            constants, flags = load_state(settings.repo)
            found = deadman_alert(warehouse, constants, flags, clock)
            alerts += [] if found is None else [found]
        at = clock.isoformat(timespec="seconds")
        sent = WarehouseSentLog(warehouse)
        deliveries = send_alerts(alerts, webhooks, sent, at=at, **delivery_options(send))
    return NotifyResult(tuple(deliveries), tuple(hook.name for hook in webhooks))


def roll_back_pair(
    settings: Settings,
    pair: str,
    *,
    kind: str | None = None,
    remote: str = "origin",
    repository: str | None = None,
    apply: bool = False,
    base: str = "main",
    reason: str | None = None,
    git_sha: str = "nogit",
) -> PairRollback:
    """``tradeloop rollback --pair STRATEGY/SYMBOL``: the computed inverse of the pair's last change, as the
    monitor makes it, committed on ``base`` (``apply``) or as the pair's rollback pull request."""
    from gitops import check_base_clean, rollback_pair
    from tradeloop import Provenance, new_run_id

    strategy, slash, symbol = pair.partition("/")
    if not slash or not strategy or not symbol:
        raise SettingsError(
            f"rollback --pair {pair!r}: name the pair as STRATEGY/SYMBOL, e.g. ema_cross/SP500"
        )
    clock = settings.current_time()
    provenance = Provenance(
        run_id=new_run_id(clock), git_sha=git_sha, written_at=clock.isoformat(timespec="seconds")
    )
    target = make_forge(settings, kind, remote=remote, repository=repository)
    if apply:  # a person asked for the commit: a dirty checkout of the base is theirs to settle, not a PR
        check_base_clean(target, base)
    return rollback_pair(
        target, strategy, symbol, mode="commit" if apply else "pull_request", provenance=provenance,
        base=base, reason=reason or "rolled back by hand with `tradeloop rollback --pair`",
    )  # fmt: skip


@dataclass(frozen=True)
class DeployStepResult:
    """``tradeloop deploy step``: what became of each rollout, and the alerts it sent."""

    forge: str | None
    dry_run: bool
    rollouts: tuple[Rollout, ...]
    deliveries: tuple[Delivery, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "forge": self.forge, "dry_run": self.dry_run,
            "rollouts": [rollout.to_dict() for rollout in self.rollouts],
            "alerts": [delivery.to_dict() for delivery in self.deliveries],
        }  # fmt: skip


def deploy_step(
    settings: Settings,
    *,
    forge: str | None,
    apply: bool,
    base: str,
    bars: BarsProvider | None,
    dry_run: bool = False,
    run_url: str | None = None,
    remote: str = "origin",
    repository: str | None = None,
    git_sha: str = "nogit",
) -> DeployStepResult:
    """Analyse every rollout once (:func:`deployment.deploy_step`), then alert on what it decided
    (:func:`deployment.step_alerts`: info for a proposed stage change, warn for a hold on an inconclusive or
    failed analysis, error for a failed rollout), each once, to every ``TRADELOOP_WEBHOOK_*``."""
    from deployment import WarehouseSentLog, send_alerts, step_alerts, webhooks_from_env
    from deployment import deploy_step as step
    from warehouse import get_warehouse

    webhooks, send = webhooks_from_env(), delivery_options(None)  # checked before any work starts
    target = None if apply else make_forge(settings, forge, remote=remote, repository=repository)
    clock = settings.current_time()
    with get_warehouse(settings.warehouse_url) as warehouse:
        results = step(
            settings.repo, warehouse, target, clock, base=base, bars=bars, apply=apply, dry_run=dry_run,
            run_url=run_url, git_sha=git_sha,
        )  # fmt: skip
        deliveries: list[Delivery] = []
        if not dry_run:
            at = clock.isoformat(timespec="seconds")
            deliveries = send_alerts(
                step_alerts(results), webhooks, WarehouseSentLog(warehouse), at=at, **send
            )
    return DeployStepResult(
        None if target is None else target.kind, dry_run, tuple(results), tuple(deliveries)
    )
