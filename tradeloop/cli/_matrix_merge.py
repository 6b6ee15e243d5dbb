"""``tradeloop matrix merge``: merge shard logs, load the warehouse, flag cells, write the nightly report."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from tradeloop.cli._context import CliContext, get_context
from tradeloop.loop._matrix import STEP_SUMMARY_ENV

if TYPE_CHECKING:
    from tradeloop.loop import MatrixMerge

__all__ = ["merge", "render_merge"]


def merge(
    ctx: typer.Context,
    paths: Annotated[
        list[Path],
        typer.Argument(help="Shard log directories (every *.jsonl inside) or log files.", show_default=False),
    ],
    run_id: Annotated[
        str | None,
        typer.Option("--run-id", help="The run that owns the rows. \\[default: the records' latest run id]"),
    ] = None,
    report_dir: Annotated[
        Path | None,
        typer.Option(
            "--report-dir",
            help="Also copy report.html and summary.md here (e.g. for an artifact upload).",
            file_okay=False,
        ),
    ] = None,
    summary: Annotated[
        Path | None,
        typer.Option(
            "--summary",
            help=f"Append the markdown summary to this file. \\[default: ${STEP_SUMMARY_ENV} when set]",
            dir_okay=False,
        ),
    ] = None,
    baseline_nights: Annotated[
        int, typer.Option("--baseline-nights", help="Nights in the trailing baseline (median).", min=1)
    ] = 7,
    min_nights: Annotated[
        int, typer.Option("--min-nights", help="Nights of history a cell needs to be flagged.", min=1)
    ] = 3,
    sharpe_drop: Annotated[
        float, typer.Option("--sharpe-drop", help="Underperformance: Sharpe below the baseline by more.")
    ] = 0.5,
    drift_z: Annotated[
        float, typer.Option("--drift-z", help="Drift: |robust z| of return / drawdown above this.")
    ] = 3.5,
) -> None:
    """Merge shard logs, load them into the warehouse, flag cells against past nights, write the report."""
    from tradeloop.loop import MergeOptions, matrix_merge

    cli = get_context(ctx)
    options = MergeOptions(
        paths, run_id, report_dir, summary, baseline_nights, min_nights, sharpe_drop, drift_z
    )
    render_merge(cli, matrix_merge(cli.settings, options))


def render_merge(cli: CliContext, result: MatrixMerge) -> None:
    """``matrix merge``'s output: the JSON document, or the counts, flags and files for people."""
    document = result.to_json()
    if cli.json_output:
        cli.emit_json(document)
        return
    counts = document["counts"]
    table = Table(*counts, "flags", title=f"matrix run {document['run_id']}")
    table.add_row(*(f"{value:,}" for value in counts.values()), str(len(document["flags"])))
    cli.console.print(table)
    for flag in document["flags"]:
        cli.console.print(flag["message"], markup=False)
    stored = document["warehouse"]
    cli.console.print(
        f"warehouse {stored['url']}: {stored['inserted']} new rows, {stored['already_stored']} already stored"
    )
    cli.console.print(f"report: {document['report']}", markup=False)
    cli.console.print(f"summary: {document['summary']}", markup=False)
    for copy in document["copies"]:
        cli.console.print(f"copied to {copy}", markup=False)
    if document["step_summary"]:
        cli.console.print(f"summary appended to {document['step_summary']}", markup=False)
