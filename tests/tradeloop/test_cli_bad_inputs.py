"""Issue 15's reproductions, one case each: every bad input and fault gets one clear ``error:`` line.

Each case is what a new user did (a bad data file, a bad state file, a bad argument, a secret in a URL) and
what the landed CLI did with it (a traceback, a silently wrong result, a printed password). Each asserts the
exit code, exactly one ``error:`` line naming the thing and the fix, no traceback, and no secret.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from tradeloop.cli import app

REPO_ROOT = Path(__file__).resolve().parents[2]
SECRET = "S3cretPw"
HEADER = "timestamp,open,high,low,close,volume\n"
PAIR = ["--strategy", "ema_cross", "--symbol", "SP500", "--timeframe", "1d", "--cadence", "weekly"]


def _days(n: int, row: Callable[[int, int], str] | None = None) -> str:
    """A CSV of ``n`` daily bars from 2020-01-01 (epoch seconds); ``row(i, ts)`` may replace a line."""
    lines = []
    for i in range(n):
        stamp = 1_577_836_800 + 86_400 * i
        lines.append((row(i, stamp) if row else None) or f"{stamp},10,11,9,10.5,100")
    return HEADER + "\n".join(lines) + "\n"


def _write(path: Path, text: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def _repo(tmp: Path) -> Path:
    """A git repository with the live state files (a copy, so a case may damage them)."""
    repo = tmp / "repo"
    (repo / "config").mkdir(parents=True)
    shutil.copy(REPO_ROOT / "config" / "constants.py", repo / "config" / "constants.py")
    shutil.copy(REPO_ROOT / "feature_flags.json", repo / "feature_flags.json")
    for args in (["init", "-q", "-b", "main"], ["add", "-A"]):
        subprocess.run(["git", *args], cwd=repo, check=True)
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", "live"],
        cwd=repo,
        check=True,
    )
    return repo


def _matrix(tmp: Path, source: str, samples: int = 1, symbols: int = 0) -> Path:
    """A matrix of the live pairs (their symbols on ``source``) and ema_cross on ``symbols`` more symbols."""
    names = ["SP500", "NASDAQ", "DEMO", *[f"S{i}" for i in range(symbols)]]
    lines = ["symbols:", *[f"  {name}: {source}" for name in names], "strategies:"]
    lines += [f"  ema_cross: [{', '.join(names)}]", "timeframes: [1d]", "windows: [full]"]
    lines += ["neighbourhood:", f"  samples: {samples}", "  seed: 7"]
    return _write(tmp / "matrix.yaml", "\n".join(lines) + "\n")


@dataclass(frozen=True)
class Case:
    """One reproduction: build the command in a scratch folder, then what its one error line must say."""

    args: Callable[[Path], list[str]]
    expect: tuple[str, ...]
    code: int = 2
    env: dict[str, str] = field(default_factory=dict)
    on_stdout: bool = False  # checks (exit 1) report on stdout
    absent: tuple[str, ...] = ()  # paths (under the scratch folder) the refused command must not create


def _header_only(tmp: Path) -> str:
    return str(_write(tmp / "bars.csv", HEADER))


def _corrupt_optuna(tmp: Path) -> Path:
    home = tmp / "home"
    _write(home / "optuna.db", b"this is not a SQLite database, just garbage " * 100)
    return home


CASES: dict[str, Case] = {
    # 2. Passwords printed (and a traceback for a malformed port).
    "db-url-without-scheme": Case(
        lambda t: ["regime", "history"],
        ("TRADELOOP_DB_URL", "tl:***@"),
        env={"TRADELOOP_DB_URL": f"postgresql//tl:{SECRET}@127.0.0.1:1/tl"},
    ),
    "db-url-malformed-port": Case(
        lambda t: ["regime", "history"],
        ("port is not a number", "tl:***@"),
        env={"TRADELOOP_DB_URL": f"postgresql://tl:{SECRET}@127.0.0.1:abc/tl"},
    ),
    "optuna-storage-env-without-scheme": Case(
        lambda t: ["--repo", str(REPO_ROOT), "optimize", *PAIR, "--trials", "2"],
        ("not a supported Optuna storage", "tl:***@"),
        env={"TRADELOOP_OPTUNA_STORAGE": f"postgresql//tl:{SECRET}@127.0.0.1:1/tl"},
    ),
    "storage-option-without-scheme": Case(
        lambda t: [
            "--repo",
            str(REPO_ROOT),
            "propose",
            *PAIR,
            "--out",
            str(t / "p.json"),
            "--storage",
            f"postgresql//tl:{SECRET}@127.0.0.1:1/tl",
        ],
        ("not a supported Optuna storage", "tl:***@"),
    ),
    "storage-option-malformed-port": Case(
        lambda t: [
            "--repo",
            str(REPO_ROOT),
            "optimize",
            *PAIR,
            "--trials",
            "2",
            "--storage",
            f"postgresql+psycopg://tl:{SECRET}@127.0.0.1:abc/tl",
        ],
        ("cannot open the Optuna storage", "tl:***@"),
    ),
    # 5. Tracebacks.
    "header-only-csv-data-check": Case(
        lambda t: ["data", "check", _header_only(t)], ("bars.csv", "no rows of bars")
    ),
    "header-only-csv-backtest": Case(
        lambda t: ["backtest", "-s", "ema_cross", "-d", _header_only(t)], ("bars.csv", "no rows of bars")
    ),
    "header-only-csv-data-export": Case(
        lambda t: ["data", "export", _header_only(t), "--out", str(t / "out.csv")],
        ("bars.csv", "no rows of bars"),
    ),
    "header-only-csv-regime-detect": Case(
        lambda t: ["regime", "detect", "--data", _header_only(t)], ("bars.csv", "no rows of bars")
    ),
    "header-only-csv-matrix-plan": Case(
        lambda t: [
            "--repo",
            str(REPO_ROOT),
            "matrix",
            "plan",
            "--shards",
            "1",
            "--matrix",
            str(_matrix(t, _header_only(t))),
        ],
        ("bars.csv", "no rows of bars"),
    ),
    "zero-row-parquet-data-check": Case(
        lambda t: ["data", "check", str(_empty_parquet(t))], ("bars.parquet", "no rows of bars")
    ),
    "corrupt-optuna-db-optimize": Case(
        lambda t: ["--repo", str(REPO_ROOT), "--home", str(_corrupt_optuna(t)), "optimize", *PAIR],
        ("optuna.db", "cannot open the Optuna storage", "damaged"),
    ),
    "corrupt-optuna-db-propose": Case(
        lambda t: [
            "--repo",
            str(REPO_ROOT),
            "--home",
            str(_corrupt_optuna(t)),
            "propose",
            *PAIR,
            "--out",
            str(t / "p.json"),
        ],
        ("optuna.db", "cannot open the Optuna storage", "damaged"),
    ),
    "corrupt-optuna-db-cycle": Case(
        lambda t: ["--repo", str(REPO_ROOT), "--home", str(_corrupt_optuna(t)), "cycle"],
        ("optuna.db", "cannot open the Optuna storage", "damaged"),
    ),
    "matrix-run-out-is-a-file": Case(
        lambda t: [
            "--repo",
            str(REPO_ROOT),
            "matrix",
            "run",
            "--shard",
            "1/1",
            "--out",
            str(_write(t / "afile", "x")),
        ],
        ("afile", "is a file, not a directory"),
    ),
    "propose-out-is-a-directory": Case(
        lambda t: ["--repo", str(REPO_ROOT), "propose", *PAIR, "--out", str(t)], ("--out", "is a directory")
    ),
    "sweep-random-negative": Case(
        lambda t: ["sweep", "-s", "ema_cross", "-d", "sp500", "--random", "-1"], ("--random", "sweep --help")
    ),
    "sweep-grid-of-1e10-points": Case(
        lambda t: [
            "sweep",
            "-s",
            "ema_cross",
            "-d",
            "sp500",
            "-g",
            "ema_fast=1:100000:1",
            "-g",
            "ema_slow=1:100000:1",
        ],
        ("10,000,000,000 combinations", "cap of 1,000,000", "--max-combinations"),
    ),
    "local-forge-pulls-json-wrong-shape": Case(
        lambda t: [
            "--repo",
            str(_repo(t)),
            "--home",
            str(_pulls(t)),
            "pr",
            "check",
            "--pr",
            "1",
            "--forge",
            "local",
        ],
        ("pulls.json", "pulls must be an object"),
    ),
    "matrix-plan-48m-cells": Case(
        lambda t: [
            "--repo",
            str(REPO_ROOT),
            "matrix",
            "plan",
            "--shards",
            "1",
            "--matrix",
            str(_matrix(t, "sp500", samples=1_000_000, symbols=46)),
        ],
        ("cells, above the cap of 100,000", "--max-cells"),
    ),
    # 6. Silently wrong or accepted.
    "mixed-utc-offsets": Case(
        lambda t: ["data", "check", str(_write(t / "bars.csv", _days(120, _mixed_offsets)))],
        ("off_grid_timestamp",),
        code=1,
        on_stdout=True,
    ),
    "duplicated-param": Case(
        lambda t: ["backtest", "-s", "ema_cross", "-d", "sp500", "-p", "ema_fast=5", "-p", "ema_fast=9"],
        ("--param ema_fast is given twice",),
    ),
    "optimize-negative-timeout": Case(
        lambda t: ["--repo", str(REPO_ROOT), "optimize", *PAIR, "--timeout", "-1"],
        ("--timeout must be a number of seconds > 0",),
    ),
    "matrix-of-1e6-cells": Case(
        lambda t: [
            "--repo",
            str(REPO_ROOT),
            "matrix",
            "plan",
            "--shards",
            "4",
            "--matrix",
            str(_matrix(t, "sp500", samples=333_332)),
        ],
        ("cells, above the cap of 100,000", "--max-cells"),
    ),
    "merge-an-all-garbage-log": Case(
        lambda t: [
            "--home",
            str(t / "home"),
            "matrix",
            "merge",
            str(_write(t / "logs" / "shard-1-of-1.jsonl", "garbage\nmore garbage\n").parent),
        ],
        ("shard-1-of-1.jsonl", "line 1 is not a result record"),
    ),
    "duplicated-csv-header": Case(
        lambda t: ["data", "check", str(_write(t / "bars.csv", _days(120).replace(HEADER, DUP_HEADER, 1)))],
        ("bars.csv", "column 'close' twice"),
    ),
    "cycle-unknown-cadence": Case(
        lambda t: ["--repo", str(REPO_ROOT), "--home", str(t / "home"), "cycle", "--cadence", "hourly"],
        ("--cadence 'hourly' is unknown",),
        absent=("home/cycle/matrix-logs", "home/warehouse.db"),  # refused before the matrix and merge ran
    ),
    # 7. Unclear messages.
    "epoch-outlier-row": Case(
        lambda t: ["data", "check", str(_write(t / "bars.csv", _days(120, _epoch_outlier)))],
        ("bars.csv", "row 51", "-1000000000000", "--unit"),
    ),
    "ragged-csv": Case(
        lambda t: ["data", "check", str(_write(t / "bars.csv", _days(120, _ragged)))],
        (
            "bars.csv",
            "Expected 6 fields in line 5, saw 7); check the file",
        ),
    ),
    "map-close-to-open": Case(
        lambda t: ["data", "check", str(_write(t / "bars.csv", _days(120))), "--map", "close=open"],
        ("no column for 'open': its column 'open' is mapped to 'close'",),
    ),
    "nul-byte-in-constants": Case(
        lambda t: ["--repo", str(_nul_constants(t)), "state", "check"],
        ("constants.py", "a NUL byte", "column 6"),
        code=1,
        on_stdout=True,
    ),
}
DUP_HEADER = "timestamp,open,high,low,close,close,volume\n"


def _mixed_offsets(i: int, stamp: int) -> str:
    day = pd.Timestamp(stamp, unit="s").strftime("%Y-%m-%dT%H:%M:%S")
    return f"{day}{'+00:00' if i % 2 == 0 else '-05:00'},10,11,9,10.5,100"


def _epoch_outlier(i: int, stamp: int) -> str | None:
    return "-1000000000000,10,11,9,10.5,100" if i == 50 else None


def _ragged(i: int, stamp: int) -> str | None:
    return f"{stamp},10,11,9,10.5,100,7" if i == 3 else None


def _empty_parquet(tmp: Path) -> Path:
    frame = pd.DataFrame(
        {name: pd.Series(dtype="float64") for name in ("open", "high", "low", "close", "volume")}
    )
    frame.index = pd.DatetimeIndex([], tz="UTC", name="timestamp")
    path = tmp / "bars.parquet"
    frame.to_parquet(path)
    return path


def _pulls(tmp: Path) -> Path:
    home = tmp / "home"
    _write(
        home / "forge" / "pulls.json",
        json.dumps({"version": 1, "next_number": 2, "pulls": [], "statuses": {}}),
    )
    return home


def _nul_constants(tmp: Path) -> Path:
    repo = _repo(tmp)
    path = repo / "config" / "constants.py"
    path.write_bytes(path.read_bytes() + b"X = 1\x00\n")
    return repo


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_a_bad_input_gets_one_clear_error_line(
    case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in case.env.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(app, case.args(tmp_path))

    output = result.stdout + result.stderr
    assert result.exit_code == case.code, output
    assert ("Traceback" not in output and result.exception is None) or isinstance(
        result.exception, SystemExit
    )
    assert SECRET not in output
    report = result.stdout if case.on_stdout else result.stderr
    lines = [line for line in report.splitlines() if line.strip().startswith("error")]
    assert len(lines) >= 1 if case.on_stdout else len(lines) == 1, output
    text = " ".join(lines) if case.on_stdout else lines[0]
    for expected in case.expect:
        assert expected in (report if case.on_stdout else text), (expected, output)
    for path in case.absent:
        assert not (tmp_path / path).exists(), path


def test_optimize_keeps_its_study_in_the_home_it_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_home, given = tmp_path / "env-home", tmp_path / "given"
    monkeypatch.setenv("TRADELOOP_HOME", str(env_home))
    monkeypatch.chdir(tmp_path)
    args = ["--repo", str(REPO_ROOT), "--home", str(given), "--json", "optimize", *PAIR, "--trials", "2",
            "--prescreen", "16", "--top-k", "1"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.stdout + result.stderr
    assert (given / "optuna.db").is_file()
    assert not (env_home / "optuna.db").exists() and not (tmp_path / ".tradeloop").exists()


MEMORY_PROBE = """
import resource, sys
from typer.testing import CliRunner
from tradeloop.cli import app
import backtest_matrix, pandas  # what loading needs is mapped before the limit

