"""``tradeloop matrix merge``: merge shard logs, load the warehouse, flag cells, write the nightly report."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from tradeloop.cli._context import CliContext, get_context
from tradeloop.errors import DataError

if TYPE_CHECKING:
    from backtest_matrix.matrix import MergeResult

__all__ = ["merge"]

STEP_SUMMARY_ENV = "GITHUB_STEP_SUMMARY"
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def _run_id(given: str | None, merge: MergeResult) -> str:
    """``--run-id``, else the latest run id of the records (shards of one night), else a new one."""
    from tradeloop import new_run_id

    run_id = given or (merge.run_ids[-1] if merge.run_ids else new_run_id())
    if not _RUN_ID.match(run_id):
        raise DataError(
            f"--run-id {run_id!r} is not a run id (letters, digits, '.', '_', '-'; at most 64 characters, "
            "it names the run directory); pass e.g. the id `tradeloop matrix run` printed"
        )
    return run_id


def _shared(merge: MergeResult, field: str) -> str | None:
    values = {str(record[field]) for record in merge.records if record.get(field)}
    return values.pop() if len(values) == 1 else None


def _append_summary(path: Path, markdown: str) -> None:
    """Append (never replace): other steps write the same step summary file; a failed append is an error."""
    from tradeloop._atomic import append_bytes

    append_bytes(path, markdown.encode("utf-8"), "cannot append the markdown summary")


def _copy_reports(directory: Path, files: list[Path]) -> list[Path]:
    from tradeloop import atomic_write_bytes

    directory.mkdir(parents=True, exist_ok=True)
    copies = [directory / path.name for path in files]
    for source, target in zip(files, copies, strict=True):
        atomic_write_bytes(target, source.read_bytes())
    return copies


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
    from backtest_matrix.matrix import (
        FlagConfig,
        compute_flags,
        history_from_warehouse,
        load_into_warehouse,
        merge_logs,
    )
    from reports import write_nightly_report
    from tradeloop import git_sha
    from warehouse import get_warehouse

    cli = get_context(ctx)
    config = FlagConfig(baseline_nights, min_nights, sharpe_drop, drift_z)
    merged = merge_logs(paths)
    owner = _run_id(run_id, merged)
    sha = _shared(merged, "git_sha") or git_sha(cli.settings.repo)
    with get_warehouse(cli.settings) as warehouse:
        loaded = load_into_warehouse(
            merged, warehouse, owner, git_sha=sha, config_hash=_shared(merged, "config_hash")
        )
        history = history_from_warehouse(warehouse, merged.records, owner)
        url = warehouse.url
    flags = compute_flags(merged.records, history, config)
    report = write_nightly_report(merged, flags, run_id=owner, run_dir=cli.settings.run_dir(owner))
    copies = _copy_reports(report_dir, [report.html_path, report.markdown_path]) if report_dir else []
    step_summary = summary or (
        Path(os.environ[STEP_SUMMARY_ENV]) if os.environ.get(STEP_SUMMARY_ENV) else None
    )
    if step_summary is not None:
        _append_summary(step_summary, report.markdown)
    result: dict[str, Any] = {
        "ok": True,
        "run_id": owner,
        "files": [str(path) for path in merged.files],
        "counts": merged.counts(),
        "conflicts": merged.conflicts,
        "warehouse": {"url": url, "inserted": loaded.inserted, "already_stored": loaded.already_stored},
        "flags": [flag.as_dict() for flag in flags],
        "report": str(report.html_path),
        "summary": str(report.markdown_path),
        "copies": [str(path) for path in copies],
        "step_summary": None if step_summary is None else str(step_summary),
    }
    if cli.json_output:
        cli.emit_json(result)
        return
    _print(cli, result)


def _print(cli: CliContext, result: dict[str, Any]) -> None:
    counts = result["counts"]
    table = Table(*counts, "flags", title=f"matrix run {result['run_id']}")
    table.add_row(*(f"{value:,}" for value in counts.values()), str(len(result["flags"])))
    cli.console.print(table)
    for flag in result["flags"]:
        cli.console.print(flag["message"], markup=False)
    stored = result["warehouse"]
    cli.console.print(
        f"warehouse {stored['url']}: {stored['inserted']} new rows, {stored['already_stored']} already stored"
    )
    cli.console.print(f"report: {result['report']}", markup=False)
    cli.console.print(f"summary: {result['summary']}", markup=False)
    for copy in result["copies"]:
        cli.console.print(f"copied to {copy}", markup=False)
    if result["step_summary"]:
        cli.console.print(f"summary appended to {result['step_summary']}", markup=False)
