"""The append-only, kill-safe JSONL result log of the backtest matrix.

One result record per line, in canonical JSON (sorted keys, no whitespace, NaN/inf written as ``null``).
Every record carries a string ``cell_hash``: the key that a resumed run uses to skip finished cells.

Writers are serialised by an exclusive ``flock`` on ``.<name>.lock`` beside the log, which the kernel
releases even when a writer is SIGKILLed. A writer killed mid-line leaves a *torn tail* (bytes after the
last ``\\n``); the next writer cuts the file back to just after the last ``\\n`` before it appends, so a torn
line never ends up in the middle of the log. Readers take no lock: they skip a torn last line (it is either
being written right now or will be cut by the next writer), and report any unparseable *interior* line,
which only damage from outside (an editor, a disk fault, a bad merge) can leave.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tradeloop._atomic import file_lock, fsync_directory, write_all, write_error
from tradeloop._provenance import canonical_json, json_safe
from tradeloop.errors import DataError

__all__ = ["ResultLog", "ResultLogSummary"]

KEY = "cell_hash"
_WRITE_CHUNK = 1 << 20  # bytes per os.write call; tests shrink it to widen the window for a torn tail
_SCAN_CHUNK = 1 << 16
_FIX = "delete the line or restore the log; `tradeloop matrix run` re-runs missing cells"


@dataclass(frozen=True)
class ResultLogSummary:
    """What a tolerant read of a result log found.

    Attributes
    ----------
    records
        Distinct records (first occurrence of each ``cell_hash``).
    duplicates
        Complete, valid lines whose ``cell_hash`` appeared on an earlier line (skipped).
    corrupt
        Interior lines that are not a JSON object with a string ``cell_hash`` (skipped).
    torn_tail
        Whether the file ends in a partial line left by a killed writer (skipped).
    """

    records: int
    duplicates: int
    corrupt: int
    torn_tail: bool


@dataclass
class _Scan:
    records: list[dict[str, Any]] = field(default_factory=list)
    seen: set[str] = field(default_factory=set)
    duplicates: int = 0
    corrupt: list[tuple[int, bytes]] = field(default_factory=list)
    torn_tail: bool = False


def _parse_line(raw: bytes) -> dict[str, Any] | None:
    """The record on one complete line (without its ``\\n``), or None if the line is corrupt."""
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(value, dict) or not isinstance(value.get(KEY), str):
        return None
    return value


def _encode(record: Mapping[str, Any], position: int) -> bytes:
    if not isinstance(record, Mapping):
        raise ValueError(
            f"result record #{position} must be a mapping with a string {KEY!r}, got {type(record).__name__}"
        )
    key = record.get(KEY)
    if not isinstance(key, str) or not key:
        raise ValueError(
            f"result record #{position} needs a non-empty string {KEY!r} (the resume key), got {key!r}"
        )
    return (canonical_json(json_safe(dict(record))) + "\n").encode("utf-8")


def _end_of_last_complete_line(fd: int, size: int) -> int:
    """Offset just after the last ``\\n`` in the first ``size`` bytes of ``fd`` (0 if there is none)."""
    end = size
    while end > 0:
        start = max(0, end - _SCAN_CHUNK)
        chunk = os.pread(fd, end - start, start)
        newline = chunk.rfind(b"\n")
        if newline >= 0:
            return start + newline + 1
        end = start
    return 0


class ResultLog:
    """An append-only JSONL log of result records, safe against concurrent writers and SIGKILL.

    Parameters
    ----------
    path
        The ``.jsonl`` file. It and its directory are created on the first append.

    Examples
    --------
    >>> log = ResultLog(tmp / "results.jsonl")  # doctest: +SKIP
    >>> log.append({"cell_hash": "ab12", "return_pct": float("nan")})  # doctest: +SKIP
    >>> log.read()  # doctest: +SKIP
    [{'cell_hash': 'ab12', 'return_pct': None}]
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"ResultLog({str(self.path)!r})"

    # -- writing ---------------------------------------------------------------------------------------

    def append(self, record: Mapping[str, Any]) -> None:
        """Append one record durably; see :meth:`append_many`."""
        self.append_many([record])

    def append_many(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Append records durably, as one write under the log's lock.

        Every record is validated and encoded before anything is written. Under the lock, a torn tail
        left by a killed writer is cut off first; then the lines are written, flushed and fsynced.

        Parameters
        ----------
        records
            Mappings, each with a non-empty string ``cell_hash``. NaN and inf become ``null``.

        Raises
        ------
        ValueError
            A record is not a mapping or has no string ``cell_hash`` (a programming error).
        WriteError
            The log cannot be written (disk full, file-size limit, permissions); the message names the log
            and the cause, and the log is cut back to its last complete record.
        """
        data = b"".join(_encode(record, position) for position, record in enumerate(records, 1))
        if not data:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise write_error(self.path, exc, "cannot create the result log's directory") from None
        with file_lock(self.path):
            try:
                created = not self.path.exists()
                fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError as exc:
                raise write_error(self.path, exc, "cannot open the result log") from None
            try:
                self._append_locked(fd, data)
            finally:
                os.close(fd)
            if created:
                fsync_directory(self.path.parent)

    def _append_locked(self, fd: int, data: bytes) -> None:
        """Cut a torn tail, write, fsync; on failure cut back what this append wrote and raise."""
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            size = _end_of_last_complete_line(fd, size)
            os.ftruncate(fd, size)
        try:
            for start in range(0, len(data), _WRITE_CHUNK):
                write_all(fd, data[start : start + _WRITE_CHUNK], self.path)
            os.fsync(fd)
        except OSError as exc:
            with contextlib.suppress(OSError):  # a partial line would be cut by the next append anyway
                os.ftruncate(fd, size)
            records = data.count(b"\n")
            raise write_error(
                self.path, exc, f"cannot append {records} result record(s) to the result log"
            ) from None

    # -- reading ---------------------------------------------------------------------------------------

    def _scan(self) -> _Scan:
        scan = _Scan()
        try:
            handle = self.path.open("rb")
        except FileNotFoundError:
            return scan
        with handle:
            for lineno, raw in enumerate(handle, 1):
                if not raw.endswith(b"\n"):
                    scan.torn_tail = True  # only the last piece of a file can lack its newline
                    break
                record = _parse_line(raw[:-1])
                if record is None:
                    scan.corrupt.append((lineno, raw[:-1]))
                elif record[KEY] in scan.seen:
                    scan.duplicates += 1
                else:
                    scan.seen.add(record[KEY])
                    scan.records.append(record)
        return scan

    def read(self, strict: bool = False) -> list[dict[str, Any]]:
        """The records in file order, the first of each ``cell_hash`` only.

        A torn last line is always skipped (it is the trace of a killed writer, cut by the next append).

        Parameters
        ----------
        strict
            Raise on a corrupt interior line instead of skipping it.

        Raises
        ------
        DataError
            ``strict`` and a complete line is not a JSON object with a string ``cell_hash``; the message
            names the file, the line number, the start of the line and the fix.
        """
        scan = self._scan()
        if strict and scan.corrupt:
            lineno, raw = scan.corrupt[0]
            text = raw.decode("utf-8", errors="replace")[:80]
            more = (
                f" ({len(scan.corrupt) - 1} more corrupt line(s) after it)" if len(scan.corrupt) > 1 else ""
            )
            raise DataError(
                f"{self.path}: line {lineno} is not a result record (a JSON object with a string "
                f"{KEY!r}): {text!r}{more}; {_FIX}"
            )
        return scan.records

    def done_cell_hashes(self) -> set[str]:
        """The ``cell_hash`` of every fully written record: the cells a resumed run skips."""
        return self._scan().seen

    def corrupt_lines(self) -> list[int]:
        """1-based numbers of the complete lines that are not valid records (a torn tail is not one)."""
        return [lineno for lineno, _ in self._scan().corrupt]

    def duplicates(self) -> int:
        """How many valid lines repeat a ``cell_hash`` seen on an earlier line."""
        return self._scan().duplicates

    def summary(self) -> ResultLogSummary:
        """Counts from one tolerant read of the log."""
        scan = self._scan()
        return ResultLogSummary(
            records=len(scan.records),
            duplicates=scan.duplicates,
            corrupt=len(scan.corrupt),
            torn_tail=scan.torn_tail,
        )
