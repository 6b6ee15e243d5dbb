"""``tradeloop matrix plan | run``: the nightly backtest matrix, sharded across runners.

``matrix_app`` is the command group; other modules (``merge``) register their commands onto it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from tradeloop.cli._context import CliContext, feedback, get_context
from tradeloop.loop._checks import check_out_dir, check_positive_seconds
from tradeloop.loop._matrix import DEFAULT_MAX_CELLS

if TYPE_CHECKING:
    from tradeloop.loop import MatrixRun

__all__ = ["matrix_app"]

matrix_app = typer.Typer(
    help="The nightly backtest matrix: plan balanced shards, run one shard (resumable).",
    no_args_is_help=True,
)

MatrixOpt = Annotated[
    Path | None,
    typer.Option(
        "--matrix",
        help="The matrix definition. \\[default: backtest_matrix/matrix.yaml]",
        show_default=False,
        dir_okay=False,
    ),
]


MaxCellsOpt = Annotated[
    int,
    typer.Option("--max-cells", min=1, help="Refuse a matrix with more cells (each is one backtest)."),
]


@matrix_app.command("plan")
def plan_command(
    ctx: typer.Context,
    shards: Annotated[int, typer.Option("--shards", help="How many shards (runners) to deal the cells to.")],
    matrix: MatrixOpt = None,
    max_cells: MaxCellsOpt = DEFAULT_MAX_CELLS,
) -> None:
    """Deal the matrix's cells to N shards balanced by cost; --json prints the GitHub Actions matrix."""
    from tradeloop.loop import matrix_plan, spec_and_constants

    cli = get_context(ctx)
    spec, _ = spec_and_constants(cli.settings, matrix)
    planned = matrix_plan(cli.settings, spec, shards, max_cells)
    document = planned.to_json()
    if cli.json_output:
        cli.emit_json(document)
        return
    table = Table(
        "shard", "units", "cells", "cost (bar-equivalents)", title=f"{spec.source}: {planned.cells} cells"
    )
    for entry in document["include"]:
        table.add_row(entry["shard"], str(entry["units"]), str(entry["cells"]), f"{entry['cost']:,}")
    cli.console.print(table)
    costs = [entry["cost"] for entry in document["include"]]
    cli.console.print(f"largest / smallest shard cost: {max(costs) / max(min(costs), 1):.2f}")


@matrix_app.command("run")
def run_command(
    ctx: typer.Context,
    shard: Annotated[str, typer.Option("--shard", help="Which shard of how many, e.g. 2/4.")],
    out: Annotated[Path, typer.Option("--out", help="Directory of the shard logs (shard-i-of-N.jsonl).")],
    workers: Annotated[int, typer.Option("--workers", min=1, help="Worker processes.")] = 2,
    matrix: MatrixOpt = None,
    cell_timeout: Annotated[
        float, typer.Option("--cell-timeout", help="Seconds before a cell is killed and recorded timeout.")
    ] = 60.0,
    memory_limit: Annotated[
        int,
        typer.Option(
            "--memory-limit",
            min=0,
            help="Address space a cell may add to its worker, in MiB (RLIMIT_AS; 0: none).",
        ),
    ] = 2048,
    max_cells: MaxCellsOpt = DEFAULT_MAX_CELLS,
) -> None:
    """Run one shard in worker processes; a re-run skips the cells already in its log."""
    check_positive_seconds(cell_timeout, "--cell-timeout", "e.g. --cell-timeout 60")
    check_out_dir(out, "--out")  # before any work: a file or an unwritable place is refused now
    from tradeloop.loop import ShardOptions, matrix_run

    cli = get_context(ctx)
    options = ShardOptions(shard, out, workers, matrix, cell_timeout, memory_limit, max_cells)
    render_run(cli, matrix_run(cli.settings, options, feedback(cli)))


def render_run(cli: CliContext, result: MatrixRun) -> None:
    """``matrix run``'s output: the JSON document, or one line for people."""
    if cli.json_output:
        cli.emit_json(result.to_json())
        return
    report = result.report
    cli.console.print(
        f"shard {report.shard}: ran {report.ran} cells in {report.elapsed_s:.1f} s "
        f"({report.cells_per_s:.1f} cells/s on {result.workers} worker(s)): {report.ok} ok, {report.errors} "
        f"error, {report.timeouts} timeout; log {report.log_path} holds {report.summary.records} of "
        f"{report.cells}"
    )
