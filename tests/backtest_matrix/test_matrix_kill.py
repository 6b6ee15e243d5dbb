"""Kill test: SIGKILL ``tradeloop matrix run`` at random moments, re-run it until done; nothing lost."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from backtest_matrix.matrix import ResultLog, load_matrix_spec, plan
from tests.backtest_matrix.matrix_helpers import KILL_MATRIX, LIVE_BTC, REPO, make_repo, write_matrix

KILLS = 10


def line_count(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


def start(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tradeloop", *args], cwd=REPO, env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip


def kill_at_a_random_moment(process: subprocess.Popen[bytes], log: Path, rng: random.Random) -> bool:
    """SIGKILL the run: half the time at a random moment of its start, else soon after it appends.

    Returns whether it was killed (False: it finished first).
    """
    if rng.random() < 0.5:
        deadline = time.monotonic() + rng.uniform(0.2, 2.5)
        while time.monotonic() < deadline and process.poll() is None:
            time.sleep(0.01)
    else:
        before = line_count(log)
        while process.poll() is None and line_count(log) <= before:
            time.sleep(0.005)
        time.sleep(rng.uniform(0.0, 0.12))
    if process.poll() is not None:
        return False
    process.send_signal(signal.SIGKILL)
    process.wait()
    return True


@pytest.mark.slow
def test_repeated_sigkills_lose_and_duplicate_nothing(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    matrix = write_matrix(tmp_path, KILL_MATRIX)
    home, out = tmp_path / "home", tmp_path / "logs"
    env = {**os.environ, "TRADELOOP_HOME": str(home)}
    args = [
        "--repo",
        str(repo),
        "matrix",
        "run",
        "--shard",
        "1/1",
        "--out",
        str(out),
        "--matrix",
        str(matrix),
    ]
    log = out / "shard-1-of-1.jsonl"
    planned = plan(load_matrix_spec(matrix, live_params=LIVE_BTC), 1, cache_dir=home / "cache")
    expected = {cell.cell_hash for unit in planned.units for cell in unit.cells}
    rng = random.Random(20261122)
    kills = attempts = mid_run_kills = 0
    while kills < KILLS:
        attempts += 1
        assert attempts < 3 * KILLS, f"only {kills} kills landed in {attempts} runs"
        process = start(args, env)
        if kill_at_a_random_moment(process, log, rng):
            kills += 1
            # A kill between two appends, with cells still to run, is the case that matters most.
            mid_run_kills += 0 < ResultLog(log).summary().records < len(expected)
        else:
            assert process.returncode == 0, process.stderr.read().decode() if process.stderr else ""
        assert ResultLog(log).summary().corrupt == 0
    assert mid_run_kills >= 1, "no kill landed between two appends of an unfinished run"
    process = start(args, env)
    _, stderr = process.communicate(timeout=600)
    assert process.returncode == 0, stderr.decode()
    summary = ResultLog(log).summary()
    assert (summary.records, summary.duplicates, summary.corrupt, summary.torn_tail) == (
        len(expected),
        0,
        0,
        False,
    )
    hashes = [record["cell_hash"] for record in ResultLog(log).read(strict=True)]
    assert sorted(hashes) == sorted(expected)  # every cell exactly once
    assert all(record["status"] == "ok" for record in ResultLog(log).read())
