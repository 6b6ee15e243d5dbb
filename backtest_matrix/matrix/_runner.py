"""Run one shard of a plan in isolated worker processes, appending every record to the shard's log.

The parent is the log's only appender. Workers are forked from a ``forkserver`` that has imported the
engine once, so replacing a killed worker is cheap; each takes a batch of cells at a time, under an
address-space limit (``RLIMIT_AS``). The parent enforces the per-cell timeout: a worker past it is
SIGKILLed, the cell is recorded ``timeout``, and the rest of its batch goes back to the front of the queue
for a fresh worker. A worker that dies (its ``MemoryError``, or a kill from outside) gets its cell recorded
``error`` with the reason, and the run goes on.

A re-run resumes: cells whose hash is already in the log are skipped. Results depend only on the cells'
inputs, so any number of shards and workers gives the same records (the order of lines aside).
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import multiprocessing
import signal
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from backtest_matrix.matrix._cell import CellTask, RunInfo, failed_record
from backtest_matrix.matrix._faults import fault_for, read_faults
from backtest_matrix.matrix._log import ResultLog, ResultLogSummary
from backtest_matrix.matrix._plan import Plan
from backtest_matrix.matrix._worker import EXIT_MEMORY, worker_main
from tradeloop._atomic import write_error
from tradeloop._locks import exclusive_lock
from tradeloop.errors import SettingsError, TradeloopError, WriteError

__all__ = [
    "DEFAULT_CELL_TIMEOUT_S",
    "DEFAULT_MEMORY_LIMIT_MB",
    "MatrixRunError",
    "ShardReport",
    "prepare_out_dir",
    "run_shard",
    "shard_lock",
    "shard_log_path",
    "shard_tasks",
]

DEFAULT_CELL_TIMEOUT_S = 60.0
DEFAULT_MEMORY_LIMIT_MB = 2048
#: The clock for loading a (source, timeframe) in a worker: generous, as it may read and check a big file.
_MIN_LOAD_TIMEOUT_S = 300.0
_MAX_BATCH = 32
_POLL_S = 0.5
_MAX_SILENT_DEATHS = 3  # workers that die before saying anything: a broken environment, not a bad cell


class MatrixRunError(TradeloopError):
    """The shard run cannot go on: its worker processes fail before running any cell."""


def shard_log_path(out_dir: Path, shard_index: int, shard_count: int) -> Path:
    """``<out_dir>/shard-<i>-of-<N>.jsonl``."""
    return Path(out_dir) / f"shard-{shard_index}-of-{shard_count}.jsonl"


@dataclass(frozen=True)
class ShardReport:
    """What a shard run did.

    Attributes
    ----------
    log_path
        The shard's JSONL log.
    shard
        ``"i/N"``.
    cells
        Cells in the shard.
    done_before
        Cells already in the log when the run started (skipped).
    ran
        Cells run now; ``ok + errors + timeouts == ran``.
    elapsed_s
        Wall time of the run, from the first worker's start.
    summary
        The log after the run (records, duplicates, corrupt lines, torn tail).
    """

    log_path: Path
    shard: str
    cells: int
    done_before: int
    ran: int
    ok: int
    errors: int
    timeouts: int
    workers: int
    elapsed_s: float
    summary: ResultLogSummary

    @property
    def cells_per_s(self) -> float:
        return self.ran / self.elapsed_s if self.elapsed_s > 0 else math.nan

    def as_dict(self) -> dict[str, Any]:
        values = dataclasses.asdict(self)
        values["log_path"] = str(self.log_path)
        values["cells_per_s"] = self.cells_per_s
        return values


def run_shard(
    plan: Plan,
    shard_index: int,
    shard_count: int,
    out_dir: Path,
    *,
    info: RunInfo,
    workers: int = 2,
    cell_timeout_s: float = DEFAULT_CELL_TIMEOUT_S,
    memory_limit_mb: int | None = DEFAULT_MEMORY_LIMIT_MB,
    progress: bool = False,
    console: Console | None = None,
    echo: Callable[[str], None] | None = None,
) -> ShardReport:
    """Run the cells of shard ``shard_index`` of ``plan`` that its log does not hold yet.

    Parameters
    ----------
    plan
        The plan, made with ``shard_count`` shards.
    shard_index, shard_count
        Which shard (1-based) of how many.
    out_dir
        Where the shard's log ``shard-<i>-of-<N>.jsonl`` lives (created when missing).
    info
        What every record shares (run id, git sha, config hash, engine version, seed, fees, cache dir);
        its ``shard`` is set here.
    workers
        Worker processes (>= 1).
    cell_timeout_s
        A cell still running after this many seconds is killed and recorded ``timeout``.
    memory_limit_mb
        Address space a cell may add to its worker, in MiB: each worker sets ``RLIMIT_AS`` to what it has
        mapped after loading the kernels plus this; None or 0 for none.
    progress
        Show a rich progress bar on ``console``.
    echo
        Receives the line ``"done X, remaining Y"`` before any work.

    Returns
    -------
    ShardReport

    Raises
    ------
    SettingsError
        A shard, worker count, timeout or memory limit out of range, or a bad ``TRADELOOP_MATRIX_FAULTS``.
    WriteError
        ``out_dir`` cannot be a directory, or a record cannot be appended to the log (disk full, file-size
        limit): the run stops at once, naming the log and the cause.
    LockError
        Another run is writing the same shard log.
    MatrixRunError
        Workers die before running any cell, or the log lacks cells of the shard after the run.
    """
    _check_arguments(plan, shard_index, shard_count, workers, cell_timeout_s, memory_limit_mb)
    label = f"{shard_index}/{shard_count}"
    info = dataclasses.replace(info, shard=label)
    log = ResultLog(shard_log_path(prepare_out_dir(out_dir), shard_index, shard_count))
    tasks = shard_tasks(plan, shard_index, read_faults())
    with shard_lock(log.path):
        done = log.done_cell_hashes()
        todo = [task for task in tasks if task.cell_hash not in done]
        done_before = len(tasks) - len(todo)
        if echo is not None:
            echo(f"done {done_before}, remaining {len(todo)}")
        started = time.perf_counter()
        pool = _Pool(info, workers, cell_timeout_s, memory_limit_mb or None, log)
        with Progress(
            TextColumn(f"matrix {label}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=console, disable=not progress, transient=True,
        ) as bar:  # fmt: skip
            task_id = bar.add_task("cells", total=len(todo))
            pool.on_record = lambda _record: bar.advance(task_id)
            pool.run(todo)
        summary = _check_complete(log, tasks)
    counts = pool.counts
    return ShardReport(
        log_path=log.path,
        shard=label,
        cells=len(tasks),
        done_before=done_before,
        ran=sum(counts.values()),
        ok=counts["ok"],
        errors=counts["error"],
        timeouts=counts["timeout"],
        workers=pool.used_workers,
        elapsed_s=time.perf_counter() - started,
        summary=summary,
    )


def prepare_out_dir(out_dir: Path) -> Path:
    """Create the shard logs' directory; a path that cannot be one is refused before any work starts."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise WriteError(f"--out {out_dir}: is a file, not a directory; name a directory for the shard logs")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(out_dir, exc, "cannot create the shard logs' directory (--out)") from None
    return out_dir


