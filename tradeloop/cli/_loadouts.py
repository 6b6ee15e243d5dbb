"""``tradeloop loadouts propose``: one parameter set per regime for a live pair, judged on its holdout."""

from __future__ import annotations

from typing import Annotated

import typer

from tradeloop.cli._context import get_context
from tradeloop.cli._ensemble import BarsOpt, TargetOpt
from tradeloop.cli._pr import ForgeOpt

__all__ = ["loadouts_app"]

loadouts_app = typer.Typer(
    help="Regime loadouts: the parameter set a live pair trades in each market regime.", no_args_is_help=True
)


@loadouts_app.command("propose")
def propose(
    ctx: typer.Context,
    strategy: Annotated[str, typer.Option("--strategy", "-s", help="A live strategy.")],
    symbol: Annotated[str, typer.Option("--symbol", help="Its live symbol.")],
    cadence: Annotated[str, typer.Option("--cadence", help="The optimizer cadence (its window).")] = "weekly",
    samples: Annotated[int, typer.Option("--samples", help="Candidate sets per regime.", min=1)] = 48,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the candidate sample.")] = 0,
    data: BarsOpt = None,
    apply: Annotated[
        bool, typer.Option("--apply", help="Commit validated loadouts on their branch and open their PR.")
    ] = False,
    forge: ForgeOpt = None,
    base: TargetOpt = "main",
) -> None:
    """Search REGIME_LOADOUTS for one live pair on each regime's search bars (bounded from the set each
    replaces), judge each regime on its holdout bars, and show the per-regime table."""
    from tradeloop.loop import LoadoutOptions, propose_loadouts

    cli = get_context(ctx)
    options = LoadoutOptions(
        strategy=strategy, symbol=symbol, cadence=cadence, samples=samples, seed=seed, data=data, apply=apply,
        forge=forge, base=base,
    )  # fmt: skip
    result = propose_loadouts(cli.settings, options)
    if cli.json_output:
        cli.emit_json(result.to_json())
        return
    cli.console.print(
        f"[bold]{strategy}/{symbol}[/bold] ({result.timeframe}): {result.status}: {result.reason}"
    )
    if result.body:
        cli.console.print(result.body, markup=False, highlight=False)
    if result.pr_number is not None:
        cli.console.print(f"pull request #{result.pr_number} ({result.action}) on {result.branch}")
    elif result.status == "proposed":
        cli.console.print(f"dry run: rerun with --apply to commit it on {result.branch} and open its PR")
