"""``tradeloop propose``: a bounded, re-backtested parameter proposal for one live strategy/symbol."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from tradeloop.cli._context import CliContext, feedback, get_context, quiet_optuna
from tradeloop.errors import OptimizerError
from tradeloop.loop._checks import check_options_first

if TYPE_CHECKING:
    from tradeloop.loop import ProposeResult

__all__ = ["propose", "render_proposal"]


def propose(
    ctx: typer.Context,
    strategy: Annotated[str, typer.Option("--strategy", "-s", help="A live strategy.")],
    symbol: Annotated[str, typer.Option("--symbol", help="A live symbol of that strategy.")],
    timeframe: Annotated[str, typer.Option("--timeframe", "-t", help="Its live bar timeframe.")],
    cadence: Annotated[str, typer.Option("--cadence", help="6h, daily or weekly.")],
    out: Annotated[
        Path, typer.Option("--out", help="Where to write the proposal JSON (.md beside it).")
    ] = Path("proposal.json"),
    trials: Annotated[int, typer.Option("--trials", min=1, help="Stage B trials.")] = 50,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the search.")] = 0,
    storage: Annotated[
        str | None,
        typer.Option("--storage", help="Optuna storage URL or 'memory'. \\[default: SQLite in home]"),
    ] = None,
    data: Annotated[
        str | None, typer.Option("--data", "-d", help="Data source. \\[default: matrix.yaml symbols]")
    ] = None,
    objective: Annotated[str, typer.Option("--objective", help="Objective to maximise.")] = "sharpe",
    sampler: Annotated[str, typer.Option("--sampler", help="tpe, gp, cmaes, nsga2 or skopt-gp.")] = "tpe",
    matrix: Annotated[
        Path | None, typer.Option("--matrix", help="Matrix definition for the data sources.", dir_okay=False)
    ] = None,
    base: Annotated[
        str, typer.Option("--base", help="Branch whose history holds the cooldowns, budgets and rollbacks.")
    ] = "HEAD",
    forge: Annotated[
        str | None,
        typer.Option(
            "--forge",
            help="github or local: whose closed PRs count as declined. \\[default: auto]",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Analyse, search, bound and re-backtest: write proposal.json (contract 2) and proposal.md."""
    from optimizer import CADENCE_HOURS, default_storage_url
    from tradeloop.loop import ProposeOptions
    from tradeloop.loop import propose as propose_call

    cli = get_context(ctx)
    quiet_optuna(cli)
    if cadence not in CADENCE_HOURS:
        raise OptimizerError(f"--cadence {cadence!r} is unknown; use one of {', '.join(CADENCE_HOURS)}")
    check_options_first(out, objective, sampler, storage or default_storage_url(cli.settings.home))
    options = ProposeOptions(
        strategy, symbol, timeframe, cadence, out, trials, seed, storage, data, objective, sampler, matrix,
        base, forge,
    )  # fmt: skip
    render_proposal(cli, propose_call(cli.settings, options, feedback(cli)))


def render_proposal(cli: CliContext, result: ProposeResult) -> None:
    """``propose``'s output: the JSON summary, or the rationale and the parameter table for people."""
    if cli.json_output:
        cli.emit_json(result.to_json())
        return
    proposal = result.proposal
    table = Table("parameter", "current", "proposed", "Δ %", "cap %", "bound", "binding", title="proposal")
    for c in proposal.changes:
        table.add_row(
            c.parameter, f"{c.current:g}", f"{c.proposed:g}", f"{c.delta_pct:+.2f}", f"±{c.cap_pct:g}",
            c.bound, c.binding,
        )  # fmt: skip
    cli.console.print(proposal.rationale.summary)
    if proposal.changes:
        cli.console.print(table)
    cli.console.print(f"{proposal.status}: written to {result.out} and {result.markdown}")