def mapped() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmSize"))

resource.setrlimit(resource.RLIMIT_AS, (mapped() + int(sys.argv[2]) * 2**20, resource.RLIM_INFINITY))
result = CliRunner().invoke(app, ["data", "check", sys.argv[1]])
print(result.exit_code, repr(result.exception))
sys.stderr.write(result.stderr)
"""


@pytest.mark.parametrize("headroom_mb", [12, 32, 64])
def test_running_out_of_memory_while_loading_is_not_blamed_on_the_file(
    tmp_path: Path, headroom_mb: int
) -> None:
    """Defect 6: hitting the memory limit while loading was reported as "cannot be read as CSV … check the
    file". A real address-space limit (RLIMIT_AS) a little above what the process has mapped; depending on
    where the allocation fails (pandas' tokenizer, its buffers, NumPy) the error takes another path."""
    path = tmp_path / "big.csv"
    with path.open("w", encoding="utf-8") as handle:
        handle.write(HEADER)
        handle.writelines(f"{1_577_836_800 + 60 * i},10.123456,11.123456,9.123456,10.523456,100.5\n"
                          for i in range(600_000))  # fmt: skip
    done = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(path), str(headroom_mb)], capture_output=True, text=True,
        check=False, env={**os.environ, "TRADELOOP_HOME": str(tmp_path / "home")},
    )  # fmt: skip
    assert done.stdout.startswith("2 SystemExit(2)"), done.stdout + done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "big.csv" in lines[0] and "ran out of memory" in lines[0], done.stderr
    assert "check the file" not in lines[0]
