"""``tradeloop validate``: confirmatory validation of a proposal; exit 0 on pass, 1 on fail, 2 on error."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from tradeloop.cli._context import CliContext, feedback, get_context

if TYPE_CHECKING:
    from tradeloop.loop import ValidateResult

__all__ = ["render_verdict", "validate"]

EXIT_FAIL = 1


def validate(
    ctx: typer.Context,
    proposal: Annotated[
        Path,
        typer.Option("--proposal", help="The proposal.json written by `tradeloop propose`.", dir_okay=False),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", help="Directory for verdict.json and verdict.md. (default: the proposal's folder)"
        ),
    ] = None,
    seed: Annotated[
        int, typer.Option("--seed", help="Seed of the bootstraps and the walk-forward search.")
    ] = 0,
    reps: Annotated[
        int | None,
        typer.Option("--reps", help="Bootstrap replications. (default: BOOTSTRAP_REPLICATIONS)", min=10),
    ] = None,
    capital_usd: Annotated[
        float | None,
        typer.Option(
            "--capital-usd",
            help="Capital the bot trades: the backtests' initial cash, and the base that turns the worst "
            "day's % loss into USD for the MAX_DAILY_LOSS_USD gate. (default: TRADING_CAPITAL_USD)",
        ),
    ] = None,
    search_record: Annotated[
        Path | None,
        typer.Option(
            "--search-record",
            help="The search record the proposal names (checked against its SHA-256). "
            "(default: search_record.path beside the proposal)",
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Validate a proposal: holdout test and StepM, DSR/PBO of the search, re-optimising walk-forward."""
    from tradeloop.loop import ValidateOptions, validate_file

    cli = get_context(ctx)
    options = ValidateOptions(out, seed, reps, capital_usd)
    result = validate_file(cli.settings, proposal, search_record, options, feedback(cli))
    render_verdict(cli, result)
    if not result.verdict.passed:
        raise typer.Exit(EXIT_FAIL)


def render_verdict(cli: CliContext, result: ValidateResult) -> None:
    """``validate``'s output: the JSON summary, or the gates table for people."""
    if cli.json_output:
        cli.emit_json(result.to_json())
        return
    verdict = result.verdict
    table = Table(
        "gate", "bars", "figure", "threshold", "result", title=f"verdict: {verdict.decision.upper()}"
    )
    for gate in verdict.gates:
        figure = "n/a" if gate.figure is None else f"{gate.figure:.3g} {gate.unit}"
        outcome = ("pass" if gate.passed else "FAIL") + ("" if gate.gating else " (info)")
        table.add_row(gate.name, gate.measured_on, figure, f"{gate.op} {gate.threshold:.3g}", outcome)
    cli.console.print(table)
    cli.console.print(f"{verdict.summary}; written to {result.verdict_path} and {result.markdown_path}")
