"""``tradeloop ensemble propose``: ensemble weights of a symbol's live strategies, judged on the holdout."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from tradeloop.cli._context import CliContext, get_context
from tradeloop.cli._pr import ForgeOpt

if TYPE_CHECKING:
    from tradeloop.loop import WeightsResult

__all__ = ["BarsOpt", "TargetOpt", "ensemble_app", "render_weights"]

#: Options the state-change proposals (``ensemble propose``, ``loadouts propose``) share.
BarsOpt = Annotated[
    str | None, typer.Option("--data", "-d", help="Bars source. \\[default: the symbol's matrix.yaml source]")
]
TargetOpt = Annotated[str, typer.Option("--base", help="The branch the pull request targets.")]

ensemble_app = typer.Typer(
    help="Ensemble weights: the share of a symbol's capital each of its live strategies trades.",
    no_args_is_help=True,
)


@ensemble_app.command("propose")
def propose(
    ctx: typer.Context,
    symbol: Annotated[str, typer.Option("--symbol", help="A symbol with several live strategies.")],
    cadence: Annotated[str, typer.Option("--cadence", help="The optimizer cadence (its window).")] = "daily",
    data: BarsOpt = None,
    apply: Annotated[
        bool, typer.Option("--apply", help="Commit a validated proposal on its branch and open its PR.")
    ] = False,
    forge: ForgeOpt = None,
    base: TargetOpt = "main",
) -> None:
    """Propose ENSEMBLE_WEIGHTS for one symbol (config/constants.py's method, bounds and turnover cap, from
    the search bars), judge them against the weights in force on the holdout, and show the PR body."""
    from tradeloop.loop import WeightsOptions, propose_weights

    cli = get_context(ctx)
    options = WeightsOptions(symbol=symbol, cadence=cadence, data=data, apply=apply, forge=forge, base=base)
    result = propose_weights(cli.settings, options)
    if cli.json_output:
        cli.emit_json(result.to_json())
        return
    render_weights(cli, result)


def render_weights(cli: CliContext, result: WeightsResult) -> None:
    """The proposal for people: status and reason, the PR body, the pull request or how to open it."""
    cli.console.print(f"[bold]{result.symbol}[/bold] ({result.timeframe}): {result.status}: {result.reason}")
    if result.body:
        cli.console.print(result.body, markup=False, highlight=False)
    if result.pr_number is not None:
        cli.console.print(f"pull request #{result.pr_number} ({result.action}) on {result.branch}")
    elif result.status == "proposed":
        cli.console.print(f"dry run: rerun with --apply to commit it on {result.branch} and open its PR")
