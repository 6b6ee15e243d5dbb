"""Stage B: an Optuna study on shared storage, evaluated in batches by the sweep engine.

A worker repeatedly ``ask()``\\ s a batch of trials, evaluates the whole batch with ONE
``backtest_matrix.engine.sweep`` call while a heartbeat thread keeps the batch's trials alive, and
``tell()``\\ s the results. Several workers (processes, on one machine or many) share a study through its
storage; each plans and asks its batch under the study lock, counting the trials already there, so together
they run exactly ``n_trials``. Which parameters a batch's trials get, and how a killed run is resumed, is
:mod:`optimizer._slots`; which workers are alive, :mod:`optimizer._leases`.

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
from optimizer._leases import Lease, open_lease
from optimizer._samplers import SkoptSampler, distributions, make_sampler
from optimizer._slots import (
    SLOT_ATTR,
    WARM_START_ATTR,
    Slot,
    plan_batch,
    recover_dead_trials,
    slot_seed,
    stamp,
)
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
    """Create the study (or load it: ``load_if_exists``) and, when it is new, record ``warm_start``.

    ``warm_start[0]`` should be the live parameters (trial 0), followed by Stage A's top K; the first slots
    of the study take them in order (:mod:`optimizer._slots`). Creation holds the study lock, so two runs
    creating the same study at once get one study.
    """
    storage = make_storage(config.storage_url, config.heartbeat)
    with open_lease(config.storage_url) as lease, lease.study_lock(config.study_name):
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
        if not study.trials:  # new, or created by a run killed before its first trial: (re)initialise
            names = set(config.space.names)
            study.set_user_attr("space", config.space.as_dict())
            study.set_user_attr("objective", config.objective)
            warm = [
                _typed(config.space, {k: v for k, v in params.items() if k in names}) for params in warm_start
            ]
            study.set_user_attr(WARM_START_ATTR, warm)  # last: its presence marks a complete set-up
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
    opens ``config.storage_url`` itself, as a separate process must. The worker holds a lease on the storage
    while it runs (:mod:`optimizer._leases`); before each batch it fails the trials of dead workers and plans
    the batch's slots (:mod:`optimizer._slots`), so a resumed study continues where a killed run stopped.
    """
    storage = storage or make_storage(config.storage_url, config.heartbeat)
    study = optuna.load_study(study_name=config.study_name, storage=storage)
    # We send heartbeats for ask()ed batches ourselves (_BatchHeartbeat); Optuna warns as if we did not.
    warnings.filterwarnings("ignore", "Heartbeat of storage is supposed", UserWarning)
    warnings.filterwarnings("ignore", "Constraints have been set, but CmaEsSampler", UserWarning)
    deadline = time.monotonic() + config.timeout if config.timeout else math.inf
    evaluator = _Evaluator(config, bars, worker)
    told = 0
    with open_lease(config.storage_url) as lease:
        while time.monotonic() < deadline:
            fail_stale(study, config.heartbeat.grace_period)
            batch = _ask_batch(study, config, lease)
            if not batch:
                break
            told += evaluator.evaluate(study, batch)
            if on_batch is not None:
                on_batch(study)
    return told


def _ask_batch(study: optuna.Study, config: StudyConfig, lease: Lease) -> list[optuna.Trial]:
    """Under the study lock: fail dead runs' trials, plan the next batch's slots, ask and stamp each."""
    with lease.study_lock(config.study_name):
        user_attrs = study.user_attrs
        recover_dead_trials(study, lease, managed=WARM_START_ATTR in user_attrs)
        slots = plan_batch(
            study.get_trials(deepcopy=False), user_attrs.get(WARM_START_ATTR, []), names=config.space.names,
            batch_size=config.batch_size, budget_left=config.n_trials - count_trials(study),
            max_retry=config.heartbeat.max_retry,
        )  # fmt: skip
        samplers = _SlotSamplers(config)
        return [_ask(study, config, lease, slot, samplers) for slot in slots]


def _ask(
    study: optuna.Study, config: StudyConfig, lease: Lease, slot: Slot, samplers: _SlotSamplers
) -> optuna.Trial:
    if slot.params is not None:  # a warm-start set or a failed slot's parameters: queued, then asked
        system: dict[str, Any] = {
            SLOT_ATTR: slot.attrs(None),
            "fixed_params": _typed(config.space, slot.params),
        }
        if slot.retry_of is not None:
            system["failed_trial"] = slot.retry_of
        study.add_trial(optuna.trial.create_trial(state=TrialState.WAITING, system_attrs=system))
    study.sampler = samplers.for_slot(slot)
    trial = study.ask(distributions(config.space))
    stamp(study, trial._trial_id, slot, lease.token)
    return trial


class _SlotSamplers:
    """A sampler per slot, seeded by :func:`optimizer._slots.slot_seed`: what it proposes depends on the
    study's trials and the slot, never on earlier proposals of a sampler object (a restart changes nothing).
    scikit-optimize proposes a whole batch at once, so its sampler is made per batch and picks by position."""

    def __init__(self, config: StudyConfig) -> None:
        self._config = config
        self._per_batch: dict[int, optuna.samplers.BaseSampler] = {}

    def for_slot(self, slot: Slot) -> optuna.samplers.BaseSampler:
        config = self._config
        if config.sampler != "skopt-gp":
            return make_sampler(
                config.sampler, slot_seed(config.seed, slot.batch, slot.position), config.space,
                batch_size=slot.size, direction=config.directions[0],
            )  # fmt: skip
        sampler = self._per_batch.get(slot.batch)
        if sampler is None:
            sampler = make_sampler(
                config.sampler, slot_seed(config.seed, slot.batch, 0), config.space,
                batch_size=slot.size, direction=config.directions[0],
            )  # fmt: skip
            self._per_batch[slot.batch] = sampler
        if isinstance(sampler, SkoptSampler):
            sampler.position = slot.position
        return sampler


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
                # A batch is a few trials: a GPU's launch and transfers would cost more than they save.
                swept = sweep(
                    self.bars, self.cls, rows[feasible], config=self.config.engine_config, device="cpu"
                )
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
