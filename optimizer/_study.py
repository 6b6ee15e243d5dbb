"""Stage B: an Optuna study on shared storage, evaluated in batches by the sweep engine.

A worker repeatedly ``ask()``\\ s a batch of trials, evaluates the whole batch with ONE
``backtest_matrix.engine.sweep`` call while a heartbeat thread keeps the batch's trials alive, and
``tell()``\\ s the results. Several workers (processes, on one machine or many) share a study through its
storage; each counts the trials in the study before asking, so together they run ``n_trials`` (a race
between workers can overshoot by at most one trial per other worker).

Per trial the evaluator stores the user attributes ``kpis`` (the engine's KPI dict) and ``worker``, and
the :class:`~optimizer._constraints.Constraints` violations through ``Trial.set_constraint`` (Optuna 5's
replacement of the deprecated ``constraints_func``; TPE, GP and NSGA-II read them from there).
A parameter set that breaks the strategy's own constraints (e.g. ``ema_fast >= ema_slow``) or has an
undefined objective is told PRUNED, which TPE ranks below every completed trial.

Test seam: the environment variable ``TRADELOOP_OPTIMIZER_TEST_SLEEP`` (seconds, default 0) makes each batch
sleep while its heartbeats run, so tests can kill a worker mid-trial. Never set it in production.
"""

from __future__ import annotations

import math
import os
import threading
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.trial import TrialState

from backtest_matrix.engine import KPI_NAMES, EngineConfig, sweep
from backtest_matrix.strategies import get_strategy
from optimizer._constraints import Constraints
from optimizer._samplers import distributions, make_sampler, worker_seed
from optimizer._space import SearchSpace
from optimizer._storage import HeartbeatSettings, fail_stale, make_storage
from optimizer.objectives import Direction, get_objective
from tradeloop.errors import OptimizerError

__all__ = ["TEST_SLEEP_ENV", "StudyConfig", "count_trials", "create_study", "run_worker"]

TEST_SLEEP_ENV = "TRADELOOP_OPTIMIZER_TEST_SLEEP"
_COUNTED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)


@dataclass(frozen=True)
class StudyConfig:
    """Everything a worker needs besides the bars; picklable, so spawned processes receive it."""

    storage_url: str
    study_name: str
    strategy: str
    space: SearchSpace
    objective: str
    sampler: str = "tpe"
    seed: int = 0
    n_trials: int = 100
    timeout: float | None = None
    batch_size: int = 8
    constraints: Constraints = field(default_factory=Constraints)
    engine_config: EngineConfig = field(default_factory=EngineConfig)
    heartbeat: HeartbeatSettings = field(default_factory=HeartbeatSettings)

    @property
    def directions(self) -> list[Direction]:
        """The objective's direction; NSGA-II adds minimising the maximum drawdown."""
        direction = get_objective(self.objective).direction
        drawdown: Direction = "minimize"
        return [direction, drawdown] if self.sampler == "nsga2" else [direction]


def create_study(config: StudyConfig, warm_start: Sequence[Mapping[str, float]] = ()) -> optuna.Study:
    """Create the study (or load it: ``load_if_exists``) and, when it is new, enqueue ``warm_start``.

    ``warm_start[0]`` should be the live parameters (trial 0), followed by Stage A's top K.
    """
    storage = make_storage(config.storage_url, config.heartbeat)
    try:
        study = optuna.create_study(
            study_name=config.study_name, storage=storage, directions=config.directions,
            sampler=optuna.samplers.RandomSampler(seed=config.seed), load_if_exists=True,
        )  # fmt: skip
    except ValueError as exc:
        raise OptimizerError(f"study {config.study_name!r}: {exc}; choose another --study name") from exc
    if list(study.directions) != [optuna.study.StudyDirection[d.upper()] for d in config.directions]:
        raise OptimizerError(
            f"study {config.study_name!r} exists with directions {[d.name for d in study.directions]}, "
            f"not {config.directions}; use another study name for another objective or sampler"
        )
    if not study.trials:
        study.set_user_attr("space", config.space.as_dict())
        study.set_user_attr("objective", config.objective)
        names = set(config.space.names)
        for params in warm_start:
            study.enqueue_trial(_typed(config.space, {k: v for k, v in params.items() if k in names}))
    return study


def _typed(space: SearchSpace, params: Mapping[str, float]) -> dict[str, Any]:
    kinds = {dim.name: dim for dim in space.dimensions}
    return {k: int(v) if kinds[k].is_int else float(v) for k, v in params.items()}


def count_trials(study: optuna.Study) -> int:
    """Trials that count towards ``n_trials``: complete, pruned or running."""
    return len(study.get_trials(deepcopy=False, states=_COUNTED))


