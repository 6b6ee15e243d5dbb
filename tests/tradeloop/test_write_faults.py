"""Disk full (ENOSPC) and the file-size limit (EFBIG) for every writer (issue 15).

Every writer goes through ``tradeloop._atomic`` (atomic replacement, or the result log's append) except the
SQLite databases. The faults:

- a real file-size limit (``RLIMIT_FSIZE``, what ``ulimit -f`` sets) on real ``tradeloop`` processes, for the
  writers of big files: exports, the warehouse and the live state files (the result log's is in
  ``tests/backtest_matrix/test_matrix_run_faults.py``);
- a real full disk (a 128 KiB tmpfs, mounted in a private user and mount namespace) for the warehouse,
  where the machine allows such namespaces;
- the ``TRADELOOP_TEST_WRITE_FAULT`` seam, which makes the ``write`` call of the chosen file fail with ENOSPC
  or EFBIG exactly as the kernel would, for every other writer.

Each time: exit 2, one ``error:`` line naming the file and the cause, no traceback, and the file keeps its
previous content (or is not created).
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from backtest_matrix.matrix import ResultLog
from gitops import apply_proposal
from tests.backtest_matrix.matrix_helpers import SMALL_MATRIX, make_repo, write_matrix
from tests.conftest import tmpfs_namespaces_allowed
from tests.gitops.proposals import realistic_proposal, typed
from tradeloop import Provenance
from tradeloop._atomic import WRITE_FAULT_ENV
from tradeloop.cli import app
from tradeloop.errors import WriteError

pytestmark = pytest.mark.slow
REPO_ROOT = Path(__file__).resolve().parents[2]
OLD = "previous content\n"
CAUSES = {"ENOSPC": "No space left on device, ENOSPC", "EFBIG": "File too large, EFBIG"}
PAIR = ["--strategy", "ema_cross", "--symbol", "SP500", "--timeframe", "1d", "--cadence", "weekly"]
#: EMA 4/10 trades often enough for the 2014-2018 holdout to judge a proposal (the shipped 12/26 does not).
CHURNING = {"timeframe": "1d", "ema_fast": 4, "ema_slow": 10, "exit_tp0_pct": 4.0, "stop_loss_pct": 2.0,
            "trade_fraction": 0.1}  # fmt: skip


@pytest.fixture(scope="module")
def night(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One small matrix night's shard log, and a proposal made on the embedded S&P 500 bars."""
    root = tmp_path_factory.mktemp("night")
    repo, matrix = make_repo(root / "repo"), write_matrix(root, SMALL_MATRIX)
    shutil.copy(REPO_ROOT / "feature_flags.json", repo / "feature_flags.json")
    for git in (
        ["init", "-q", "-b", "main"],
        ["add", "-A"],
        ["-c", "user.name=t", "-c", "user.email=t@x.invalid", "commit", "-qm", "live"],
    ):
        subprocess.run(["git", *git], cwd=repo, check=True)  # the local forge works on a git repository
    env = {**os.environ, "TRADELOOP_HOME": str(root / "home")}
    command = [sys.executable, "-m", "tradeloop", "--repo", str(repo), "matrix", "run", "--shard", "1/1",
               "--out", str(root / "logs"), "--matrix", str(matrix), "--workers", "1"]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    proposal = root / "proposal.json"
    churning = make_repo(root / "churning", {"ema_cross": {"SP500": CHURNING}})
    for git in (["init", "-q", "-b", "main"], ["add", "-A"],
                ["-c", "user.name=t", "-c", "user.email=t@x.invalid", "commit", "-qm", "live"]):  # fmt: skip
        subprocess.run(["git", *git], cwd=churning, check=True)
    made = CliRunner().invoke(
        app, ["--repo", str(churning), "--home", str(root / "home"), "propose", *PAIR, "--trials", "2",
              "--out", str(proposal)],
    )  # fmt: skip
    assert made.exit_code == 0, made.stderr
    assert json.loads(proposal.read_text())["status"] == "proposed"  # something for validate to judge
    return {"logs": root / "logs", "proposal": proposal, "repo": repo}


@dataclass(frozen=True)
class Writer:
    """A command that writes ``target`` (under the scratch folder ``t``), with what it needs prepared."""

    args: Callable[[Path, dict[str, Path]], list[str]]
    target: str
    appends: bool = False  # an appending writer keeps what was there and adds nothing on failure


def _home(t: Path) -> list[str]:
    return ["--repo", str(REPO_ROOT), "--home", str(t / "home")]


