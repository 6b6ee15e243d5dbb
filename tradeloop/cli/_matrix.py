"""``tradeloop matrix plan | run``: the nightly backtest matrix, sharded across runners.

``matrix_app`` is the command group; other modules (``merge``) register their commands onto it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from tradeloop.cli._checks import check_out_dir, check_positive_seconds
from tradeloop.cli._context import CliContext, get_context

if TYPE_CHECKING:
    from backtest_matrix.matrix import MatrixSpec, Plan
    from gitops import LiveConstants

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
#: ``backtest_matrix.matrix.DEFAULT_MAX_CELLS``, repeated so that --help does not import the engine.
DEFAULT_MAX_CELLS = 100_000

#: The module the matrix's worker processes preload (``backtest_matrix.matrix._runner`` uses the same).
_WORKER_MODULE = "backtest_matrix.matrix._worker"


def _start_forkserver() -> None:
    """Start the workers' forkserver now, so it imports the engine while this process imports it too."""
    import multiprocessing
    from multiprocessing import forkserver

    multiprocessing.get_context("forkserver").set_forkserver_preload([_WORKER_MODULE])
    forkserver.ensure_running()


def _spec_and_constants(cli: CliContext, matrix: Path | None) -> tuple[MatrixSpec, LiveConstants]:
    """The validated matrix (with the live pairs of ``config/constants.py``) and the live constants."""
    from backtest_matrix.matrix import DEFAULT_MATRIX_PATH, load_matrix_spec
    from gitops import load_constants

    constants = load_constants(cli.settings.constants_path)
    spec = load_matrix_spec(matrix or DEFAULT_MATRIX_PATH, live_params=constants.live_params)
    return spec, constants


def _plan(cli: CliContext, spec: MatrixSpec, shards: int, max_cells: int) -> Plan:
    from backtest_matrix.matrix import plan

    return plan(spec, shards, cache_dir=cli.settings.cache_dir.resolve(), max_cells=max_cells)


@matrix_app.command("plan")
def plan_command(
    ctx: typer.Context,
    shards: Annotated[int, typer.Option("--shards", help="How many shards (runners) to deal the cells to.")],
    matrix: MatrixOpt = None,
    max_cells: MaxCellsOpt = DEFAULT_MAX_CELLS,
) -> None:
    """Deal the matrix's cells to N shards balanced by cost; --json prints the GitHub Actions matrix."""
    cli = get_context(ctx)
    spec, _ = _spec_and_constants(cli, matrix)
    planned = _plan(cli, spec, shards, max_cells)
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
    _start_forkserver()
    from backtest_matrix.matrix import RunInfo, parse_shard, run_shard
    from tradeloop import git_sha, new_run_id

    cli = get_context(ctx)
    index, count = parse_shard(shard)
    spec, constants = _spec_and_constants(cli, matrix)
    planned = _plan(cli, spec, count, max_cells)
    info = RunInfo(
        run_id=new_run_id(),
        git_sha=git_sha(cli.settings.repo),
        config_hash=constants.config_hash,
        engine_version=planned.engine_version,
        seed=spec.neighbourhood.seed,
        shard=shard,
        fee_bps=constants.fee_bps,
        slippage_bps=constants.slippage_bps,
        cache_dir=str(cli.settings.cache_dir.resolve()),
    )
    report = run_shard(
        planned, index, count, out, info=info, workers=workers, cell_timeout_s=cell_timeout,
        memory_limit_mb=memory_limit, progress=not cli.json_output and cli.console.is_terminal,
        console=cli.console, echo=_echo(cli),
    )  # fmt: skip
    figures = {k: v for k, v in report.as_dict().items() if k not in ("ok", "errors", "timeouts")}
    counts = {"ok": report.ok, "error": report.errors, "timeout": report.timeouts}
    result = {"ok": True, "run_id": info.run_id, **figures, "counts": counts}
    if cli.json_output:
        cli.emit_json(result)
        return
    cli.console.print(
        f"shard {report.shard}: ran {report.ran} cells in {report.elapsed_s:.1f} s "
        f"({report.cells_per_s:.1f} cells/s on {workers} worker(s)): {report.ok} ok, {report.errors} error, "
        f"{report.timeouts} timeout; log {report.log_path} holds {report.summary.records} of {report.cells}"
    )


def _echo(cli: CliContext) -> Any:
    if cli.json_output:  # stdout carries the JSON document only
        return lambda line: typer.echo(line, err=True)
    return cli.console.print