def run_worker(
    config: StudyConfig,
    bars: pd.DataFrame,
    worker: int = 0,
    on_batch: Callable[[optuna.Study], None] | None = None,
    storage: optuna.storages.BaseStorage | None = None,
) -> int:
    """Run trials of the study until it holds ``n_trials`` or ``timeout`` passes; return trials told.

    ``storage`` reuses an open storage in this process (required for ``memory``); by default the worker
    opens ``config.storage_url`` itself, as a separate process must.
    """
    storage = storage or make_storage(config.storage_url, config.heartbeat)
    sampler = make_sampler(
        config.sampler, worker_seed(config.seed, worker), config.space,
        batch_size=config.batch_size, direction=config.directions[0],
    )  # fmt: skip
    study = optuna.load_study(study_name=config.study_name, storage=storage, sampler=sampler)
    # We send heartbeats for ask()ed batches ourselves (_BatchHeartbeat); Optuna warns as if we did not.
    warnings.filterwarnings("ignore", "Heartbeat of storage is supposed", UserWarning)
    warnings.filterwarnings("ignore", "Constraints have been set, but CmaEsSampler", UserWarning)
    deadline = time.monotonic() + config.timeout if config.timeout else math.inf
    evaluator = _Evaluator(config, bars, worker)
    told = 0
    while time.monotonic() < deadline:
        fail_stale(study, config.heartbeat.grace_period)
        batch = []
        for _ in range(config.batch_size):
            if count_trials(study) >= config.n_trials:
                break
            batch.append(study.ask(distributions(config.space)))
        if not batch:
            break
        told += evaluator.evaluate(study, batch)
        if on_batch is not None:
            on_batch(study)
    return told


class _Evaluator:
    def __init__(self, config: StudyConfig, bars: pd.DataFrame, worker: int) -> None:
        self.config = config
        self.bars = bars
        self.worker = worker
        self.cls = get_strategy(config.strategy)
        self.objective = get_objective(config.objective)
        self.columns = [param.name for param in self.cls.space()]

    def evaluate(self, study: optuna.Study, batch: list[optuna.Trial]) -> int:
        with _BatchHeartbeat(study, [trial._trial_id for trial in batch]):
            _test_sleep()
            rows = pd.DataFrame(
                [self.config.space.full_params(trial.params) for trial in batch], columns=self.columns
            )
            feasible = self.cls.feasible(rows[self.cls.param_names()].to_numpy(np.float64))
            kpis = pd.DataFrame(np.nan, index=rows.index, columns=list(KPI_NAMES))
            if feasible.any():
                swept = sweep(self.bars, self.cls, rows[feasible], config=self.config.engine_config)
                kpis.loc[feasible, list(KPI_NAMES)] = swept[list(KPI_NAMES)]
        objective = self.objective.from_kpis(kpis)
        violations = self.config.constraints.violations(kpis)
        told = 0
        for i, trial in enumerate(batch):
            row = kpis.iloc[i]
            told += self._tell(study, trial, bool(feasible[i]), row, float(objective[i]), violations[i])
        return told

    def _tell(
        self,
        study: optuna.Study,
        trial: optuna.Trial,
        feasible: bool,
        kpis: pd.Series,
        value: float,
        violations: np.ndarray,
    ) -> int:
        try:
            trial.set_user_attr("worker", self.worker)
            for name, violation in zip(self.config.constraints.names, violations, strict=True):
                trial.set_constraint(name, float(min(violation, 1e12)))
            if not feasible:
                trial.set_user_attr("infeasible", "breaks the strategy's parameter constraints")
                study.tell(trial, state=TrialState.PRUNED)
                return 1
            trial.set_user_attr("kpis", {k: (float(v) if np.isfinite(v) else None) for k, v in kpis.items()})
            if math.isnan(value):
                study.tell(trial, state=TrialState.PRUNED)
                return 1
            values = [value, float(kpis["max_drawdown_pct"])] if len(self.config.directions) == 2 else [value]
            study.tell(trial, values)
            return 1
        except (optuna.exceptions.UpdateFinishedTrialError, RuntimeError, ValueError):
            # Failed as stale by another worker while we were evaluating (our heartbeats stopped):
            # its retry copy carries the parameters on.
            return 0


class _BatchHeartbeat:
    """Records a heartbeat for every trial of a batch each ``heartbeat_interval`` s while evaluating."""

    def __init__(self, study: optuna.Study, trial_ids: list[int]) -> None:
        self._storage: Any = study._storage  # heartbeats are not part of the public Study API
        self._trial_ids = trial_ids
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> _BatchHeartbeat:
        from optuna.storages._heartbeat import is_heartbeat_enabled

        if is_heartbeat_enabled(self._storage):
            interval = float(self._storage.get_heartbeat_interval())
            self._thread = threading.Thread(target=self._beat, args=(interval,), daemon=True)
            self._thread.start()
        return self

    def _beat(self, interval: float) -> None:
        while True:
            for trial_id in self._trial_ids:
                self._storage.record_heartbeat(trial_id)
            if self._stop.wait(interval):
                return

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()


def _test_sleep() -> None:
    seconds = os.environ.get(TEST_SLEEP_ENV)
    if seconds:
        time.sleep(float(seconds))
