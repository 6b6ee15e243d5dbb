"""Deterministic resume of Stage B: trial slots, dead-run recovery and per-slot sampler seeds.

Every trial a worker asks fills a **slot**: position ``p`` of batch ``b`` (batches are numbered in the order
they are planned, across workers). A slot's parameters are a pure function of the study's finished trials
and the run's seed:

- the first slots (in planning order) take the warm start (the live parameters, then Stage A's top K), kept
  in the study's user attributes when it is created;
- every other slot is sampled by a fresh sampler seeded with ``SeedSequence([seed, b, p])``
  (:func:`slot_seed`), so what it proposes does not depend on how many proposals a sampler object made
  before (a restarted worker proposes what an uninterrupted one would have);
- a slot whose trial failed is run again with the same parameters.

**Dead runs.** A trial stamped with the lease of a worker that is no longer alive (or never stamped: its asker
died between ``ask`` and the stamp, which the study lock makes visible) is failed at once by the next worker,
under the study lock, and marked as a dead run's (:data:`DEAD_ATTR`). Failed trials do not count towards
``n_trials``, so a dead run's trials do not consume the budget, and a dead run's failures never count towards
``max_retry`` (the run died, not the trial). The first batch with an unfinished slot is completed before any
new batch is planned, so a run killed at any point and resumed tells the same parameters in the same order,
and the study's finished trials, its best parameters and the proposal are those of an uninterrupted run.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import optuna
from optuna.trial import FrozenTrial, TrialState

from optimizer._leases import Lease

__all__ = [
    "DEAD_ATTR",
    "SLOT_ATTR",
    "WARM_START_ATTR",
    "Slot",
    "plan_batch",
    "recover_dead_trials",
    "slot_seed",
    "stamp",
]

#: System attribute of every trial tradeloop asks: {"owner", "batch", "position", "size", "ordinal"}.
SLOT_ATTR = "tradeloop:slot"
#: System attribute set on a trial failed because its worker died.
DEAD_ATTR = "tradeloop:dead_run"
#: Study user attribute: the warm-start parameter sets, in order (a study tradeloop created has it).
WARM_START_ATTR = "tradeloop:warm_start"
_SETTLED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.RUNNING)


@dataclass(frozen=True)
class Slot:
    """One trial to ask: where it sits and, when they are known already, its parameters.

    Attributes
    ----------
    batch, position, size
        Batch number, position in it, and the batch's planned size.
    ordinal
        Its place among all planned slots (the index into the warm start).
    params
        Fixed parameters (a warm-start set, or those of the failed trial it re-runs); None: sampled.
    retry_of
        The number of the failed trial it re-runs, if any.
    """

    batch: int
    position: int
    size: int
    ordinal: int
    params: Mapping[str, Any] | None = None
    retry_of: int | None = None

    def attrs(self, owner: str | None) -> dict[str, Any]:
        values = {"batch": self.batch, "position": self.position, "size": self.size, "ordinal": self.ordinal}
        return values if owner is None else {**values, "owner": owner}


def slot_seed(seed: int, batch: int, position: int) -> int:
    """The sampler seed of slot (``batch``, ``position``): independent streams derived from the run's seed."""
    return int(np.random.SeedSequence([seed, batch, position]).generate_state(1)[0])


def stamp(study: optuna.Study, trial_id: int, slot: Slot, owner: str) -> None:
    """Record the slot and the owner's lease on an asked trial (one storage write)."""
    study._storage.set_trial_system_attr(trial_id, SLOT_ATTR, slot.attrs(owner))


