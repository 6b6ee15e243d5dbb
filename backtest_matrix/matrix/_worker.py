"""The worker process of a shard run: receives batches of cells, runs them, sends records back.

Protocol over one duplex pipe (parent → worker: a list of :class:`CellTask`, or ``None`` to stop;
worker → parent, per cell):

- ``("load", cell_hash)``: loading the cell's bars and regime labels (memoised, so only the first cell of a
  (source, timeframe) in this worker takes long);
- ``("begin", cell_hash)``: the cell's own clock starts (the parent's per-cell timeout);
- ``("record", record)``: the finished record (``ok``, or ``error`` for an exception in the cell);
- ``("idle", None)``: the batch is done.

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

from backtest_matrix.matrix._cell import CellTask, RunInfo, failed_record, prepare_cell, run_cell
from backtest_matrix.matrix._faults import inject_fault

__all__ = ["EXIT_MEMORY", "worker_main"]

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


def _limit_memory(memory_limit_mb: int | None) -> None:
    if memory_limit_mb:
        limit = memory_limit_mb << 20
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def worker_main(conn: Connection, info: RunInfo, memory_limit_mb: int | None) -> None:
    """Serve batches from ``conn`` until ``None`` arrives or the parent goes away."""
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
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
