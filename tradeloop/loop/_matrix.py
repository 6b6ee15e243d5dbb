"""``matrix run`` and ``matrix merge`` as calls: one shard of the nightly matrix, then the merge of the shard
logs into the warehouse, the flags and the nightly report."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tradeloop._settings import Settings
from tradeloop.errors import DataError
from tradeloop.loop._common import QUIET, Feedback, matrix_path

if TYPE_CHECKING:
    from backtest_matrix.matrix import Flag, MatrixSpec, MergeResult, Plan, ShardReport
    from gitops import LiveConstants
    from reports import NightlyReport

__all__ = [
    "DEFAULT_MAX_CELLS",
    "STEP_SUMMARY_ENV",
    "MatrixMerge",
    "MatrixRun",
    "MergeOptions",
    "ShardOptions",
    "matrix_merge",
    "matrix_plan",
    "matrix_run",
    "spec_and_constants",
]

#: ``backtest_matrix.matrix.DEFAULT_MAX_CELLS``, repeated so that ``tradeloop --help`` does not import the
#: engine.
DEFAULT_MAX_CELLS = 100_000
STEP_SUMMARY_ENV = "GITHUB_STEP_SUMMARY"
#: The module the matrix's worker processes preload (``backtest_matrix.matrix._runner`` uses the same).
_WORKER_MODULE = "backtest_matrix.matrix._worker"
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def spec_and_constants(settings: Settings, matrix: Path | None) -> tuple[MatrixSpec, LiveConstants]:
    """The validated matrix (with the live pairs of ``config/constants.py``) and the live constants."""
    from backtest_matrix.matrix import load_matrix_spec
    from gitops import load_constants

    constants = load_constants(settings.constants_path)
    spec = load_matrix_spec(matrix or matrix_path(settings), live_params=constants.live_params)
    return spec, constants


def matrix_plan(
    settings: Settings, spec: MatrixSpec, shards: int, max_cells: int = DEFAULT_MAX_CELLS
) -> Plan:
    """Deal the matrix's cells to ``shards`` shards balanced by cost."""
    from backtest_matrix.matrix import plan

    return plan(spec, shards, cache_dir=settings.cache_dir.resolve(), max_cells=max_cells)


@dataclass(frozen=True)
class ShardOptions:
    """Which shard to run, where its log goes, and how (``tradeloop matrix run``'s options)."""

    shard: str
    out: Path
    workers: int = 2
    matrix: Path | None = None
    cell_timeout: float = 60.0
    memory_limit: int = 2048
    max_cells: int = DEFAULT_MAX_CELLS


@dataclass(frozen=True)
class MatrixRun:
    """One shard run: its run id and the runner's report."""

    run_id: str
    workers: int
    report: ShardReport

    def to_json(self) -> dict[str, Any]:
        """``tradeloop matrix run --json``."""
        report = self.report
        figures = {k: v for k, v in report.as_dict().items() if k not in ("ok", "errors", "timeouts")}
        counts = {"ok": report.ok, "error": report.errors, "timeout": report.timeouts}
        return {"ok": True, "run_id": self.run_id, **figures, "counts": counts}


def _start_forkserver() -> None:
    """Start the workers' forkserver now, so it imports the engine while this process imports it too."""
    import multiprocessing
    from multiprocessing import forkserver

    multiprocessing.get_context("forkserver").set_forkserver_preload([_WORKER_MODULE])
    forkserver.ensure_running()


def matrix_run(settings: Settings, options: ShardOptions, feedback: Feedback = QUIET) -> MatrixRun:
    """Run one shard of the matrix in worker processes; a re-run skips the cells already in its log."""
    _start_forkserver()
    from backtest_matrix.matrix import RunInfo, parse_shard, run_shard
    from tradeloop import git_sha, new_run_id

    index, count = parse_shard(options.shard)
    spec, constants = spec_and_constants(settings, options.matrix)
    planned = matrix_plan(settings, spec, count, options.max_cells)
    info = RunInfo(
        run_id=new_run_id(),
        git_sha=git_sha(settings.repo),
        config_hash=constants.config_hash,
        engine_version=planned.engine_version,
        seed=spec.neighbourhood.seed,
        shard=options.shard,
        fee_bps=constants.fee_bps,
        slippage_bps=constants.slippage_bps,
        cache_dir=str(settings.cache_dir.resolve()),
    )
    terminal = feedback.console is not None and feedback.console.is_terminal  # no bars in a CI log
    report = run_shard(
        planned, index, count, options.out, info=info, workers=options.workers,
        cell_timeout_s=options.cell_timeout, memory_limit_mb=options.memory_limit,
        progress=feedback.shown and terminal,
        console=feedback.console, echo=feedback.echo,
    )  # fmt: skip
    return MatrixRun(info.run_id, options.workers, report)


