"""The batch sweep kernel: many parameter combinations, one pass over the bars each, in parallel.

Combinations are grouped by their strategy parameters, so a group's signals are computed once and shared
by all its risk settings (stop-loss, targets, sizing); so are the scans for the next acting signal that
let the row kernel (``_simulate_row_nb``) skip quiet bars. A task's rows hold their positions 8 at a time
on SIMD lanes (``_simulate_lanes_nb``); a row alone in its group runs the row kernel block of bars by
block of bars. Memory is O(combinations + threads × bars): the per-bar buffers
are the packed bars, shared, and one signal and one scan buffer per running task.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numba import njit, prange, types

from backtest_matrix.engine._hold_nb import next_day_nb, signal_scans_nb
from backtest_matrix.engine._lanes_nb import bar_columns
from backtest_matrix.engine._layout import N_KPIS
from backtest_matrix.engine._signals import SIGNALS_FUNCTION_TYPE
from backtest_matrix.engine._simulate_lanes_nb import simulate_lanes_nb
from backtest_matrix.engine._simulate_row_nb import simulate_rows_nb

__all__ = ["BLOCK_BARS", "group_signals_nb", "sweep_nb"]

# Bars per block of simulate_rows_nb: the block's bars (32 bytes each, packed), signals and scans
# (~50 bytes per bar in all) stay in the core's 1 MiB L2 cache while a task's rows pass them.
BLOCK_BARS = 4096

_f8 = types.float64[::1]
_f8_2d = types.float64[:, ::1]
_i8 = types.int64[::1]
_b1 = types.boolean[::1]


@njit(
    _f8_2d(
        _i8,
        _b1,
        _f8,
        _f8,
        _f8,
        _f8,
        _f8,
        _f8_2d,
        types.int64[:, ::1],
        _f8_2d,
        _f8,
        SIGNALS_FUNCTION_TYPE,
        types.int64,
    ),
    parallel=True,
    cache=True,
)
def sweep_nb(
    ts: np.ndarray,
    new_day: np.ndarray,
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    volume: np.ndarray,
    group_params: np.ndarray,
    tasks: np.ndarray,
    risk: np.ndarray,
    cfg: np.ndarray,
    signals_fn: Callable[..., None],
    threads: int,
) -> np.ndarray:
    """KPIs (rows of ``KPI_NAMES``) for each row of ``risk``, on ``threads`` threads.

    Each task ``(g, start, stop)`` runs rows ``start:stop`` of ``risk``, which share the strategy
    parameters ``group_params[g]``. A large group is split into several tasks, so that threads stay
    balanced when few groups have many rows; each task computes its group's signals itself.
    """
    n = close.shape[0]
    out = np.empty((risk.shape[0], N_KPIS))
    next_day = next_day_nb(new_day)
    bars = np.empty((n, 4))
    bars[:, 0] = open_
    bars[:, 1] = high
    bars[:, 2] = low
    bars[:, 3] = close
    cols = bar_columns(open_, high, low, close)
    # The lanes' one-comparison stop tests hold for finite prices; others take the row-by-row kernel.
    finite = np.isfinite(cols).all()
    # One worker per thread, each with its own signal and scan buffers for all its tasks: a buffer per task
    # (4.4 MB at 210,240 bars) cost a fresh allocation and its page faults for every task.
    workers = max(1, min(threads, tasks.shape[0]))
    per_worker = -(-tasks.shape[0] // workers)
    for worker in prange(workers):
        flags = np.empty(n, np.int8)
        stop_frac = np.empty(n)
        scans = np.empty((3, n + 1), np.int32)
        no_scans = np.empty((3, 0), np.int32)
        for task in range(worker * per_worker, min(tasks.shape[0], (worker + 1) * per_worker)):
            signals_fn(ts, open_, high, low, close, volume, group_params[tasks[task, 0]], flags, stop_frac)
            start, stop = tasks[task, 1], tasks[task, 2]
            # A scan pass pays off when rows share it; a lone row finds its next acting bar as it goes.
            task_scans = scans if stop - start > 1 else no_scans
            if stop - start > 1:
                signal_scans_nb(flags, cfg, scans)
            if stop - start > 1 and finite:
                simulate_lanes_nb(
                    bars, cols, new_day, next_day, flags, stop_frac, scans, risk[start:stop], cfg,
                    out[start:stop],
                )  # fmt: skip
            else:
                simulate_rows_nb(
                    bars, new_day, next_day, flags, stop_frac, task_scans, risk[start:stop], cfg,
                    out[start:stop], BLOCK_BARS,
                )  # fmt: skip
    return out


@njit(
    types.void(_i8, _f8, _f8, _f8, _f8, _f8, _f8_2d, types.int8[:, ::1], _f8_2d, SIGNALS_FUNCTION_TYPE),
    parallel=True,
    cache=True,
)
def group_signals_nb(
    ts: np.ndarray,
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    volume: np.ndarray,
    group_params: np.ndarray,
    flags: np.ndarray,
    stop_frac: np.ndarray,
    signals_fn: Callable[..., None],
) -> None:
    """Every group's signals into its row of ``flags`` and ``stop_frac`` (the GPU sweep's host side)."""
    for g in prange(group_params.shape[0]):
        signals_fn(ts, open_, high, low, close, volume, group_params[g], flags[g], stop_frac[g])
