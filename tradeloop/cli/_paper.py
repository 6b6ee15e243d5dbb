"""``tradeloop paper run``: paper-trade every rollout's candidate and previous parameters on the new bars."""

from __future__ import annotations

from typing import Annotated

import typer

from tradeloop.cli._context import get_context

__all__ = ["paper_app"]

paper_app = typer.Typer(
    help="Paper trading of the rollouts on the engine: the candidate's evidence for WARM, and the shadow of "
    "the parameters it replaces through LIMITED and FULL.",
    no_args_is_help=True,
)


@paper_app.command("run")
def run(
    ctx: typer.Context,
    feed: Annotated[
        str | None,
        typer.Option(
            "--feed",
            help="Where new bars come from: a CSV/Parquet file a data feed appends to, or a source replayed "
            "on the clock (reverting, sp500, ...). \\[default: the symbol's matrix.yaml source]",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Paper-trade each rollout's candidate and previous parameters on the bars that arrived since the last
    run (the backtests' engine, fees, slippage and sizing); store their trades and equity in the warehouse
    (mode paper). Append-only and resumable: a re-run continues after the last bar reported. Exit 1 when a
    feed has a bad row (it is named; the clock stays before it)."""
    from tradeloop.loop import paper_step

    cli = get_context(ctx)
    result = paper_step(cli.settings, feed)
    if cli.json_output:
        cli.emit_json(result.to_dict())
    else:
        if not result.runs:
            cli.console.print("no rollouts: nothing to paper-trade")
        for item in result.runs:
            clock = item.feed.clock if item.feed is not None else None
            at = "" if clock is None else f", feed at {clock.isoformat()}"
            cli.console.print(
                f"[bold]{item.key}[/bold] {item.stage} ({item.phase}){at}{item.note and ': ' + item.note}"
            )
            for paper in item.sets:
                last = "no bar yet" if paper.last_bar is None else f"through {paper.last_bar.isoformat()}"
                cli.console.print(
                    f"  {paper.role:<9} {paper.config_hash}: {paper.equity_new} new bars, "
                    f"{paper.trades_new} new trades, {last}"
                )
        for problem in result.problems:
            cli.console.print(f"[red]feed problem:[/red] {problem}")
    if result.problems:
        raise typer.Exit(1)
