"""Merge the shard logs of a matrix run, and load the merged records into the warehouse.

Each shard writes its own append-only log (:class:`~backtest_matrix.matrix.ResultLog`). The merge reads them
all tolerantly (a torn tail is skipped, corrupt interior lines are counted), keeps the first record of each
``cell_hash`` in path order, and counts a *conflict* when a later record of the same hash carries a different
outcome (status, error or KPIs): a cell is a pure function of its hash, so that means a nondeterministic
engine or a hand-edited log. The merged records are sorted by their cell key, so the merge of the same cells
is the same whatever the number of shards or workers.

The warehouse row of a record (:func:`warehouse_row`) takes the fields the ``backtest_results`` table has;
the rest of the record that later stages need goes into ``kpis`` under keys starting with ``_``
(contract 1: ``_regime_kpis``, ``_regime``, ``_param_set``, ``_window_start``, ``_window_end``; also
``_regime_confidence``, ``_source``, ``_bars`` and ``_engine_version``). The equity curve is not stored.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backtest_matrix.matrix._log import ResultLog, ResultLogSummary
from tradeloop._provenance import canonical_json
from tradeloop.errors import DataError
from warehouse import Warehouse

__all__ = [
    "EXTRA_KPI_FIELDS",
    "LoadResult",
    "MergeResult",
    "find_logs",
    "load_into_warehouse",
    "merge_logs",
    "record_from_row",
    "record_sort_key",
    "unique_run_id",
    "warehouse_row",
]

STATUSES = ("ok", "error", "timeout")

#: Record field -> the ``kpis`` key it is stored under in the warehouse.
EXTRA_KPI_FIELDS: dict[str, str] = {
    "regime_kpis": "_regime_kpis",
    "regime": "_regime",
    "param_set": "_param_set",
    "window_start": "_window_start",
    "window_end": "_window_end",
    "regime_confidence": "_regime_confidence",
    "source": "_source",
    "bars": "_bars",
    "engine_version": "_engine_version",
}
_ROW_FIELDS = (
    "cell_hash",
    "strategy",
    "symbol",
    "timeframe",
    "window",
    "params",
    "seed",
    "status",
    "error",
    "git_sha",
    "config_hash",
    "data_hash",
)
_REQUIRED = ("strategy", "symbol", "timeframe", "window", "params", "status")


@dataclass(frozen=True)
class MergeResult:
    """The merged records of many shard logs and what the merge found.

    Attributes
    ----------
    records
        One record per ``cell_hash`` (the first seen, files in the given order), sorted by
        :func:`record_sort_key`.
    files
        The logs read, in order.
    logs
        The tolerant-read summary of each log (records, in-file duplicates, corrupt lines, torn tail).
    duplicates
        Records skipped because an earlier record had the same hash and the same outcome (in-file
        duplicates included).
    conflicts
        The hashes seen again with a *different* outcome (status, error or KPIs); the first record is kept.
    status_counts
        Merged records per status (``ok``, ``error``, ``timeout``; every key present).
    """

    records: list[dict[str, Any]]
    files: list[Path]
    logs: dict[Path, ResultLogSummary]
    duplicates: int
    conflicts: list[str]
    status_counts: dict[str, int]

    @property
    def corrupt_lines(self) -> int:
        """Corrupt interior lines over all logs (skipped)."""
        return sum(summary.corrupt for summary in self.logs.values())

    @property
    def torn_tails(self) -> int:
        """Logs ending in a partial line left by a killed writer (skipped)."""
        return sum(summary.torn_tail for summary in self.logs.values())

    @property
    def run_ids(self) -> list[str]:
        """The distinct ``run_id`` values of the records, sorted."""
        return sorted({str(record["run_id"]) for record in self.records if record.get("run_id")})

    def counts(self) -> dict[str, Any]:
        """The figures of the merge as plain JSON values."""
        return {
            "files": len(self.files),
            "cells": len(self.records),
            **self.status_counts,
            "duplicates": self.duplicates,
            "conflicts": len(self.conflicts),
            "corrupt_lines": self.corrupt_lines,
            "torn_tails": self.torn_tails,
        }


@dataclass(frozen=True)
class LoadResult:
    """What :func:`load_into_warehouse` did: the run and how many rows were new or already stored."""

    run_id: str
    inserted: int
    already_stored: int
    notes: str = field(default="")


def find_logs(paths: Iterable[Path | str]) -> list[Path]:
    """The ``.jsonl`` logs named by ``paths``: files as given, directories expanded to their ``*.jsonl``.

    Raises
    ------
    DataError
        A path does not exist, or no log was found at all.
    """
    found: list[Path] = []
    given = [Path(path) for path in paths]
    for path in given:
        if path.is_dir():
            found.extend(sorted(path.glob("*.jsonl")))
        elif path.is_file():
            found.append(path)
        else:
            raise DataError(
                f"matrix merge: {path} does not exist; pass shard log directories or .jsonl files"
            )
    unique = list(dict.fromkeys(found))
    if not unique:
        shown = ", ".join(str(path) for path in given) or "(nothing)"
        raise DataError(
            f"matrix merge: no *.jsonl result log in {shown}; pass the --out directories of "
            "`tradeloop matrix run` or the log files"
        )
    return unique


def _check_readable(log: ResultLog, summary: ResultLogSummary) -> None:
    """A log whose complete lines are all corrupt is not a result log: refuse it, not merge 0 cells."""
    if summary.corrupt and not summary.records and not summary.duplicates:
        log.read(strict=True)  # raises, naming the file, the first bad line and the fix


def record_sort_key(record: Mapping[str, Any]) -> tuple[str, ...]:
    """Strategy, symbol, timeframe, window, param set, then the hash: a stable order for merged records."""
    return tuple(
        str(record.get(name) or "")
        for name in ("strategy", "symbol", "timeframe", "window", "param_set", "cell_hash")
    )


def _outcome(record: Mapping[str, Any]) -> str:
    return canonical_json([record.get("status"), record.get("error"), record.get("kpis")])


def merge_logs(paths: Iterable[Path | str]) -> MergeResult:
    """Read many shard logs and deduplicate their records by ``cell_hash``.

    Parameters
    ----------
    paths
        Log files and/or directories (every ``*.jsonl`` inside, sorted by name).

    Returns
    -------
    MergeResult
        Records, per-log summaries, duplicates, conflicts and status counts.

    Raises
    ------
    DataError
        A path is missing, no log was found, a log holds only corrupt lines, no log holds any record, or a
        record lacks a field the merge needs (named with its file).
    """
    files = find_logs(paths)
    first: dict[str, dict[str, Any]] = {}
    outcomes: dict[str, str] = {}
    logs: dict[Path, ResultLogSummary] = {}
    duplicates = 0
    conflicts: list[str] = []
    for path in files:
        log = ResultLog(path)
        logs[path] = log.summary()
        _check_readable(log, logs[path])
        duplicates += logs[path].duplicates
        for record in log.read():
            _check_record(record, path)
            key = record["cell_hash"]
            if key not in first:
                first[key] = record
                outcomes[key] = _outcome(record)
            elif outcomes[key] == _outcome(record):
                duplicates += 1
            elif key not in conflicts:
                conflicts.append(key)
    records = sorted(first.values(), key=record_sort_key)
    if not records:
        raise DataError(
            f"matrix merge: the {len(files)} log(s) ({', '.join(str(f) for f in files)}) hold no result "
            "record; run `tradeloop matrix run` into them first, or pass the right directories"
        )
    counts = Counter(str(record["status"]) for record in records)
    return MergeResult(
        records=records,
        files=files,
        logs=logs,
        duplicates=duplicates,
        conflicts=conflicts,
        status_counts={status: counts.get(status, 0) for status in STATUSES},
    )


def _check_record(record: Mapping[str, Any], path: Path) -> None:
    missing = [name for name in _REQUIRED if record.get(name) is None]
    if missing:
        raise DataError(
            f"{path}: record {record['cell_hash']!r} has no {', '.join(missing)}; result records need "
            f"{', '.join(_REQUIRED)} (contract 1); re-run the shard with `tradeloop matrix run`"
        )
    if record["status"] not in STATUSES:
        raise DataError(
            f"{path}: record {record['cell_hash']!r} has status {record['status']!r}; expected one of "
            f"{list(STATUSES)}; fix the line or re-run the shard"
        )


def warehouse_row(record: Mapping[str, Any], run_id: str) -> dict[str, Any]:
    """The ``backtest_results`` row of a result record (see the module docstring for ``kpis``)."""
    row = {name: record.get(name) for name in _ROW_FIELDS}
    kpis = dict(record.get("kpis") or {})
    for name, key in EXTRA_KPI_FIELDS.items():
        if record.get(name) is not None:
            kpis[key] = record[name]
    row["kpis"] = kpis
    row["run_id"] = run_id
    return row


def record_from_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """The record fields a warehouse row keeps: the inverse of :func:`warehouse_row` (equity excluded)."""
    stored = dict(row.get("kpis") or {})
    record = {name: row.get(name) for name in (*_ROW_FIELDS, "run_id")}
    for name, key in EXTRA_KPI_FIELDS.items():
        record[name] = stored.pop(key, None)
    record["kpis"] = stored
    return record


def load_into_warehouse(
    merge: MergeResult,
    warehouse: Warehouse,
    run_id: str,
    *,
    git_sha: str,
    config_hash: str | None = None,
    seed: int | None = None,
) -> LoadResult:
    """Record a ``matrix`` run and store its merged records; running it again changes nothing.

    The run is started (or resumed: same ``run_id``), every record is stored under ``run_id`` (a record
    whose ``cell_hash`` is already stored, by this or an earlier run, is skipped) and the run is finished
    as ``ok`` with the counts in its notes. Failed cells are results too: a run whose cells failed still
    finished.

    Parameters
    ----------
    merge
        The merged records.
    warehouse
        The results store.
    run_id
        The experiment run that owns the rows (normally the matrix run id the shards share).
    git_sha, config_hash, seed
        Provenance of the run row.
    """
    seeds = {record.get("seed") for record in merge.records} - {None}
    warehouse.start_run(
        "matrix",
        git_sha=git_sha,
        run_id=run_id,
        config_hash=config_hash,
        seed=seed if seed is not None else (seeds.pop() if len(seeds) == 1 else None),
        params={"files": [str(path) for path in merge.files]},
        resume=True,
    )
    inserted = warehouse.add_backtest_results(warehouse_row(record, run_id) for record in merge.records)
    notes = " ".join(f"{name}={value}" for name, value in merge.counts().items())
    warehouse.finish_run(run_id, "ok", notes=notes)
    return LoadResult(
        run_id=run_id, inserted=inserted, already_stored=len(merge.records) - inserted, notes=notes
    )


def unique_run_id(merge: MergeResult) -> str | None:
    """The records' shared ``run_id``, or None when they carry none or several."""
    run_ids: Sequence[str] = merge.run_ids
    return run_ids[0] if len(run_ids) == 1 else None