def recover_dead_trials(study: optuna.Study, lease: Lease, managed: bool) -> list[int]:
    """Fail the RUNNING (and orphaned WAITING) trials of dead workers; return their numbers.

    Call it holding the study lock. ``managed``: the study was created by this code (it has
    :data:`WARM_START_ATTR`), so an unstamped RUNNING or WAITING trial can only be a dead asker's.
    """
    storage = study._storage
    dead: list[FrozenTrial] = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING, TrialState.WAITING)):
        info = trial.system_attrs.get(SLOT_ATTR)
        owner = info.get("owner") if isinstance(info, dict) else None
        if owner is not None:
            if not lease.alive(str(owner)):
                dead.append(trial)
        elif managed:
            dead.append(trial)  # asked (or queued) under the study lock but never stamped: its asker died
    failed = []
    for trial in dead:
        try:
            storage.set_trial_system_attr(trial._trial_id, DEAD_ATTR, True)
            if storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL):
                failed.append(trial.number)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # finished meanwhile (a slow tell that got through): nothing to recover
    return failed


def plan_batch(
    trials: Sequence[FrozenTrial],
    warm_start: Sequence[Mapping[str, Any]],
    *,
    names: Sequence[str],
    batch_size: int,
    budget_left: int,
    max_retry: int,
) -> list[Slot]:
    """The slots of the next batch: the first batch with an unfinished slot, else a new batch.

    Parameters
    ----------
    trials
        Every trial of the study (after :func:`recover_dead_trials`).
    warm_start
        The study's warm-start sets; slot ordinal ``i`` takes ``warm_start[i]``.
    names
        The searched parameters (a failed trial killed while being asked may lack some).
    batch_size
        The size of a new batch.
    budget_left
        ``n_trials`` minus the trials that count (complete, pruned, running); no slot beyond it.
    max_retry
        How often a slot whose trial failed on its own (not by a dead run) is tried again.
    """
    if budget_left <= 0:
        return []
    by_slot: dict[tuple[int, int], list[FrozenTrial]] = {}
    sizes: dict[int, tuple[int, int]] = {}
    for trial in trials:
        info = trial.system_attrs.get(SLOT_ATTR)
        if not isinstance(info, dict):
            continue
        batch, position = int(info["batch"]), int(info["position"])
        by_slot.setdefault((batch, position), []).append(trial)
        sizes[batch] = (int(info["size"]), int(info["ordinal"]) - position)
    for batch in sorted(sizes):
        size, first = sizes[batch]
        candidates = (
            _open_slot(by_slot.get((batch, p), []), batch, p, size, first, warm_start, names, max_retry)
            for p in range(size)
        )
        open_slots = [slot for slot in candidates if slot is not None]
        if open_slots:
            return open_slots[:budget_left]
    batch = max(sizes) + 1 if sizes else 0
    first = max((start + size for size, start in sizes.values()), default=0)
    size = min(batch_size, budget_left)
    return [
        Slot(batch, position, size, first + position, _warm(warm_start, first + position))
        for position in range(size)
    ]


def _open_slot(
    trials: list[FrozenTrial],
    batch: int,
    position: int,
    size: int,
    first: int,
    warm_start: Sequence[Mapping[str, Any]],
    names: Sequence[str],
    max_retry: int,
) -> Slot | None:
    """The slot to (re-)run at (batch, position), or None when it is finished, running or given up."""
    if any(trial.state in _SETTLED for trial in trials):
        return None
    failed = [trial for trial in trials if trial.state == TrialState.FAIL]
    own_failures = [trial for trial in failed if not trial.system_attrs.get(DEAD_ATTR)]
    if len(own_failures) > max_retry:
        return None
    ordinal = first + position
    complete = [trial for trial in failed if all(name in trial.params for name in names)]
    if not complete:  # never asked, or killed while being asked: derive it again, as the first time
        return Slot(batch, position, size, ordinal, _warm(warm_start, ordinal))
    template = max(complete, key=lambda trial: trial.number)
    return Slot(batch, position, size, ordinal, dict(template.params), template.number)


def _warm(warm_start: Sequence[Mapping[str, Any]], ordinal: int) -> Mapping[str, Any] | None:
    return warm_start[ordinal] if ordinal < len(warm_start) else None