@dataclass(frozen=True)
class MergeOptions:
    """The shard logs to merge, and the flag thresholds (``tradeloop matrix merge``'s options)."""

    paths: Sequence[Path]
    run_id: str | None = None
    report_dir: Path | None = None
    summary: Path | None = None
    baseline_nights: int = 7
    min_nights: int = 3
    sharpe_drop: float = 0.5
    drift_z: float = 3.5


@dataclass(frozen=True)
class MatrixMerge:
    """The merged logs, what reached the warehouse, the flags and where the nightly report was written."""

    run_id: str
    merged: MergeResult
    warehouse_url: str
    inserted: int
    already_stored: int
    flags: Sequence[Flag]
    report: NightlyReport
    copies: Sequence[Path] = field(default_factory=tuple)
    step_summary: Path | None = None

    def to_json(self) -> dict[str, Any]:
        """``tradeloop matrix merge --json``."""
        return {
            "ok": True,
            "run_id": self.run_id,
            "files": [str(path) for path in self.merged.files],
            "counts": self.merged.counts(),
            "conflicts": self.merged.conflicts,
            "warehouse": {
                "url": self.warehouse_url,
                "inserted": self.inserted,
                "already_stored": self.already_stored,
            },
            "flags": [flag.as_dict() for flag in self.flags],
            "report": str(self.report.html_path),
            "summary": str(self.report.markdown_path),
            "copies": [str(path) for path in self.copies],
            "step_summary": None if self.step_summary is None else str(self.step_summary),
        }


def _owner(given: str | None, merged: MergeResult) -> str:
    """``--run-id``, else the latest run id of the records (shards of one night), else a new one."""
    from tradeloop import new_run_id

    run_id = given or (merged.run_ids[-1] if merged.run_ids else new_run_id())
    if not _RUN_ID.match(run_id):
        raise DataError(
            f"--run-id {run_id!r} is not a run id (letters, digits, '.', '_', '-'; at most 64 characters, "
            "it names the run directory); pass e.g. the id `tradeloop matrix run` printed"
        )
    return run_id


def _shared(merged: MergeResult, key: str) -> str | None:
    values = {str(record[key]) for record in merged.records if record.get(key)}
    return values.pop() if len(values) == 1 else None


def _copy_reports(directory: Path, files: list[Path]) -> list[Path]:
    from tradeloop import atomic_write_bytes

    directory.mkdir(parents=True, exist_ok=True)
    copies = [directory / path.name for path in files]
    for source, target in zip(files, copies, strict=True):
        atomic_write_bytes(target, source.read_bytes())
    return copies


def matrix_merge(settings: Settings, options: MergeOptions) -> MatrixMerge:
    """Merge shard logs, load them into the warehouse, flag cells against past nights, write the report.

    The markdown summary is appended (never written over: other steps write the same file) to
    ``options.summary``, else to ``$GITHUB_STEP_SUMMARY`` when it is set.
    """
    from backtest_matrix.matrix import (
        FlagConfig,
        compute_flags,
        history_from_warehouse,
        load_into_warehouse,
        merge_logs,
    )
    from reports import PLOTLY_ASSET, write_nightly_report
    from tradeloop import git_sha
    from tradeloop._atomic import append_bytes
    from warehouse import get_warehouse

    config = FlagConfig(options.baseline_nights, options.min_nights, options.sharpe_drop, options.drift_z)
    merged = merge_logs(list(options.paths))
    owner = _owner(options.run_id, merged)
    sha = _shared(merged, "git_sha") or git_sha(settings.repo)
    with get_warehouse(settings) as warehouse:
        loaded = load_into_warehouse(
            merged, warehouse, owner, git_sha=sha, config_hash=_shared(merged, "config_hash")
        )
        history = history_from_warehouse(warehouse, merged.records, owner)
        url = warehouse.url
    flags = compute_flags(merged.records, history, config)
    report = write_nightly_report(merged, flags, run_id=owner, run_dir=settings.run_dir(owner))
    # The report draws with the plotly library written beside it: a copy of the report takes it along.
    files = [report.html_path, report.markdown_path, report.html_path.parent / PLOTLY_ASSET]
    copies = _copy_reports(options.report_dir, files) if options.report_dir else []
    step_summary = options.summary or (
        Path(os.environ[STEP_SUMMARY_ENV]) if os.environ.get(STEP_SUMMARY_ENV) else None
    )
    if step_summary is not None:
        append_bytes(step_summary, report.markdown.encode("utf-8"), "cannot append the markdown summary")
    return MatrixMerge(
        run_id=owner, merged=merged, warehouse_url=url, inserted=loaded.inserted,
        already_stored=loaded.already_stored, flags=flags, report=report, copies=copies,
        step_summary=step_summary,
    )  # fmt: skip