def shard_lock(log_path: Path) -> contextlib.AbstractContextManager[None]:
    """The one-writer lock of a shard log: a second run of the same shard into the same folder is refused."""
    return exclusive_lock(
        log_path.parent / f".{log_path.name}.run.lock",
        f"matrix run: shard log {log_path} is being written by another run",
        fix="wait for it to finish (a re-run then resumes), or write this run's logs to another --out",
    )


def _check_complete(log: ResultLog, tasks: list[CellTask]) -> ResultLogSummary:
    """The log's summary once the run is over; every cell of the shard must be in it."""
    summary = log.summary()
    held = log.done_cell_hashes()
    missing = [task for task in tasks if task.cell_hash not in held]
    if missing:
        raise MatrixRunError(
            f"{log.path}: holds {len(tasks) - len(missing)} of the shard's {len(tasks)} cells after the run "
            f"(first missing: {missing[0].strategy}/{missing[0].symbol}/{missing[0].window}/"
            f"{missing[0].param_set}); run the same command again to run the missing cells"
        )
    return summary


def _check_arguments(
    plan: Plan,
    shard_index: int,
    shard_count: int,
    workers: int,
    cell_timeout_s: float,
    memory_limit_mb: int | None,
) -> None:
    if shard_count != plan.shards or not 1 <= shard_index <= shard_count:
        raise SettingsError(
            f"--shard {shard_index}/{shard_count} does not fit the plan of {plan.shards} shard(s); "
            f"use 1/{plan.shards} … {plan.shards}/{plan.shards}"
        )
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise SettingsError(f"--workers must be a whole number >= 1, got {workers!r}")
    if not (isinstance(cell_timeout_s, int | float) and math.isfinite(cell_timeout_s) and cell_timeout_s > 0):
        raise SettingsError(f"--cell-timeout must be a number of seconds > 0, got {cell_timeout_s!r}")
    if memory_limit_mb is not None and (not isinstance(memory_limit_mb, int) or memory_limit_mb < 0):
        raise SettingsError(
            f"--memory-limit must be a whole number of MiB >= 0 (0: none), got {memory_limit_mb!r}"
        )


