"""Workers on shared storage: SIGKILLed and stopped workers, retries, the reaper, distributed studies.

The evaluation is slowed by the documented test seam ``TRADELOOP_OPTIMIZER_TEST_SLEEP`` so that a worker can
be killed while its trial runs. Waits poll the storage until a state is reached (with a generous deadline
only against hanging forever); nothing asserts on speed.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from backtest_matrix.strategies import get_strategy
from optimizer import (
    TEST_SLEEP_ENV,
    HeartbeatSettings,
    StudyConfig,
    create_study,
    fail_stale,
    make_storage,
    reap_stale_trials,
    run_search,
    run_worker,
    search_space,
)
from tests.conftest import pg_url_or_skip
from tests.optimizer._search_fixtures import LIVE, sp500

EMA = get_strategy("ema_cross")
HEARTBEAT = HeartbeatSettings(interval=1, grace_period=3, max_retry=1)
pytestmark = pytest.mark.slow


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def storage_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'optuna.db'}"
    else:
        yield pg_url_or_skip()


def _config(storage_url: str, **overrides: object) -> StudyConfig:
    options: dict[str, object] = {
        "storage_url": storage_url, "study_name": f"test-{uuid.uuid4().hex}", "strategy": "ema_cross",
        "space": search_space(EMA, LIVE, "weekly"), "objective": "sharpe", "n_trials": 50, "batch_size": 1,
        "heartbeat": HEARTBEAT,
    }  # fmt: skip
    options.update(overrides)
    return StudyConfig(**options)  # type: ignore[arg-type]


def _wait_for(condition: Callable[[], bool], what: str, deadline_s: float = 180.0) -> None:
    end = time.monotonic() + deadline_s
    while not condition():
        if time.monotonic() > end:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.2)


def _study(config: StudyConfig) -> optuna.Study:
    storage = make_storage(config.storage_url, HEARTBEAT)
    return optuna.load_study(study_name=config.study_name, storage=storage)


def _states(study: optuna.Study) -> list[str]:
    return [t.state.name for t in study.get_trials(deepcopy=False)]


def _has_heartbeat(study: optuna.Study, number: int) -> bool:
    from optimizer._storage import _trials_with_heartbeat

    trials = study.get_trials(deepcopy=False)
    return len(trials) > number and trials[number]._trial_id in _trials_with_heartbeat(study._storage, study)


def _kill_worker_mid_trial(config: StudyConfig, number: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TEST_SLEEP_ENV, "600")  # the worker sleeps inside its trial until killed
    process = multiprocessing.get_context("spawn").Process(target=run_worker, args=(config, sp500(), 0))
    process.start()
    study = _study(config)
    _wait_for(lambda: _has_heartbeat(study, number), f"trial {number} to run with a heartbeat")
    assert _states(study)[number] == "RUNNING"
    os.kill(process.pid, signal.SIGKILL)  # type: ignore[arg-type]
    process.join()
    assert process.exitcode == -signal.SIGKILL


def test_a_killed_workers_trial_is_failed_at_once_and_its_slot_runs_again(
    storage_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(storage_url)
    live = EMA.resolve(LIVE)
    create_study(config, [live])

    _kill_worker_mid_trial(config, 0, monkeypatch)
    monkeypatch.delenv(TEST_SLEEP_ENV)
    # Well within the grace period: the dead worker's lease is gone, which is all the next worker needs.
    run_worker(_config(storage_url, study_name=config.study_name, n_trials=3), sp500())
    trials = _study(config).get_trials(deepcopy=False)
    assert [t.state.name for t in trials[:2]] == ["FAIL", "COMPLETE"]
    assert len(trials) == 4 and all(t.state.name in ("COMPLETE", "PRUNED") for t in trials[2:])
    assert trials[1].params == trials[0].params == {n: live[n] for n in config.space.names}
    assert trials[1].system_attrs["failed_trial"] == 0


def _stop_worker_mid_trial(config: StudyConfig, number: int, monkeypatch: pytest.MonkeyPatch) -> int:
    """Start a worker and SIGSTOP it inside trial ``number``: alive (its lease held), but silent."""
    monkeypatch.setenv(TEST_SLEEP_ENV, "600")
    process = multiprocessing.get_context("spawn").Process(target=run_worker, args=(config, sp500(), 0))
    process.start()
    study = _study(config)
    _wait_for(lambda: _has_heartbeat(study, number), f"trial {number} to run with a heartbeat")
    assert process.pid is not None
    os.kill(process.pid, signal.SIGSTOP)
    return process.pid


def test_a_silent_workers_trial_fails_after_grace_and_is_retried_at_most_max_retry_times(
    storage_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = _config(storage_url)
    live = EMA.resolve(LIVE)
    create_study(config, [live])
    study = _study(config)
    stopped = [_stop_worker_mid_trial(config, 0, monkeypatch)]
    try:
        fail_stale(study, HEARTBEAT.grace_period)
        assert _states(study) == ["RUNNING"]  # within the grace period nothing is failed
        _wait_for(lambda: (fail_stale(study, HEARTBEAT.grace_period), _states(study))[1] == ["FAIL"],
                  "the stale trial to fail")  # fmt: skip

        stopped.append(_stop_worker_mid_trial(config, 1, monkeypatch))  # its retry: the same parameters
        trials = study.get_trials(deepcopy=False)
        assert trials[1].params == trials[0].params == {n: live[n] for n in config.space.names}
        assert trials[1].system_attrs["failed_trial"] == 0
        _wait_for(lambda: (fail_stale(study, HEARTBEAT.grace_period), _states(study))[1] == ["FAIL", "FAIL"],
                  "the retried trial to fail")  # fmt: skip

        # max_retry = 1 is used up: a healthy worker gives that slot up and carries on with new ones.
        monkeypatch.delenv(TEST_SLEEP_ENV)
        run_worker(_config(storage_url, study_name=config.study_name, n_trials=3), sp500())
        states = _states(_study(config))
        assert states[:2] == ["FAIL", "FAIL"] and len(states) == 5
        assert all(state in ("COMPLETE", "PRUNED") for state in states[2:])
    finally:
        for pid in stopped:
            os.kill(pid, signal.SIGKILL)


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
@pytest.mark.filterwarnings("ignore:Heartbeat of storage is supposed:UserWarning")
def test_reaper_fails_running_trials_that_never_sent_a_heartbeat(storage_url: str) -> None:
    config = _config(storage_url)
    create_study(config)
    study = _study(config)
    orphan = study.ask({"ema_fast": optuna.distributions.IntDistribution(2, 200)})  # no heartbeat, ever
    optuna.storages.fail_stale_trials(study)
    assert _states(study) == ["RUNNING"]  # Optuna's own check cannot see it
    assert reap_stale_trials(study, HEARTBEAT.grace_period) == []  # younger than the grace period
    time.sleep(HEARTBEAT.grace_period + 0.5)
    assert reap_stale_trials(study, HEARTBEAT.grace_period) == [orphan.number]
    trials = study.get_trials(deepcopy=False)
    assert [t.state for t in trials] == [TrialState.FAIL]  # the next batch runs its slot again
    cutoff = time.time() - HEARTBEAT.grace_period
    running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    assert not [t for t in running if t.datetime_start and t.datetime_start.timestamp() < cutoff]


@pytest.mark.postgres
def test_four_workers_share_one_postgresql_study(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = pg_url_or_skip()
    monkeypatch.setenv(TEST_SLEEP_ENV, "0.3")  # spread the batches so that every worker gets some
    name = f"test-dist-{uuid.uuid4().hex}"
    result = run_search(
        sp500(), "ema_cross", LIVE, cadence="weekly", trials=40, workers=4, seed=0, top_k=3, prescreen_n=64,
        batch_size=2, storage=url, study_name=name, out_dir=tmp_path, heartbeat=HEARTBEAT,
    )  # fmt: skip
    try:
        study = optuna.load_study(study_name=name, storage=url)
        trials = study.get_trials(deepcopy=False)
        numbers = [t.number for t in trials]
        assert len(numbers) == len(set(numbers)) and sorted(numbers) == list(range(len(numbers)))
        done = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
        assert len(done) == 40  # batches are planned under the study lock: no overshoot
        assert not [t for t in trials if t.state == TrialState.RUNNING]
        assert len({t.user_attrs["worker"] for t in done}) >= 2
        assert result.n_trials == len(done)
    finally:
        optuna.delete_study(study_name=name, storage=url)