def _pulls(t: Path, night: dict[str, Path]) -> list[str]:
    state = {"version": 1, "next_number": 1, "pulls": {}, "statuses": {}}
    (t / "home" / "forge").mkdir(parents=True)
    (t / "home" / "forge" / "pulls.json").write_text(json.dumps(state), encoding="utf-8")
    return [
        "--repo",
        str(night["repo"]),
        "--home",
        str(t / "home"),
        "pr",
        "check",
        "--pr",
        "1",
        "--forge",
        "local",
    ]


WRITERS: dict[str, Writer] = {
    "data export": Writer(lambda t, n: ["data", "export", "sp500", "--out", str(t / "bars.csv")], "bars.csv"),
    "bar cache": Writer(lambda t, n: [*_home(t), "data", "show", "nasdaq"], "home/cache/*.parquet"),
    "backtest trades": Writer(
        lambda t, n: [*_home(t), "backtest", "-s", "ema_cross", "-d", "sp500"], "home/runs/*/trades.csv"
    ),
    "sweep results": Writer(
        lambda t, n: [*_home(t), "sweep", "-s", "ema_cross", "-d", "sp500", "--random", "20"],
        "home/runs/*/sweep.csv",
    ),
    "optimizer trials": Writer(
        lambda t, n: [
            *_home(t),
            "optimize",
            *PAIR,
            "--trials",
            "2",
            "--prescreen",
            "16",
            "--top-k",
            "1",
            "--out",
            str(t / "search"),
        ],
        "search/trials.csv",
    ),
    "proposal": Writer(
        lambda t, n: [*_home(t), "propose", *PAIR, "--trials", "2", "--out", str(t / "proposal.json")],
        "proposal.json",
    ),
    "verdict": Writer(
        lambda t, n: [
            *_home(t),
            "validate",
            "--proposal",
            str(n["proposal"]),
            "--out",
            str(t / "v"),
            "--reps",
            "10",
        ],
        "v/verdict.json",
    ),
    "nightly report": Writer(
        lambda t, n: [*_home(t), "matrix", "merge", str(n["logs"]), "--run-id", "night"],
        "home/runs/night/report.html",
    ),
    "step summary": Writer(
        lambda t, n: [
            *_home(t),
            "matrix",
            "merge",
            str(n["logs"]),
            "--run-id",
            "night",
            "--summary",
            str(t / "step-summary.md"),
        ],
        "step-summary.md",
        appends=True,
    ),
    "local forge state": Writer(_pulls, "home/forge/pulls.json"),
}


def _prepare_target(t: Path, target: str) -> Path | None:
    """Put previous content where the target is a fixed path (a glob's file is new every run)."""
    if "*" in target:
        return None
    path = t / target
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(OLD, encoding="utf-8")
    return path


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "Traceback" not in stderr, stderr[-3000:]
    return lines[0]


@pytest.mark.parametrize("fault", ["ENOSPC", "EFBIG"])
@pytest.mark.parametrize("writer", list(WRITERS.values()), ids=list(WRITERS))
def test_a_writer_that_cannot_write_fails_naming_the_file_and_keeps_the_old_content(
    writer: Writer, fault: str, night: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = writer.args(tmp_path, night)
    path = _prepare_target(tmp_path, writer.target)
    before = path.read_bytes() if path is not None else None
    monkeypatch.setenv(WRITE_FAULT_ENV, f"{fault}:{Path(writer.target).name}")

    result = CliRunner().invoke(app, args)

    assert result.exit_code == 2, result.stdout + result.stderr
    line = _one_error_line(result.stderr)
    assert CAUSES[fault] in line, line
    if path is not None:
        assert str(path) in line and path.read_bytes() == before
    else:
        assert Path(writer.target).name.replace("*", "") in line and not list(tmp_path.glob(writer.target))
    assert not [p for p in tmp_path.rglob(".*.tmp-*")]  # no temp file left behind


def _limited(size: int) -> Callable[[], None]:
    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (size, size))


def _tradeloop(args: list[str], limit: int, home: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TRADELOOP_HOME": str(home), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "tradeloop", *args], env=env, capture_output=True, text=True, check=False,
        preexec_fn=_limited(limit),
    )  # fmt: skip


def test_an_export_over_the_file_size_limit_fails_and_keeps_the_old_file(tmp_path: Path) -> None:
    home, out = tmp_path / "home", tmp_path / "bars.csv"
    warm = CliRunner().invoke(app, ["--home", str(home), "data", "show", "sp500"])  # cache the bars first
    assert warm.exit_code == 0
    out.write_text(OLD, encoding="utf-8")
    done = _tradeloop(["data", "export", "sp500", "--out", str(out)], 64 * 1024, home)
    assert done.returncode == 2
    line = _one_error_line(done.stderr)
    assert str(out) in line and CAUSES["EFBIG"] in line and out.read_text(encoding="utf-8") == OLD


