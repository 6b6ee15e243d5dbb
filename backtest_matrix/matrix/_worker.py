"""The worker process of a shard run: receives batches of cells, runs them, sends records back.

Protocol over one duplex pipe (parent → worker: a list of :class:`CellTask`, or ``None`` to stop;
worker → parent, per cell):

- ``("load", cell_hash)``: loading the cell's bars and regime labels (memoised, so only the first cell of a
  (source, timeframe) in this worker takes long);
- ``("begin", cell_hash)``: the cell's own clock starts (the parent's per-cell timeout);
- ``("record", record)``: the finished record (``ok``, or ``error`` for an exception in the cell);
- ``("idle", None)``: the batch is done.

The memory limit bounds what a cell may add, not the worker's start. The worker first compiles (or loads
from numba's on-disk cache) the kernels every cell runs: numba's first kernel alone reserves about 1 GiB of
address space, and compiling needs more. Only then does it set ``RLIMIT_AS`` to its address space in use
plus the limit. A fixed 2 GiB limit that included the start-up left a cell about 250 MiB and aborted workers
on a cold cache ("LLVM ERROR: Unable to allocate section memory", "cannot allocate memory for thread-local
data").

A :class:`MemoryError` (the address-space limit was hit) is reported as an ``error`` record, then the
worker exits, so that the rest of its batch runs in a fresh process with clean memory. The worker asks
the kernel to SIGKILL it when its parent dies, and exits when the pipe closes, so a killed runner leaves
no orphans.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import resource
import signal
import time
import traceback
from multiprocessing.connection import Connection
from pathlib import Path

import numpy as np
import pandas as pd

from backtest_matrix.matrix._cell import CellTask, RunInfo, failed_record, prepare_cell, run_cell
from backtest_matrix.matrix._faults import inject_fault

__all__ = ["EXIT_MEMORY", "address_space_in_use", "compile_kernels", "worker_main"]

EXIT_MEMORY = 3  # the worker's exit code after a MemoryError
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Linux: SIGKILL this process when its parent exits (best effort elsewhere)."""
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return
    try:
        ctypes.CDLL(libc_name, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        return


def address_space_in_use() -> int:
    """Bytes of address space this process has mapped (Linux ``/proc/self/statm``; 0 where unknown)."""
    try:
        pages = int(Path("/proc/self/statm").read_text(encoding="ascii").split()[0])
    except (OSError, ValueError, IndexError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


def _limit_memory(memory_limit_mb: int | None) -> None:
    """Let the process map at most ``memory_limit_mb`` MiB more than it has mapped now."""
    if memory_limit_mb:
        limit = address_space_in_use() + (memory_limit_mb << 20)
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def compile_kernels() -> list[str]:
    """Run every registered strategy and the regime detector once on a small synthetic series.

    This compiles their numba kernels, or loads them from the on-disk cache. Returns the strategies whose
    warm-up failed; their cells report the error themselves.
    """
    from backtest_matrix.engine import backtest
    from backtest_matrix.regimes import detect_regimes
    from backtest_matrix.strategies import strategy_names

    bars = _warm_up_bars()
    failed = []
    for name in strategy_names():
        try:
            backtest(bars, name)
        except Exception:  # a broken plug-in strategy must not stop the cells of the others
            failed.append(name)
    detect_regimes(bars)
    return failed


def _warm_up_bars(n: int = 160) -> pd.DataFrame:
    """A small, valid daily series with trends both ways (built by hand: the synthetic generator's
    imports alone reserve about 1 GiB of address space)."""
    steps = 0.02 * np.sin(np.arange(n) / 9.0) + 0.01 * np.cos(np.arange(n) * 1.7)
    close = 100.0 * np.exp(np.cumsum(steps))
    open_ = np.concatenate(([100.0], close[:-1]))
    index = pd.date_range("2020-01-01", periods=n, freq="D", tz="UTC", name="timestamp")
    return pd.DataFrame(
        {"open": open_, "high": np.maximum(open_, close) * 1.005, "low": np.minimum(open_, close) * 0.995,
         "close": close, "volume": 1_000.0 + 100.0 * np.abs(np.sin(np.arange(n)))},
        index=index,
    )  # fmt: skip


def worker_main(conn: Connection, info: RunInfo, memory_limit_mb: int | None) -> None:
    """Serve batches from ``conn`` until ``None`` arrives or the parent goes away."""
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    if memory_limit_mb:
        compile_kernels()
    _limit_memory(memory_limit_mb)
    while True:
        try:
            batch = conn.recv()
        except (EOFError, OSError):
            return
        if batch is None:
            return
        for task in batch:
            if not _run_one(conn, task, info, memory_limit_mb):
                conn.close()
                os._exit(EXIT_MEMORY)
        conn.send(("idle", None))


def _run_one(conn: Connection, task: CellTask, info: RunInfo, memory_limit_mb: int | None) -> bool:
    """Run one cell and send its record; False after a MemoryError (the worker must then exit)."""
    started = time.perf_counter()
    try:
        conn.send(("load", task.cell_hash))
        prepare_cell(task, info)
        conn.send(("begin", task.cell_hash))
        started = time.perf_counter()
        if task.fault is not None:
            inject_fault(task.fault)
        record = run_cell(task, info)
    except MemoryError:
        reason = f"memory limit {memory_limit_mb} MiB exceeded (MemoryError)"
        conn.send(("record", failed_record(task, info, "error", reason, time.perf_counter() - started)))
        return False
    except Exception as error:  # a failing cell is recorded, and the worker goes on with the next one
        where = traceback.extract_tb(error.__traceback__)[-1]
        reason = f"{type(error).__name__}: {error} (at {Path(where.filename).name}:{where.lineno})"
        record = failed_record(task, info, "error", reason, time.perf_counter() - started)
    conn.send(("record", record))
    return True
