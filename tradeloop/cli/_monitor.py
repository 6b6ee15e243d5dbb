"""``tradeloop monitor`` and ``tradeloop notify``: live breaches rolled back in git, and alerts to act on."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tradeloop._schema import did_you_mean
from tradeloop.cli._context import get_context
from tradeloop.cli._pr import ForgeOpt
from tradeloop.errors import SettingsError

__all__ = ["monitor", "notify"]


def monitor(
    ctx: typer.Context,
    forge: ForgeOpt = None,
    base: Annotated[str, typer.Option("--base", help="The branch the rollouts are read from.")] = "main",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Judge only: roll back, record, send and write nothing.")
    ] = False,
    remote: Annotated[
        str, typer.Option("--remote", envvar="TRADELOOP_GIT_REMOTE", help="Git remote the github forge uses.")
    ] = "origin",
    github_repository: Annotated[
        str | None,
        typer.Option(
            "--github-repository", help="OWNER/NAME. \\[default: $GITHUB_REPOSITORY]", show_default=False
        ),
    ] = None,
) -> None:
    """Judge every LIMITED and FULL rollout on its live evidence: a hard limit (daily loss, drawdown) rolls
    back at once, MONITOR_FAILURE_THRESHOLD failed checks in a row open a rollback pull request; alerts go
    to every TRADELOOP_WEBHOOK_*. Exit 0 whatever the judgements."""
    from tradeloop import git_sha
    from tradeloop.loop import MonitorOptions, run_monitor

    cli = get_context(ctx)
    options = MonitorOptions(
        forge=forge, remote=remote, repository=github_repository, base=base,
        dry_run=dry_run, git_sha=git_sha(Path(__file__).resolve().parent),
    )  # fmt: skip
    result = run_monitor(cli.settings, options)
    if cli.json_output:
        cli.emit_json(result.to_dict())
        return
    if not result.watches:
        cli.console.print("no LIMITED or FULL rollout to monitor")
    for watch in result.watches:
        judged = watch.judgement
        what = watch.note if judged is None else f"{judged.decision}: {judged.reason}"
        cli.console.print(f"{watch.key} {watch.stage}: {what}")
        if watch.rollback is not None:
            cli.console.print(f"  {watch.rollback.describe()}")
    for delivery in result.deliveries:
        alert = delivery.alert
        line = f"alert {alert.severity} {alert.event} ({alert.rollout}): {delivery.outcome}"
        cli.console.print(line + "".join(f"; {error}" for error in delivery.errors))


def notify(
    ctx: typer.Context,
    title: Annotated[str | None, typer.Option("--title", help="The alert's title.")] = None,
    text: Annotated[str, typer.Option("--text", help="What happened and what to do.")] = "",
    severity: Annotated[str, typer.Option("--severity", help="info, warn or error.")] = "info",
    event: Annotated[str, typer.Option("--event", help="The event, part of the dedup key.")] = "message",
    rollout: Annotated[str, typer.Option("--rollout", help="The rollout (strategy/symbol).")] = "-",
    stage: Annotated[str, typer.Option("--stage", help="The stage, part of the dedup key.")] = "-",
    deadman: Annotated[
        bool,
        typer.Option(
            "--deadman",
            help="Also raise the error alert of the dead man's switch when the monitor "
            "has not run for MONITOR_DEADMAN_INTERVALS intervals.",
        ),
    ] = False,
) -> None:
    """Send an alert once (dedup key rollout, stage, event) to every TRADELOOP_WEBHOOK_* (Slack, Discord or
    generic JSON); exit 1 when a webhook did not take it after its retries."""
    from deployment import SEVERITIES, Alert
    from tradeloop.loop import notify as notify_call

    cli = get_context(ctx)
    if title is None and not deadman:
        raise SettingsError("notify: nothing to send; pass --title TEXT (and --text), or --deadman")
    if severity not in SEVERITIES:
        hint = did_you_mean(severity.lower(), SEVERITIES)
        raise SettingsError(f"notify: --severity {severity!r} is not one of {', '.join(SEVERITIES)}.{hint}")
    alert = None
    if title is not None:
        alert = Alert(severity, event, rollout, stage, title, text)
    result = notify_call(cli.settings, alert, deadman=deadman)
    if cli.json_output:
        cli.emit_json(result.to_dict())
    else:
        if not result.webhooks:
            cli.console.print("no webhook configured: set TRADELOOP_WEBHOOK_SLACK, _DISCORD or another name")
        for delivery in result.deliveries:
            line = f"alert {delivery.alert.severity} {delivery.alert.event}: {delivery.outcome}"
            cli.console.print(line + "".join(f"; {error}" for error in delivery.errors))
        if deadman and not any(d.alert.event == "deadman" for d in result.deliveries):
            cli.console.print("the monitor ran recently (or nothing is monitored): no dead man's alert")
    if any(delivery.outcome == "failed" for delivery in result.deliveries):
        raise typer.Exit(1)