def shard_tasks(plan: Plan, shard_index: int, faults: dict[str, str] | None = None) -> list[CellTask]:
    """The cells of one shard as worker tasks, in matrix order, with any injected fault attached."""
    faults = faults or {}
    tasks = []
    for unit in plan.shard(shard_index):
        cell = unit.cell
        for planned in unit.cells:
            fault = fault_for(
                faults, planned.cell_hash, cell.strategy, cell.symbol, cell.window.name, planned.param_set
            )
            tasks.append(
                CellTask(
                    cell_hash=planned.cell_hash, strategy=cell.strategy, symbol=cell.symbol,
                    source=cell.source, timeframe=cell.timeframe, window=cell.window.name,
                    window_days=cell.window.days, param_set=planned.param_set, params=dict(planned.params),
                    data_hash=unit.data_hash, window_start=unit.window_start, window_end=unit.window_end,
                    bars=unit.bars, fault=fault,
                )
            )  # fmt: skip
    return tasks


def _batches(tasks: list[CellTask], workers: int) -> Iterable[list[CellTask]]:
    size = max(1, min(_MAX_BATCH, math.ceil(len(tasks) / (workers * 4))))
    return (tasks[i : i + size] for i in range(0, len(tasks), size))


def _context() -> multiprocessing.context.ForkServerContext:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["backtest_matrix.matrix._worker"])
    return context


@dataclass
class _Slot:
    """One worker process and the batch it holds (the tasks not yet recorded)."""

    process: BaseProcess
    conn: Connection
    batch: list[CellTask] = field(default_factory=list)
    current: CellTask | None = None
    phase: str = "idle"
    since: float = 0.0
    spoke: bool = False  # whether the worker has sent anything yet
    busy: bool = False  # from handing it a batch until its "idle" (its batch may be empty before that)


