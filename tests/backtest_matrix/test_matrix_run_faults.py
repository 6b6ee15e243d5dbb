"""``matrix run`` when its log cannot be written, and when another run writes the same shard (issue 15).

Defect 1: the runner swallowed the ``OSError`` of a failed append and reported success with cells missing.
Defect 4: two runs of one shard into one folder both appended every cell. The runs here are real
``tradeloop`` processes, under a real file-size limit (``RLIMIT_FSIZE``), the write-fault seam for a full
disk, and a real SIGKILL.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from backtest_matrix.matrix import ResultLog
from tests.backtest_matrix.matrix_helpers import SMALL_MATRIX, make_repo, write_matrix
from tests.conftest import tmpfs_namespaces_allowed
from tradeloop._atomic import WRITE_FAULT_ENV

pytestmark = pytest.mark.slow
CELLS = 18


def _command(repo: Path, matrix: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "tradeloop", "--json", "--repo", str(repo), "matrix", "run", "--shard",
            "1/1", "--out", str(out), "--matrix", str(matrix), "--workers", "1"]  # fmt: skip


def _run(
    command: list[str], env: dict[str, str], preexec: Callable[[], None] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, env=env, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL,
        preexec_fn=preexec,
    )  # fmt: skip


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    """A repository, a small matrix and a home whose bar and indicator caches are already warm (so that
    only the result log is written under the limits)."""
    repo, matrix = make_repo(tmp_path / "repo"), write_matrix(tmp_path, SMALL_MATRIX)
    env = {**os.environ, "TRADELOOP_HOME": str(tmp_path / "home"), "PYTHONDONTWRITEBYTECODE": "1"}
    warm = _run(_command(repo, matrix, tmp_path / "warm"), env)
    assert warm.returncode == 0, warm.stderr[-2000:]
    return repo, matrix, env


def _error_line(done: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr[-3000:]
    return lines[0]


def _limit_file_size(size: int) -> Callable[[], None]:
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))


def _log_is_clean(log: Path) -> int:
    """The log ends on a complete line and holds no duplicate; returns its records."""
    data = log.read_bytes()
    assert not data or data.endswith(b"\n")
    summary = ResultLog(log).summary()
    assert summary.corrupt == 0 and summary.duplicates == 0 and not summary.torn_tail
    return summary.records


@pytest.mark.parametrize(
    ("fault", "cause"),
    [("file-size limit", "File too large, EFBIG"), ("disk full", "No space left on device, ENOSPC")],
)
def test_a_log_that_cannot_be_written_fails_the_run_naming_the_log_and_the_cause(
    setup: tuple[Path, Path, dict[str, str]], tmp_path: Path, fault: str, cause: str
) -> None:
    repo, matrix, env = setup
    out = tmp_path / "logs"
    if fault == "disk full":
        done = _run(_command(repo, matrix, out), {**env, WRITE_FAULT_ENV: "ENOSPC:*.jsonl"})
    else:
        done = _run(_command(repo, matrix, out), env, _limit_file_size(6_000))

    assert done.returncode == 2
    line = _error_line(done)
    assert str(out / "shard-1-of-1.jsonl") in line and cause in line and "run it again" in line
    assert '"ok": true' not in done.stdout
    held = _log_is_clean(out / "shard-1-of-1.jsonl") if (out / "shard-1-of-1.jsonl").exists() else 0
    assert held < CELLS

    again = _run(_command(repo, matrix, out), env)  # the fault is gone: the re-run completes the shard
    assert again.returncode == 0, again.stderr[-2000:]
    assert json.loads(again.stdout)["done_before"] == held
    assert _log_is_clean(out / "shard-1-of-1.jsonl") == CELLS


@pytest.mark.skipif(not tmpfs_namespaces_allowed(), reason="no unprivileged user+mount namespace for a tmpfs")
def test_a_full_tmpfs_fails_the_run_naming_the_log_and_leaves_no_torn_tail(
    setup: tuple[Path, Path, dict[str, str]], tmp_path: Path
) -> None:
    """The issue's reproduction: a 64 KiB tmpfs as --out held 39 of 144 cells, a torn tail, and `ok: true`."""
    repo, matrix, env = setup
    out = tmp_path / "logs"
    out.mkdir()
    command = " ".join(f"'{part}'" for part in _command(repo, matrix, out))
    log = out / "shard-1-of-1.jsonl"
    script = (
        f"mount -t tmpfs -o size=16k tmpfs '{out}' && {command}; echo \"rc=$?\"; "
        f"tail -c 1 '{log}' | od -An -c"  # the last byte of the log on the full disk
    )
    done = subprocess.run(["unshare", "-Urm", "sh", "-c", script], env=env, capture_output=True, text=True)
    assert "rc=2" in done.stdout, done.stdout + done.stderr
    line = _error_line(done)
    assert str(log) in line and "No space left on device, ENOSPC" in line
    assert '"ok": true' not in done.stdout and done.stdout.strip().endswith("\\n")  # no torn tail


def test_an_out_folder_that_cannot_exist_is_refused_before_any_work(
    setup: tuple[Path, Path, dict[str, str]], tmp_path: Path
) -> None:
    repo, matrix, env = setup
    done = _run(_command(repo, matrix, Path("/proc/tradeloop-nope")), env)
    assert done.returncode == 2
    assert "/proc/tradeloop-nope" in _error_line(done) and "ran 0 cells" not in done.stdout


def test_a_second_run_of_the_same_shard_is_refused_naming_the_first_and_a_killed_first_leaves_no_lock(
    setup: tuple[Path, Path, dict[str, str]], tmp_path: Path
) -> None:
    repo, matrix, env = setup
    out = tmp_path / "logs"
    hang = {**env, "TRADELOOP_MATRIX_FAULTS": json.dumps({"ema_cross/BTC/full": "hang"})}
    first = subprocess.Popen(
        _command(repo, matrix, out), env=hang, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        log = out / "shard-1-of-1.jsonl"
        deadline = time.monotonic() + 180
        while not (log.exists() and ResultLog(log).summary().records > 0):  # the first run is appending
            assert first.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        second = _run(_command(repo, matrix, out), env)
        assert second.returncode == 2
        line = _error_line(second)
        assert f"pid {first.pid} on " in line and str(log) in line and "another --out" in line
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
    third = _run(_command(repo, matrix, out), env)  # no stale lock after the SIGKILL
    assert third.returncode == 0, third.stderr[-2000:]
    assert _log_is_clean(log) == CELLS
