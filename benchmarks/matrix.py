"""Matrix benchmark: the default matrix end to end on 2 workers, and what the indicator cache saves.

Run from the repository root::

    .venv/bin/python benchmarks/matrix.py                 # default matrix, 3 repeats
    .venv/bin/python benchmarks/matrix.py --repeats 5 --json benchmarks/results/matrix.json

Figures (each the median of ``--repeats`` runs, each run into a fresh output directory, with the bars'
Parquet cache warm so that data loading is not timed):

- **plan**: ``plan(spec, 1)`` wall time (loads every source from the Parquet cache, draws the neighbourhoods);
- **run**: ``run_shard`` of the whole matrix as one shard on ``--workers`` workers: wall time and cells/s
  (worker start-up included);
- **indicator cache**: cells/s of the same run with the regime labels from the indicator cache (computed
  once per series, shared through Parquet) against recomputing them for every cell; the cache is emptied
  before each cached run, so its runs include the one-off computation and Parquet writes;
- **per-cell cost**: the in-process time of one cell on the smallest and on the largest window, which
  calibrates ``OVERHEAD_BARS`` (fixed cost per backtest, in bar-equivalents).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from backtest_matrix.matrix import (  # noqa: E402 - after the path set-up
    DEFAULT_MATRIX_PATH,
    Plan,
    RunInfo,
    load_matrix_spec,
    plan,
    run_cell,
    run_shard,
    shard_tasks,
)
from gitops import load_constants  # noqa: E402


def timed_run(planned: Plan, info: RunInfo, workers: int, out: Path) -> tuple[float, float]:
    shutil.rmtree(out, ignore_errors=True)
    report = run_shard(planned, 1, 1, out, info=info, workers=workers)
    assert report.ok == report.cells, f"{report.errors} errors, {report.timeouts} timeouts"
    return report.elapsed_s, report.cells_per_s


def per_cell_seconds(planned: Plan, info: RunInfo, window: str, repeats: int = 20) -> float:
    task = next(t for t in shard_tasks(planned, 1) if t.window == window and t.strategy == "ema_cross")
    run_cell(task, info)  # warm: kernels, bars and labels loaded
    started = time.perf_counter()
    for _ in range(repeats):
        run_cell(task, info)
    return (time.perf_counter() - started) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--matrix", type=Path, default=DEFAULT_MATRIX_PATH)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None, help="Also write the figures here.")
    options = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="tradeloop-matrix-bench-"))
    cache = work / "cache"
    constants = load_constants(ROOT / "config" / "constants.py")
    spec = load_matrix_spec(options.matrix, live_params=constants.live_params)
    planned = plan(spec, 1, cache_dir=cache)  # fills the bars' cache
    plan_times = []
    for _ in range(options.repeats):
        started = time.perf_counter()
        planned = plan(spec, 1, cache_dir=cache)
        plan_times.append(time.perf_counter() - started)

    def info(indicator_cache: bool) -> RunInfo:
        return RunInfo(
            run_id="bench", git_sha="bench", config_hash=constants.config_hash,
            engine_version=planned.engine_version, seed=spec.neighbourhood.seed, shard="1/1",
            fee_bps=constants.fee_bps, slippage_bps=constants.slippage_bps, cache_dir=str(cache),
            indicator_cache=indicator_cache,
        )  # fmt: skip

    cached: list[tuple[float, float]] = []
    uncached: list[tuple[float, float]] = []
    for _ in range(options.repeats):  # interleaved, so a noisy neighbour slows both alike
        shutil.rmtree(cache / "indicators", ignore_errors=True)
        cached.append(timed_run(planned, info(True), options.workers, work / "out"))
        uncached.append(timed_run(planned, info(False), options.workers, work / "out"))
    small = min(unit.bars for unit in planned.units)
    large = max(unit.bars for unit in planned.units)
    small_window = next(u.cell.window.name for u in planned.units if u.bars == small)
    large_window = next(u.cell.window.name for u in planned.units if u.bars == large)
    figures: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "load": os.getloadavg()},
        "matrix": str(options.matrix),
        "cells": planned.cells,
        "units": len(planned.units),
        "workers": options.workers,
        "repeats": options.repeats,
        "plan_s": statistics.median(plan_times),
        "run_s": statistics.median(t for t, _ in cached),
        "cells_per_s": statistics.median(rate for _, rate in cached),
        "cells_per_s_without_indicator_cache": statistics.median(rate for _, rate in uncached),
        "run_s_without_indicator_cache": statistics.median(t for t, _ in uncached),
        "per_cell_s_smallest_window": per_cell_seconds(planned, info(True), small_window),
        "per_cell_s_largest_window": per_cell_seconds(planned, info(True), large_window),
        "bars_smallest_window": small,
        "bars_largest_window": large,
    }
    figures["indicator_cache_speedup"] = (
        figures["cells_per_s"] / figures["cells_per_s_without_indicator_cache"]
    )
    per_bar = (figures["per_cell_s_largest_window"] - figures["per_cell_s_smallest_window"]) / (large - small)
    figures["overhead_bars_estimate"] = (
        figures["per_cell_s_smallest_window"] / per_bar - small if per_bar > 0 else None
    )
    shutil.rmtree(work, ignore_errors=True)
    for key, value in figures.items():
        print(f"{key:40s} {value}")
    if options.json:
        options.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
