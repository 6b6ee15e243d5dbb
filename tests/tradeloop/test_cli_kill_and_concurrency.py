"""Killed and concurrent runs through the real CLI (issue 15, defects 3 and 4).

- ``propose`` SIGKILLed in the middle of its search and run again gives the proposal of an uninterrupted run
  with the same seed: the same hash, changes and candidates (what validation's DSR and PBO count);
- a second ``cycle`` on a home in use is refused naming the first, and a SIGKILLed cycle leaves no lock;
- processes creating the same Optuna storage and study at once all succeed, with one study.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest

from backtest_matrix.strategies import get_strategy
from optimizer import TEST_SLEEP_ENV, StudyConfig, create_study, search_space
from optimizer._slots import WARM_START_ATTR
from tests.conftest import pg_url_or_skip
from tradeloop._locks import is_locked

pytestmark = pytest.mark.slow
REPO_ROOT = Path(__file__).resolve().parents[2]
# The demo pair: its holdout can judge a proposal, so propose searches (the shipped daily pairs' cannot).
PROPOSE = ["propose", "--strategy", "rsi_reversion", "--symbol", "DEMO", "--timeframe", "15m",
           "--cadence", "daily", "--trials", "40"]  # fmt: skip
SMALL_MATRIX = """\
symbols:
  SP500: sp500
  NASDAQ: nasdaq
  DEMO: reverting
strategies:
  ema_cross: [SP500]
timeframes: [1d]
windows: [365d, full]
neighbourhood:
  samples: 1
  seed: 7
"""


def _tradeloop(home: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "tradeloop", "--json", "--repo", str(REPO_ROOT), "--home", str(home), *args]


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", **extra}


def _proposal(home: Path, out: Path) -> dict[str, object]:
    """What the search decided: the proposal hash, the changes and every candidate it found, with the trial
    count (validation's DSR and PBO count them)."""
    done = subprocess.run(
        _tradeloop(home, *PROPOSE, "--out", str(out)), env=_env(), capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    document = json.loads(out.read_text(encoding="utf-8"))
    keys = ("proposal_hash", "changes", "candidates")
    return {**{key: document[key] for key in keys}, "trials": document["search"]["trials"]}


def _states(database: Path) -> list[str]:
    if not database.exists():
        return []
    try:
        with sqlite3.connect(database, timeout=30) as db:
            return [row[0] for row in db.execute("SELECT state FROM trials ORDER BY number")]
    except sqlite3.OperationalError:  # the tables are being created
        return []


def _wait(condition: object, what: str, process: subprocess.Popen[str], deadline_s: float = 240) -> None:
    end = time.monotonic() + deadline_s
    while not condition():  # type: ignore[operator]
        assert process.poll() is None, f"the run ended before {what}"
        assert time.monotonic() < end, f"gave up waiting for {what}"
        time.sleep(0.05)


def test_a_propose_killed_mid_search_and_run_again_gives_the_uninterrupted_proposal(tmp_path: Path) -> None:
    reference = _proposal(tmp_path / "reference", tmp_path / "reference.json")

    home = tmp_path / "home"
    database = home / "optuna.db"
    for told in (0, 9):  # killed in its first batch, then again once a batch and more are told
        run = subprocess.Popen(
            _tradeloop(home, *PROPOSE, "--out", str(tmp_path / "p.json")),
            env=_env(**{TEST_SLEEP_ENV: "0.4"}), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            _wait(
                lambda told=told: (
                    _states(database).count("RUNNING") > 0
                    and sum(s in ("COMPLETE", "PRUNED") for s in _states(database)) >= told
                ),
                f"trials running after {told} told",
                run,
            )
        finally:
            os.kill(run.pid, signal.SIGKILL)
            run.wait()
    assert "RUNNING" in _states(database)  # the killed run left running trials behind

    assert _proposal(home, tmp_path / "p.json") == reference


def test_a_second_cycle_on_a_home_in_use_is_refused_and_a_killed_cycle_leaves_no_lock(tmp_path: Path) -> None:
    matrix = tmp_path / "matrix.yaml"
    matrix.write_text(SMALL_MATRIX, encoding="utf-8")
    home = tmp_path / "home"
    cycle = [*_tradeloop(home, "cycle", "--matrix", str(matrix), "--trials", "4", "--workers", "1")]
    hang = json.dumps({"ema_cross/SP500/full": "hang"})  # keeps the first cycle in its matrix step
    first = subprocess.Popen(
        cycle, env=_env(TRADELOOP_MATRIX_FAULTS=hang), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        text=True,
    )  # fmt: skip
    lock = home / "cycle" / ".cycle.lock"
    try:
        _wait(
            lambda: (home / "cycle" / "matrix-logs" / "shard-1-of-1.jsonl").exists(), "the matrix step", first
        )
        second = subprocess.run(cycle, env=_env(), capture_output=True, text=True, check=False)
        assert second.returncode == 2
        lines = [line for line in second.stderr.splitlines() if line.startswith("error: ")]
        assert len(lines) == 1, second.stderr
        assert f"pid {first.pid} on " in lines[0] and "another --home" in lines[0]
        assert is_locked(lock)
    finally:
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
    assert not is_locked(lock)


def _create(url: str, name: str, start_at: float) -> None:
    while time.time() < start_at:  # every process opens the fresh storage at the same moment
        time.sleep(0.001)
    ema = get_strategy("ema_cross")
    config = StudyConfig(
        storage_url=url, study_name=name, strategy="ema_cross", space=search_space(ema, {}, "weekly"),
        objective="sharpe",
    )  # fmt: skip
    create_study(config, [ema.resolve({})])


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fresh_storage(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh' / 'optuna.db'}"
    else:
        yield pg_url_or_skip()


def test_processes_creating_one_storage_and_study_at_once_all_succeed(fresh_storage: str) -> None:
    name = f"race-{os.getpid()}-{time.monotonic_ns()}"
    context = multiprocessing.get_context("spawn")
    start_at = time.time() + 8  # after the spawned interpreters have imported everything
    processes = [context.Process(target=_create, args=(fresh_storage, name, start_at)) for _ in range(6)]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    try:
        assert [p.exitcode for p in processes] == [0] * 6
        study = optuna.load_study(study_name=name, storage=fresh_storage)
        assert len(study.user_attrs[WARM_START_ATTR]) == 1 and study.trials == []
    finally:
        if fresh_storage.startswith("postgresql"):
            optuna.delete_study(study_name=name, storage=fresh_storage)
