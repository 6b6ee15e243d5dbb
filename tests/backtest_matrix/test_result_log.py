"""The matrix result log: canonical lines, torn tails cut and skipped, bad lines reported, SIGKILL-safe."""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import random
import signal
import time
from multiprocessing.process import BaseProcess
from pathlib import Path

import numpy as np
import pytest

from backtest_matrix.matrix import ResultLog, ResultLogSummary
from tests.backtest_matrix.log_appender import append_forever
from tradeloop.errors import DataError


def line_of(record: dict[str, object]) -> bytes:
    return (json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n").encode()


# -- 1. round trip ---------------------------------------------------------------------------------------


def test_round_trip_is_canonical_and_maps_nan_and_inf_to_null(tmp_path: Path) -> None:
    log = ResultLog(tmp_path / "nested" / "results.jsonl")
    first = {
        "cell_hash": "c1",
        "strategy": "ema_cross",
        "params": {"slow": 50, "fast": np.int64(12)},
        "return_pct": np.float64(3.5),
        "sharpe": float("nan"),
        "kpis": [float("inf"), -float("inf"), 1.25],
        "error": "naïve → ok",
    }
    log.append(first)
    log.append_many([{"cell_hash": "c2", "status": "timeout"}, {"cell_hash": "c3", "status": "error"}])

    assert log.read(strict=True) == [
        {
            "cell_hash": "c1",
            "error": "naïve → ok",
            "kpis": [None, None, 1.25],
            "params": {"fast": 12, "slow": 50},
            "return_pct": 3.5,
            "sharpe": None,
            "strategy": "ema_cross",
        },
        {"cell_hash": "c2", "status": "timeout"},
        {"cell_hash": "c3", "status": "error"},
    ]
    lines = log.path.read_bytes().split(b"\n")
    assert lines[-1] == b"" and len(lines) == 4
    assert lines[1] == b'{"cell_hash":"c2","status":"timeout"}'
    assert lines[0] == (
        b'{"cell_hash":"c1","error":"na\\u00efve \\u2192 ok","kpis":[null,null,1.25],'
        b'"params":{"fast":12,"slow":50},"return_pct":3.5,"sharpe":null,"strategy":"ema_cross"}'
    )
    assert log.summary() == ResultLogSummary(records=3, duplicates=0, corrupt=0, torn_tail=False)
    assert log.done_cell_hashes() == {"c1", "c2", "c3"}


@pytest.mark.parametrize(
    "bad", [{"status": "ok"}, {"cell_hash": 7}, {"cell_hash": ""}, {"cell_hash": None}, ["cell_hash"]]
)
def test_a_record_without_a_string_cell_hash_is_refused_and_nothing_is_written(
    tmp_path: Path, bad: object
) -> None:
    log = ResultLog(tmp_path / "results.jsonl")
    with pytest.raises(ValueError, match="cell_hash"):
        log.append_many([{"cell_hash": "fine"}, bad])  # type: ignore[list-item]
    assert not log.path.exists()


def test_a_missing_log_reads_as_empty(tmp_path: Path) -> None:
    log = ResultLog(tmp_path / "absent.jsonl")
    assert log.read(strict=True) == []
    assert log.done_cell_hashes() == set()
    assert log.summary() == ResultLogSummary(records=0, duplicates=0, corrupt=0, torn_tail=False)


def test_duplicate_cell_hashes_keep_the_first_and_are_counted(tmp_path: Path) -> None:
    log = ResultLog(tmp_path / "results.jsonl")
    log.append_many([{"cell_hash": "a", "v": 1}, {"cell_hash": "b", "v": 1}])
    log.append_many([{"cell_hash": "a", "v": 2}, {"cell_hash": "a", "v": 3}])
    assert log.read(strict=True) == [{"cell_hash": "a", "v": 1}, {"cell_hash": "b", "v": 1}]
    assert log.duplicates() == 2
    assert log.summary().duplicates == 2


# -- 2. torn tails and corrupt interior lines ------------------------------------------------------------


def test_a_torn_tail_is_skipped_by_readers_and_cut_by_the_next_append(tmp_path: Path) -> None:
    log = ResultLog(tmp_path / "results.jsonl")
    log.append_many([{"cell_hash": "a"}, {"cell_hash": "b"}])
    whole = line_of({"cell_hash": "torn", "payload": "x" * 300})
    with log.path.open("ab") as handle:  # what a writer killed mid-line leaves
        handle.write(whole[: len(whole) // 2])

    assert log.read(strict=True) == [{"cell_hash": "a"}, {"cell_hash": "b"}]
    assert log.corrupt_lines() == []
    assert log.summary() == ResultLogSummary(records=2, duplicates=0, corrupt=0, torn_tail=True)

    log.append({"cell_hash": "c"})
    assert log.path.read_bytes() == line_of({"cell_hash": "a"}) + line_of({"cell_hash": "b"}) + line_of(
        {"cell_hash": "c"}
    )
    assert log.summary() == ResultLogSummary(records=3, duplicates=0, corrupt=0, torn_tail=False)


def test_a_log_that_is_only_a_torn_fragment_is_cut_to_empty_first(tmp_path: Path) -> None:
    log = ResultLog(tmp_path / "results.jsonl")
    log.path.write_bytes(b"x" * 200_000)  # longer than one backwards scan chunk, no newline at all
    assert log.read(strict=True) == []
    log.append({"cell_hash": "a"})
    assert log.path.read_bytes() == line_of({"cell_hash": "a"})


def test_corrupt_interior_lines_are_reported_by_number_and_strict_read_names_the_fix(tmp_path: Path) -> None:
    log = ResultLog(tmp_path / "results.jsonl")
    bad_text = '{"cell_hash": "half' + "y" * 200
    log.path.write_bytes(
        line_of({"cell_hash": "a"})
        + bad_text.encode()
        + b"\n"
        + line_of({"cell_hash": "b"})
        + b"[1, 2]\n"
        + line_of({"status": "ok"})  # valid JSON, but no cell_hash
        + b"\xff\xfe\n"
        + b"\n"
        + line_of({"cell_hash": "c"})
    )
    assert log.corrupt_lines() == [2, 4, 5, 6, 7]
    assert log.read() == [{"cell_hash": "a"}, {"cell_hash": "b"}, {"cell_hash": "c"}]
    assert log.summary() == ResultLogSummary(records=3, duplicates=0, corrupt=5, torn_tail=False)

    with pytest.raises(DataError) as caught:
        log.read(strict=True)
    message = str(caught.value)
    assert str(log.path) in message
    assert "line 2 " in message
    assert bad_text[:80] in message and bad_text[:81] not in message
    assert "4 more corrupt line(s)" in message
    assert "delete the line or restore the log; `tradeloop matrix run` re-runs missing cells" in message

    log.append({"cell_hash": "d"})  # appending never touches interior lines
    assert log.corrupt_lines() == [2, 4, 5, 6, 7]
    assert log.done_cell_hashes() == {"a", "b", "c", "d"}


# -- 3. concurrent appenders, SIGKILLed at random --------------------------------------------------------


_FORK = multiprocessing.get_context("fork")


def _start_appender(path: Path, writer: str, seed: int) -> BaseProcess:
    ready = _FORK.Event()
    proc = _FORK.Process(target=append_forever, args=(path, writer, seed, ready), daemon=True)
    proc.start()
    assert ready.wait(timeout=60), f"appender {writer} never got its first record written"
    return proc


def _kill(proc: BaseProcess) -> None:
    assert proc.pid is not None
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()


def _lock_holder(path: Path) -> int | None:
    """The pid holding the log's flock, from /proc/locks (Linux), or None if it cannot be told."""
    locks = Path("/proc/locks")
    lock_file = path.parent / f".{path.name}.lock"
    if not locks.exists() or not lock_file.exists():
        return None
    inode = str(lock_file.stat().st_ino)
    for line in locks.read_text().splitlines():
        parts = line.split()
        if len(parts) > 5 and parts[1] == "FLOCK" and parts[5].rsplit(":", 1)[-1] == inode:
            return int(parts[4])
    return None


def _ends_mid_line(path: Path) -> bool:
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        if handle.tell() == 0:
            return False
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) != b"\n"


def _kill_mid_line(path: Path, procs: dict[str, BaseProcess]) -> str | None:
    """SIGKILL the lock holder at a moment it has written part of a line; the victim's name, or None.

    The holder is stopped first, so the file cannot change while we look at its last byte.
    """
    for _ in range(200):
        holder = _lock_holder(path)
        victim = next((name for name, proc in procs.items() if proc.pid == holder), None)
        if victim is None or holder is None:
            continue
        os.kill(holder, signal.SIGSTOP)
        if _lock_holder(path) == holder and _ends_mid_line(path):
            _kill(procs[victim])
            return victim
        os.kill(holder, signal.SIGCONT)
    return None


def test_concurrent_appenders_killed_at_random_never_corrupt_the_log(tmp_path: Path) -> None:
    path = tmp_path / "results.jsonl"
    log = ResultLog(path)
    rng = random.Random(20240601)
    writers = ["w0", "w1", "w2", "w3"]
    seeds = iter(range(1, 1000))
    procs = {writer: _start_appender(path, writer, next(seeds)) for writer in writers}

    starts = len(writers)
    kills = 0
    mid_line_kills = 0
    try:
        for round_ in range(16):
            time.sleep(rng.uniform(0.0, 0.08))  # a random moment; nothing is timed or asserted on time
            victim = _kill_mid_line(path, procs) if round_ % 2 else None
            if victim is None:
                victim = rng.choice(writers)
                _kill(procs[victim])
            else:
                mid_line_kills += 1
            kills += 1
            procs[victim] = _start_appender(path, victim, next(seeds))
            starts += 1
    finally:
        for proc in procs.values():
            if proc.is_alive():
                _kill(proc)
                kills += 1
    assert kills >= 10

    raw = path.read_bytes()
    complete = raw.split(b"\n")[:-1]  # the piece after the last newline, if any, is a torn tail
    parsed = [json.loads(line) for line in complete]  # every complete line parses
    assert len(parsed) >= starts  # each start wrote one record before it said ready
    for record in parsed:
        payload = record["payload"]
        assert hashlib.sha256(payload.encode("ascii")).hexdigest() == record["payload_sha256"]
        assert len(payload) == 20_000
        assert record["sharpe"] is None
    summary = log.summary()
    assert summary.corrupt == 0
    assert summary.duplicates == 0
    assert summary.records == len(parsed)
    assert log.done_cell_hashes() == {record["cell_hash"] for record in parsed}

    log.append({"cell_hash": "after-the-storm"})  # the last kill's torn tail, if any, is cut now
    assert log.summary() == ResultLogSummary(
        records=len(parsed) + 1, duplicates=0, corrupt=0, torn_tail=False
    )
    if Path("/proc/locks").exists():  # Linux: the lock holder can be found, so some kills are mid-line
        assert mid_line_kills >= 1
    print(f"{kills} kills, {len(parsed)} records, {mid_line_kills} of them mid-line")


# -- 4. resume ------------------------------------------------------------------------------------------


def test_done_cell_hashes_after_a_killed_writer_are_exactly_the_fully_written_records(tmp_path: Path) -> None:
    log = ResultLog(tmp_path / "results.jsonl")
    log.append_many([{"cell_hash": "a", "return_pct": 1.0}, {"cell_hash": "b", "return_pct": 2.0}])
    log.append({"cell_hash": "c", "return_pct": float("nan")})
    with log.path.open("ab") as handle:  # a complete JSON object, but its newline never made it
        handle.write(b'{"cell_hash":"d"}')
    assert log.done_cell_hashes() == {"a", "b", "c"}

    log.append({"cell_hash": "e"})  # the resumed run re-runs d later; the torn d is gone
    assert log.done_cell_hashes() == {"a", "b", "c", "e"}
    log.append({"cell_hash": "d"})
    assert [record["cell_hash"] for record in log.read(strict=True)] == ["a", "b", "c", "e", "d"]
    assert log.duplicates() == 0
