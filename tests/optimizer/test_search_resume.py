"""Deterministic resume of Stage B (issue 15, defect 3).

A study killed at any point and run again tells the same parameters in the same order as an uninterrupted
run with the same seed, and a dead run's trials do not use the budget. Workers are real processes killed with
a real SIGKILL; the storage is a real SQLite file (and a real PostgreSQL server when one is configured).
"""

from __future__ import annotations

import multiprocessing
import os
import random
import signal
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState

from backtest_matrix.strategies import get_strategy
from optimizer import TEST_SLEEP_ENV, HeartbeatSettings, StudyConfig, create_study, run_worker, search_space
from optimizer._slots import DEAD_ATTR
from optimizer._storage import make_storage
from tests.conftest import pg_url_or_skip
from tests.optimizer._search_fixtures import LIVE, sp500

EMA = get_strategy("ema_cross")
# A grace period far longer than the test: only the dead worker's released lease can explain a recovery.
HEARTBEAT = HeartbeatSettings(interval=1, grace_period=3600, max_retry=1)
TRIALS, BATCH = 24, 4
pytestmark = pytest.mark.slow


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'optuna.db'}"
    else:
        yield pg_url_or_skip()


def _config(storage_url: str, name: str) -> StudyConfig:
    return StudyConfig(
        storage_url=storage_url, study_name=name, strategy="ema_cross",
        space=search_space(EMA, LIVE, "weekly"), objective="sharpe", seed=3, n_trials=TRIALS,
        batch_size=BATCH, heartbeat=HEARTBEAT,
    )  # fmt: skip


def _warm() -> list[dict[str, Any]]:
    live = EMA.resolve(LIVE)
    return [live, {**live, "ema_fast": 8, "ema_slow": 40}, {**live, "ema_fast": 20, "ema_slow": 60}]


def _told(config: StudyConfig) -> list[tuple[str, dict[str, Any], tuple[float, ...] | None]]:
    """The told trials in order: state, parameters, values (what the best and the proposal are made of)."""
    told = [t for t in _trials(config) if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    return [(t.state.name, t.params, tuple(t.values) if t.values else None) for t in told]


def _trials(config: StudyConfig) -> list[optuna.trial.FrozenTrial]:
    storage = make_storage(config.storage_url, HEARTBEAT)
    return optuna.load_study(study_name=config.study_name, storage=storage).get_trials(deepcopy=False)


def _start(config: StudyConfig) -> multiprocessing.process.BaseProcess:
    process = multiprocessing.get_context("spawn").Process(target=run_worker, args=(config, sp500(), 0))
    process.start()
    return process


def _kill(process: multiprocessing.process.BaseProcess) -> None:
    if process.pid is not None and process.is_alive():
        os.kill(process.pid, signal.SIGKILL)
    process.join()


def _wait_for(condition: Callable[[], bool], what: str, deadline_s: float = 180.0) -> None:
    end = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > end:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.05)


def _states(config: StudyConfig) -> list[str]:
    return [trial.state.name for trial in _trials(config)]


def test_a_study_killed_mid_batch_resumes_to_the_trials_of_an_uninterrupted_run(
    storage_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    reference = _config(storage_url, f"ref-{uuid.uuid4().hex}")
    create_study(reference, _warm())
    run_worker(reference, sp500())
    killed = _config(storage_url, f"killed-{uuid.uuid4().hex}")
    create_study(killed, _warm())

    # Killed while evaluating its first batch, then while evaluating the re-run of that batch, then in a later
    # batch: nothing waits for a heartbeat grace period (an hour here).
    for sleep_s, told in (("600", 0), ("600", 0), ("0.5", 2 * BATCH)):
        monkeypatch.setenv(TEST_SLEEP_ENV, sleep_s)
        process = _start(killed)
        _wait_for(
            lambda told=told: len(_told(killed)) >= told and _states(killed).count("RUNNING") == BATCH,
            f"a batch to be running after {told} told trials",
        )
        _kill(process)
    monkeypatch.delenv(TEST_SLEEP_ENV)
    run_worker(killed, sp500())

    assert _told(killed) == _told(reference)
    trials = _trials(killed)
    dead = [t for t in trials if t.state == TrialState.FAIL]
    assert dead and all(t.system_attrs.get(DEAD_ATTR) for t in dead)
    assert len(trials) - len(dead) == TRIALS  # the dead runs' trials did not use the budget


def test_a_study_killed_at_random_moments_resumes_to_the_trials_of_an_uninterrupted_run(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    reference = _config(url, "reference")
    create_study(reference, _warm())
    run_worker(reference, sp500())
    killed = _config(url, "killed")
    create_study(killed, _warm())
    moments = random.Random(15)
    for _ in range(6):  # kills during start-up, asks, evaluations and tells
        process, told_before = _start(killed), len(_told(killed))
        _wait_for(
            lambda p=process, n=told_before: len(_told(killed)) > n or not p.is_alive(), "some progress"
        )
        time.sleep(moments.uniform(0.0, 0.4))
        _kill(process)
    run_worker(killed, sp500())

    assert _told(killed) == _told(reference)


@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed:UserWarning")
def test_an_unstamped_running_trial_is_a_dead_askers_and_does_not_use_the_budget(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    config = _config(url, "stamps")
    create_study(config, _warm())
    storage = make_storage(url, HEARTBEAT)
    study = optuna.load_study(study_name=config.study_name, storage=storage)
    orphan = study.ask()  # as if its asker died between ask and stamp
    with sqlite3.connect(tmp_path / "optuna.db") as db:  # the study is tradeloop's: it has its warm start
        assert db.execute(
            "SELECT count(*) FROM study_user_attributes WHERE key LIKE 'tradeloop:%'"
        ).fetchone()[0]
    run_worker(config, sp500())
    trials = _trials(config)
    assert trials[orphan.number].state == TrialState.FAIL and trials[orphan.number].system_attrs[DEAD_ATTR]
    assert sum(t.state != TrialState.FAIL for t in trials) == TRIALS
