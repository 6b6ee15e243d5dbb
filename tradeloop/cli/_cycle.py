"""``tradeloop cycle``: the whole loop on one machine, on the embedded data (``loop.run_cycle``).

The command parses the options, makes the one call and renders what it returns: each step as it ends, with
the same output the step's own command prints (under ``--json``, one document at the end), then the summary.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from tradeloop.cli._context import CliContext, feedback, get_context
from tradeloop.loop._cycle import AUTO_CADENCE, STEPS

if TYPE_CHECKING:
    from tradeloop.documents import Proposal, Verdict
    from tradeloop.loop import CycleResult
    from tradeloop.loop._cycle import StepResult

__all__ = ["cycle"]

# KPI rows of the closing table: (key, label with its unit).
KPI_ROWS = (
    ("sharpe", "Sharpe"),
    ("return_pct", "Return [%]"),
    ("max_drawdown_pct", "Max DD [%]"),
    ("win_rate_pct", "Win rate [%]"),
    ("profit_factor", "Profit factor"),
    ("trades", "Trades"),
)


def cycle(
    ctx: typer.Context,
    strategy: Annotated[
        str | None,
        typer.Option("--strategy", "-s", help="Only this live strategy. \\[default: every live pair]"),
    ] = None,
    symbol: Annotated[
        str | None, typer.Option("--symbol", help="Only this live symbol. \\[default: every live pair]")
    ] = None,
    cadence: Annotated[
        str,
        typer.Option(
            "--cadence",
            help="Optimizer cadence: 6h, daily, weekly, or auto (weekly for daily bars, which need the whole "
            "history; daily for intraday bars).",
        ),
    ] = AUTO_CADENCE,
    trials: Annotated[int, typer.Option("--trials", min=1, help="Stage B trials (the search budget).")] = 40,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the search and the bootstraps.")] = 0,
    reps: Annotated[
        int | None,
        typer.Option(
            "--reps", min=10, help="Bootstrap replications of validation. \\[default: BOOTSTRAP_REPLICATIONS]"
        ),
    ] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Matrix worker processes.")] = 2,
    matrix: Annotated[
        Path | None,
        typer.Option("--matrix", help="Matrix definition. \\[default: backtest_matrix/matrix.yaml]"),
    ] = None,
    apply: Annotated[
        bool,
        typer.Option(
            "--apply", help="Commit each validated proposal on its branch (local forge). Default: dry run."
        ),
    ] = False,
) -> None:
    """Run the loop once on the embedded data: matrix, merge, then propose, validate and the pull request for
    every live pair, and a summary."""
    from tradeloop.cli._context import quiet_optuna
    from tradeloop.loop import CycleOptions, run_cycle

    cli = get_context(ctx)
    quiet_optuna(cli)
    options = CycleOptions(strategy, symbol, cadence, trials, seed, reps, workers, matrix, apply)
    result = run_cycle(cli.settings, options, observer=_Shown(cli), feedback=feedback(cli))
    _summary(cli, result)


class _Shown:
    """Each step as the command behind it shows it: a rule naming the step, then its output (nothing under
    --json: the summary document holds every step's)."""

    def __init__(self, cli: CliContext) -> None:
        self.cli = cli

    def started(self, number: int, name: str, label: str) -> None:
        if not self.cli.json_output:
            suffix = f" · {label}" if label else ""
            self.cli.console.rule(f"[bold]{number}/{len(STEPS)} {name}{suffix}")

    def finished(self, name: str, result: StepResult) -> None:
        if self.cli.json_output:
            return
        from tradeloop.cli._ensemble import render_weights
        from tradeloop.cli._matrix import render_run
        from tradeloop.cli._matrix_merge import render_merge
        from tradeloop.cli._pr import render_open
        from tradeloop.cli._propose import render_proposal
        from tradeloop.cli._validate import render_verdict

        renderers: dict[str, Any] = {
            "matrix": render_run, "merge": render_merge, "propose": render_proposal,
            "validate": render_verdict, "pull request": render_open, "ensemble": render_weights,
        }  # fmt: skip
        renderers[name](self.cli, result)

    def skipped(self, number: int, name: str, label: str, reason: str) -> None:
        if not self.cli.json_output:
            self.started(number, name, label)
            self.cli.console.print(reason)


def _summary(cli: CliContext, result: CycleResult) -> None:
    if cli.json_output:
        cli.emit_json(result.to_json())
        return
    lead = result.lead
    console = cli.console
    console.rule("[bold]cycle")
    table = Table("pair", "cadence", "outcome", title="live pairs")
    for pair in result.pairs:
        table.add_row(pair.name, pair.cadence, pair.outcome.split(";")[0])  # the reason's first clause
    console.print(table)
    if result.ensembles:
        console.print(_weights_table(result))
    console.print(f"verdict: [bold]{lead.decision}[/bold] ({lead.name}): {lead.outcome}")
    if lead.proposal.proposed:
        console.print(_kpi_table(lead.proposal, lead.verdict))
    console.print(f"report:  {result.report}")
    if result.dashboard is not None:
        console.print(f"dashboard: {result.dashboard.index}")
    console.print(f"PR body: {lead.body_path if lead.body_path else '(no change proposed)'}")
    if lead.decision == "pass" and not result.options.apply:
        console.print(
            f"dry run: nothing committed; apply it with `tradeloop cycle --apply --strategy {lead.strategy} "
            f"--symbol {lead.symbol}` (commits the change on its branch through the local forge)"
        )


def _weights_table(result: CycleResult) -> Table:
    """Each weighted symbol's weights in force -> proposed, and what became of them."""
    table = Table("symbol", "weights: in force", "proposed", "outcome", title="ensemble weights")
    for weights in result.ensembles:
        target = weights.target
        before = "" if target is None else _weights(target.before)
        after = "" if target is None else _weights(target.after)
        table.add_row(weights.symbol, before, after, f"{weights.status}: {weights.reason}")
    return table


def _weights(weights: Mapping[str, float]) -> str:
    return ", ".join(f"{strategy} {share:.0%}" for strategy, share in sorted(weights.items()))


def _kpi_table(proposal: Proposal, verdict: Verdict | None) -> Table:
    """Live vs proposed on the search bars, and on the holdout the search never saw (from the verdict)."""
    before, after = proposal.kpis_before.overall, proposal.kpis_after.overall
    held = verdict.kpis if verdict is not None else {}
    title = f"{proposal.strategy}/{proposal.symbol} {proposal.timeframe}: live -> proposed"
    table = Table("KPI", "search bars: live", "proposed", "holdout: live", "proposed", title=title)
    for key, label in KPI_ROWS:
        digits = 0 if key == "trades" else 3  # a count, even when the engine reports it as a float
        values = (before.get(key), after.get(key), held.get("baseline", {}).get(key),
                  held.get("candidate", {}).get(key))  # fmt: skip
        table.add_row(label, *(_number(value, digits) for value in values))
    return table


def _number(value: Any, digits: int) -> str:
    if value is None:
        return "—"
    return f"{value:.{digits}f}" if isinstance(value, int | float) else str(value)
