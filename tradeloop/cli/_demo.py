"""``tradeloop demo rollout``: the demo pair's validated proposal from the merge to FULL, end to end."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from tradeloop.cli._context import get_context

__all__ = ["demo_app"]

demo_app = typer.Typer(
    help="Demonstrations on the embedded data that run the whole product in a scratch repository.",
    no_args_is_help=True,
)


@demo_app.command("rollout")
def rollout(
    ctx: typer.Context,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="A new directory for the scratch repository, home and warehouse. "
            "\\[default: <home>/runs/demo-rollout-<time>]",
            show_default=False,
        ),
    ] = None,
    proposal: Annotated[
        Path | None,
        typer.Option(
            "--proposal",
            help="The demo pair's proposal.json (from tradeloop cycle). "
            "\\[default: the shipped demo proposal]",
            show_default=False,
        ),
    ] = None,
    tick_hours: Annotated[
        float,
        typer.Option("--tick-hours", help="Simulated hours between steps (1: the hourly workflow)."),
    ] = 24.0,
    days: Annotated[float, typer.Option("--days", help="Simulated days before the run stops.")] = 60.0,
    degrade_bps: Annotated[
        float,
        typer.Option(
            "--degrade-bps",
            help="Plant a degradation: the bot's live fills of the new parameters "
            "cost this many basis points more (paper trading does not see it).",
        ),
    ] = 0.0,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the held-back demo market.")] = 1,
) -> None:
    """Merge the demo pair's validated proposal in a scratch repository and walk its rollout COLD → WARM →
    LIMITED → FULL on the demo market's held-back bars and a simulated clock: paper run, simulated bot,
    deploy step, pr check and a person's merge of every deployment pull request. Ends at FULL, at a failure
    (and why), or at the horizon."""
    from tradeloop import new_run_id
    from tradeloop.loop import RolloutOptions, demo_rollout

    cli = get_context(ctx)
    target = out or cli.settings.runs_dir / f"demo-rollout-{new_run_id()}"
    options = RolloutOptions(out=target, proposal=proposal, tick=timedelta(hours=tick_hours), days=days,
                             degrade_bps=degrade_bps, seed=seed)  # fmt: skip
    result = demo_rollout(cli.settings, options)
    if cli.json_output:
        cli.emit_json(result.to_dict())
        return
    for move in result.moves:
        merged = f"merged {move.merge_commit[:12]}" if move.merge_commit else "refused by pr check"
        cli.console.print(f"{move.at:%Y-%m-%d %H:%M} #{move.pr_number} {move.move}: {move.reason} ({merged})")
    cli.console.print(f"[bold]outcome: {result.outcome}[/bold] ({result.stage}, {result.phase}) after "
                      f"{result.ticks} steps: {result.reason}")  # fmt: skip
    shown = ", ".join(f"{name} {count}" for name, count in result.evidence.items())
    cli.console.print(f"evidence: {shown}")
    cli.console.print(f"repository {result.repo}; pull request bodies in {target / 'home' / 'forge'}; "
                      f"warehouse {result.warehouse_url}")  # fmt: skip
