"""Stage B samplers by name: Optuna's TPE, GP, CMA-ES and NSGA-II, and scikit-optimize's GP via ask/tell."""

from __future__ import annotations

import importlib.util
from typing import Any, Literal, get_args

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import FrozenTrial, TrialState

from optimizer._space import Dimension, SearchSpace
from tradeloop.errors import OptimizerError

__all__ = ["SAMPLERS", "SamplerName", "SkoptSampler", "distributions", "make_sampler", "worker_seed"]

SamplerName = Literal["tpe", "gp", "cmaes", "nsga2", "skopt-gp"]
SAMPLERS: tuple[str, ...] = get_args(SamplerName)
#: Trials sampled at random before a model-based sampler takes over (warm-start trials count).
N_STARTUP_TRIALS = 10


def worker_seed(seed: int, worker: int) -> int:
    """A seed for worker ``worker``: independent streams derived from the run's ``seed`` (Stage B's samplers
    are seeded per slot instead: :func:`optimizer._slots.slot_seed`)."""
    return int(np.random.SeedSequence([seed, worker]).generate_state(1)[0])


def distributions(space: SearchSpace) -> dict[str, BaseDistribution]:
    """Optuna distributions of the searched dimensions."""
    return {dim.name: _distribution(dim) for dim in space.dimensions}


def _distribution(dim: Dimension) -> BaseDistribution:
    if dim.choices:
        return CategoricalDistribution(list(dim.choices))
    if dim.is_int:
        return IntDistribution(int(dim.low), int(dim.high))
    return FloatDistribution(dim.low, dim.high)


def make_sampler(
    name: str, seed: int, space: SearchSpace, *, batch_size: int = 1, direction: str = "maximize"
) -> optuna.samplers.BaseSampler:
    """The sampler called ``name`` (one of :data:`SAMPLERS`), seeded with ``seed``."""
    if name == "tpe":
        return optuna.samplers.TPESampler(
            seed=seed, n_startup_trials=N_STARTUP_TRIALS, multivariate=True, constant_liar=True,
        )  # fmt: skip
    if name == "gp":
        if importlib.util.find_spec("torch") is None:
            raise OptimizerError(
                "--sampler gp: Optuna's GPSampler needs PyTorch, which is not installed; "
                "pip install torch, or use --sampler skopt-gp (pip install 'tradeloop[skopt]')"
            )
        return optuna.samplers.GPSampler(seed=seed, n_startup_trials=N_STARTUP_TRIALS)
    if name == "cmaes":
        if importlib.util.find_spec("cmaes") is None:
            raise OptimizerError("--sampler cmaes needs the 'cmaes' package; pip install cmaes")
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed)
    if name == "skopt-gp":
        return SkoptSampler(space, seed, batch_size=batch_size, direction=direction)
    raise OptimizerError(f"--sampler {name!r} is not a sampler; use one of {', '.join(SAMPLERS)}")


class SkoptSampler(optuna.samplers.BaseSampler):
    """scikit-optimize's Gaussian-process ``Optimizer`` driven through ask/tell inside an Optuna study.

    Before each batch it tells the optimizer every finished trial it has not seen, then asks it for a whole
    batch at once (constant liar ``cl_min``, so the points of a batch differ); the trial at batch position
    ``position`` (set by the worker before each ask) takes point ``position``, so a resumed batch gives each
    position the point an uninterrupted one would.
    Trials stay in the Optuna storage, so workers, heartbeats and outputs work as with any other sampler.
    """

    def __init__(self, space: SearchSpace, seed: int, *, batch_size: int = 1, direction: str = "maximize"):
        try:
            import skopt  # type: ignore[import-untyped]
        except ImportError:
            raise OptimizerError(
                "--sampler skopt-gp needs scikit-optimize; install the extra: pip install 'tradeloop[skopt]'"
            ) from None
        self._space = space
        self._sign = -1.0 if direction == "maximize" else 1.0  # skopt minimises
        self._batch_size = max(1, batch_size)
        self._told: set[int] = set()
        self._pending: list[list[Any]] = []
        self.position = 0
        self._fallback = optuna.samplers.RandomSampler(seed=seed)
        dims = [_skopt_dimension(skopt, dim) for dim in space.dimensions]
        self._optimizer = skopt.Optimizer(
            dims, base_estimator="GP", n_initial_points=N_STARTUP_TRIALS, random_state=seed
        )

    def infer_relative_search_space(
        self, study: optuna.Study, trial: FrozenTrial
    ) -> dict[str, BaseDistribution]:
        return distributions(self._space)

    def sample_relative(
        self, study: optuna.Study, trial: FrozenTrial, search_space: dict[str, BaseDistribution]
    ) -> dict[str, Any]:
        if not search_space:
            return {}
        self._tell_finished(study)
        if not self._pending:
            self._pending = list(self._optimizer.ask(n_points=self._batch_size, strategy="cl_min"))
        point = self._pending[self.position % len(self._pending)]
        return {
            dim.name: _native(dim, value) for dim, value in zip(self._space.dimensions, point, strict=True)
        }

    def sample_independent(
        self,
        study: optuna.Study,
        trial: FrozenTrial,
        param_name: str,
        param_distribution: BaseDistribution,
    ) -> Any:
        return self._fallback.sample_independent(study, trial, param_name, param_distribution)

    def _tell_finished(self, study: optuna.Study) -> None:
        names = self._space.names
        xs, ys = [], []
        for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
            if (
                trial.number in self._told
                or trial.values is None
                or not all(n in trial.params for n in names)
            ):
                continue
            self._told.add(trial.number)
            xs.append([trial.params[n] for n in names])
            ys.append(self._sign * float(trial.values[0]))
        if xs:
            self._optimizer.tell(xs, ys)


def _skopt_dimension(skopt: Any, dim: Dimension) -> Any:
    if dim.choices:
        return skopt.space.Categorical(list(dim.choices), name=dim.name)
    if dim.is_int:
        return skopt.space.Integer(int(dim.low), int(dim.high), name=dim.name)
    return skopt.space.Real(dim.low, dim.high, name=dim.name)


def _native(dim: Dimension, value: Any) -> Any:
    if dim.choices:
        return float(value)
    return int(value) if dim.is_int else float(value)