class _Pool:
    def __init__(
        self, info: RunInfo, workers: int, cell_timeout_s: float, memory_limit_mb: int | None, log: ResultLog
    ) -> None:
        self.info = info
        self.workers = workers
        self.cell_timeout_s = float(cell_timeout_s)
        self.load_timeout_s = max(_MIN_LOAD_TIMEOUT_S, 5 * self.cell_timeout_s)
        self.memory_limit_mb = memory_limit_mb
        self.log = log
        self.slots: list[_Slot] = []
        self.queue: deque[list[CellTask]] = deque()
        self.counts = {"ok": 0, "error": 0, "timeout": 0}
        self.used_workers = 0
        self.silent_deaths = 0
        self.on_record: Callable[[dict[str, Any]], None] = lambda _record: None

    def run(self, tasks: list[CellTask]) -> None:
        self.queue.extend(_batches(tasks, self.workers))
        try:
            while self.queue or any(slot.busy for slot in self.slots):
                self._feed()
                self._wait()
                self._enforce_timeouts()
            for slot in self.slots:
                slot.conn.send(None)
        finally:
            for slot in self.slots:
                self._stop(slot)

    # -- workers ---------------------------------------------------------------------------------------

    def _start(self) -> _Slot:
        parent_end, child_end = multiprocessing.Pipe(duplex=True)
        process = _context().Process(
            target=worker_main, args=(child_end, self.info, self.memory_limit_mb), daemon=True
        )
        process.start()
        child_end.close()
        self.used_workers += 1
        return _Slot(process, parent_end)

    def _stop(self, slot: _Slot) -> None:
        if slot.process.is_alive():
            slot.process.join(timeout=2.0)
        if slot.process.is_alive():
            slot.process.kill()
        slot.process.join()
        slot.conn.close()

    def _feed(self) -> None:
        """Give every idle worker a batch, starting workers up to the limit."""
        for slot in self.slots:
            if not slot.busy and self.queue:
                self._assign(slot, self.queue.popleft())
        while self.queue and len(self.slots) < self.workers:
            slot = self._start()
            self.slots.append(slot)
            self._assign(slot, self.queue.popleft())

    def _assign(self, slot: _Slot, batch: list[CellTask]) -> None:
        slot.batch, slot.busy = list(batch), True
        slot.current, slot.phase, slot.since = None, "load", time.monotonic()
        slot.conn.send(batch)

    # -- messages --------------------------------------------------------------------------------------

    def _wait(self) -> None:
        busy = [slot for slot in self.slots if slot.busy]
        handles: list[Any] = [slot.conn for slot in busy] + [slot.process.sentinel for slot in busy]
        ready = set(wait(handles, timeout=self._time_to_next_deadline()))
        for slot in busy:
            if slot.conn in ready:
                self._drain(slot)
            if slot.process.sentinel in ready or not slot.process.is_alive():
                self._drain(slot)
                self._on_death(slot)

    def _drain(self, slot: _Slot) -> None:
        while True:
            try:
                if not slot.conn.poll():
                    return
                message = slot.conn.recv()
            except (EOFError, OSError):  # the worker's end of the pipe closed: _on_death records its cell
                return
            self._handle(slot, *message)  # a record that cannot be appended stops the run (WriteError)

    def _handle(self, slot: _Slot, kind: str, payload: Any) -> None:
        now = time.monotonic()
        slot.spoke, self.silent_deaths = True, 0
        if kind in ("load", "begin"):
            slot.current = next(task for task in slot.batch if task.cell_hash == payload)
            slot.phase, slot.since = kind, now
        elif kind == "record":
            slot.batch = [task for task in slot.batch if task.cell_hash != payload["cell_hash"]]
            slot.current, slot.phase, slot.since = None, "load", now
            self._record(payload)
        elif kind == "idle":
            slot.batch, slot.current, slot.phase, slot.busy = [], None, "idle", False

    def _record(self, record: dict[str, Any]) -> None:
        self.log.append(record)
        self.counts[record["status"]] += 1
        self.on_record(record)

    # -- failures --------------------------------------------------------------------------------------

    def _time_to_next_deadline(self) -> float:
        now = time.monotonic()
        deadlines = [self._deadline(slot) - now for slot in self.slots if slot.busy]
        return max(0.0, min([_POLL_S, *deadlines]))

    def _deadline(self, slot: _Slot) -> float:
        return slot.since + (self.cell_timeout_s if slot.phase == "begin" else self.load_timeout_s)

    def _enforce_timeouts(self) -> None:
        now = time.monotonic()
        for slot in list(self.slots):
            if not slot.busy or now < self._deadline(slot):
                continue
            slot.process.kill()
            slot.process.join()
            self._drain(slot)  # a record sent just before the kill still counts
            if slot.current is not None and slot.batch and now >= self._deadline(slot):
                limit = self.cell_timeout_s if slot.phase == "begin" else self.load_timeout_s
                what = "timeout" if slot.phase == "begin" else "timeout while loading its data"
                self._fail(slot, "timeout", f"killed after {limit:g} s {what}", now - slot.since)
            self._replace(slot)

    def _on_death(self, slot: _Slot) -> None:
        if not slot.batch:
            self._replace(slot)
            return
        code = slot.process.exitcode
        if not slot.spoke:
            self.silent_deaths += 1
            if self.silent_deaths >= _MAX_SILENT_DEATHS:
                raise MatrixRunError(
                    f"matrix workers die before running any cell ({self.silent_deaths} in a row, last "
                    f"{_death_reason(code)}); run one cell by hand with `tradeloop backtest` to see why"
                )
        if code != EXIT_MEMORY:
            if slot.current is None:
                slot.current = slot.batch[0]  # it died before announcing the cell it was starting
            self._fail(slot, "error", _death_reason(code), time.monotonic() - slot.since)
        self._replace(slot)

    def _fail(self, slot: _Slot, status: str, reason: str, elapsed_s: float) -> None:
        task = slot.current
        assert task is not None
        slot.batch = [other for other in slot.batch if other.cell_hash != task.cell_hash]
        slot.current = None
        self._record(failed_record(task, self.info, status, reason, elapsed_s))

    def _replace(self, slot: _Slot) -> None:
        """Retire a dead or killed worker; the rest of its batch goes back to the front of the queue."""
        if slot.batch:
            self.queue.appendleft(slot.batch)
        slot.batch = []
        self.slots.remove(slot)
        self._stop(slot)


def _death_reason(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        name = signal.Signals(-exitcode).name
        return (
            f"worker process killed by {name} while running the cell "
            "(the OS kills the largest process when out of memory)"
        )
    return f"worker process exited with code {exitcode} while running the cell"
