"""``tradeloop state show | check``: the live state files, validated on every read."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.markup import escape

from tradeloop.cli._context import get_context, print_check

state_app = typer.Typer(
    help="The live state: config/constants.py and feature_flags.json.", no_args_is_help=True
)


@state_app.command("show")
def show(ctx: typer.Context) -> None:
    """Print the live parameters, guardrails, rollouts and the config hash (validated first)."""
    from gitops import show_state

    cli = get_context(ctx)
    state = show_state(cli.settings.repo)
    if cli.json_output:
        cli.emit_json(state)
        return
    for key, value in state.items():
        if isinstance(value, dict | list):
            cli.console.print(f"[bold]{key}[/bold]")
            cli.console.print_json(json.dumps(value, default=str))
        else:
            cli.console.print(f"[bold]{key}[/bold]: {value}")


@state_app.command("check")
def check(ctx: typer.Context) -> None:
    """Validate both state files; list every problem and exit 1 when there is any."""
    from gitops import check_state

    cli = get_context(ctx)
    report = check_state(cli.settings.repo)
    if cli.json_output:
        cli.emit_json(report.to_dict())
    else:
        print_check(cli, report.ok, report.summary(), report.errors)
        for note in report.notes:
            cli.console.print(f"  [yellow]note[/yellow] {escape(str(note))}")
    if not report.ok:
        raise typer.Exit(1)


@state_app.command("targets")
def targets(
    ctx: typer.Context,
    ensembles: Annotated[
        bool,
        typer.Option(
            "--ensembles",
            help="List the symbols whose live strategies ENSEMBLE_WEIGHTS can weight within their bounds.",
        ),
    ] = False,
) -> None:
    """List the live strategy/symbol/timeframe pairs; with --json, as a GitHub Actions matrix ``include``."""
    from gitops import ensemble_symbols, load_constants

    cli = get_context(ctx)
    constants = load_constants(cli.settings.constants_path)
    live = constants.live_params
    rows: list[dict[str, str]] = [
        {"strategy": strategy, "symbol": symbol, "timeframe": str(params["timeframe"])}
        for strategy, symbols in live.items()
        for symbol, params in symbols.items()
    ]
    if ensembles:
        rows = [{"symbol": symbol} for symbol in ensemble_symbols(constants)]
    if cli.json_output:
        cli.emit_json({"include": rows})
        return
    for row in rows:
        cli.console.print(
            " ".join(row.values()) if ensembles else f"{row['strategy']}/{row['symbol']} {row['timeframe']}"
        )