def test_the_warehouse_over_the_file_size_limit_fails_and_stays_intact(
    night: dict[str, Path], tmp_path: Path
) -> None:
    home = tmp_path / "home"
    merge = ["matrix", "merge", str(night["logs"]), "--run-id", "night"]
    assert _tradeloop(["regime", "history"], resource.RLIM_INFINITY, home).returncode == 0  # the tables
    done = _tradeloop(merge, 4096, home)  # the tables exist; not one page of the night's rows fits
    assert done.returncode == 2
    line = _one_error_line(done.stderr)
    assert "warehouse.db" in line and "disk full, or the file-size limit" in line
    again = _tradeloop(["--json", *merge], resource.RLIM_INFINITY, home)  # the database is intact
    assert again.returncode == 0, again.stderr[-2000:]
    assert (
        json.loads(again.stdout)["warehouse"]["inserted"]
        == ResultLog(night["logs"] / "shard-1-of-1.jsonl").summary().records
    )


@pytest.mark.skipif(
    not tmpfs_namespaces_allowed(), reason="no unprivileged user+mount namespace to mount a tmpfs"
)
def test_the_warehouse_on_a_full_disk_fails_and_stays_intact(night: dict[str, Path], tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    script = (
        f'mount -t tmpfs -o size=128k tmpfs "{home}" && '
        f'"{sys.executable}" -m tradeloop matrix merge "{night["logs"]}" --run-id night; echo "rc=$?"; '
        f'"{sys.executable}" -c "import sqlite3; print(sqlite3.connect(\'{home}/warehouse.db\')'
        ".execute('PRAGMA integrity_check').fetchone()[0])\""
    )
    env = {**os.environ, "TRADELOOP_HOME": str(home), "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(["unshare", "-Urm", "sh", "-c", script], env=env, capture_output=True, text=True)
    line = _one_error_line(done.stderr)
    assert "rc=2" in done.stdout and "warehouse.db" in line and "disk full" in line, done.stdout + done.stderr
    assert done.stdout.strip().endswith("ok")  # the database on the full disk is not corrupt


@pytest.mark.parametrize("fault", ["ENOSPC", "EFBIG"])
def test_a_proposal_applied_to_a_full_disk_changes_neither_state_file(
    fault: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = tmp_path / "repo"
    (repo / "config").mkdir(parents=True)
    for name in ("config/constants.py", "feature_flags.json"):
        shutil.copy(REPO_ROOT / name, repo / name)
    before = {p: p.read_bytes() for p in (repo / "config" / "constants.py", repo / "feature_flags.json")}
    monkeypatch.setenv(WRITE_FAULT_ENV, f"{fault}:feature_flags.json")  # the second of the two files

    with pytest.raises(WriteError, match=CAUSES[fault]):
        apply_proposal(repo, typed(realistic_proposal()), provenance=Provenance(run_id="t", git_sha="nogit"))
    assert {p: p.read_bytes() for p in before} == before


def test_a_proposal_applied_over_the_file_size_limit_changes_neither_state_file(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "config").mkdir(parents=True)
    for name in ("config/constants.py", "feature_flags.json"):
        shutil.copy(REPO_ROOT / name, repo / name)
    before = {p: p.read_bytes() for p in (repo / "config" / "constants.py", repo / "feature_flags.json")}
    code = (
        "import sys\nfrom gitops import apply_proposal\n"
        "from tests.gitops.proposals import realistic_proposal, typed\n"
        "from tradeloop import Provenance\nfrom tradeloop.errors import WriteError\n"
        "provenance = Provenance(run_id='t', git_sha='nogit')\n"
        "try:\n    apply_proposal(sys.argv[1], typed(realistic_proposal()), provenance=provenance)\n"
        "except WriteError as exc:\n    print(exc)\n    sys.exit(2)\n"
    )
    limit = min(len(data) for data in before.values()) // 2
    done = subprocess.run(
        [sys.executable, "-c", code, str(repo)], cwd=REPO_ROOT, capture_output=True, text=True, check=False,
        preexec_fn=_limited(limit), env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )  # fmt: skip
    assert done.returncode == 2 and CAUSES["EFBIG"] in done.stdout, done.stdout + done.stderr
    assert {p: p.read_bytes() for p in before} == before
