"""Stage A: a vectorised prescreen of many combinations with the batch engine.

Combinations are generated as whole arrays (uniform random, scrambled Sobol or a grid; no Python loop per
combination), mapped into the :class:`~optimizer._space.SearchSpace`, de-duplicated, filtered by the
strategy's own constraints (:meth:`Strategy.feasible`) and evaluated by ``backtest_matrix.engine.sweep``
in a few large chunks. Rows with fewer than ``min_trades`` trades or breaking a hard constraint are
dropped; the rest are ranked by the objective and the top K is written to ``stage_a_top.json``.

The engine computes a strategy's signals once per distinct set of signal (non-risk) parameters and shares
them by all rows with those values; with every random or Sobol row drawing its own indicator values,
nothing is shared and the signal pass costs as much as the simulation. So random and Sobol draws snap the
signal parameters onto a lattice (``signal_levels`` strata per dimension, each point moved to its stratum's
midpoint, which keeps Sobol's stratification) while the risk parameters stay continuous.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from backtest_matrix.engine import KPI_NAMES, RISK_NAMES, EngineConfig, resolve_device, sweep_in_chunks
from backtest_matrix.strategies import Strategy, get_strategy
from optimizer._constraints import Constraints
from optimizer._space import SearchSpace
from optimizer.objectives import Objective
from tradeloop._atomic import atomic_write_text
from tradeloop._provenance import json_safe
from tradeloop.errors import OptimizerError

__all__ = ["STAGE_A_FILE", "PrescreenMethod", "PrescreenResult", "generate_combinations", "prescreen"]

PrescreenMethod = Literal["random", "sobol", "grid"]
STAGE_A_FILE = "stage_a_top.json"
_CHUNK_ROWS = 50_000
# On a GPU, one chunk fills the device (a kernel launch and the bars' transfer per chunk).
_CHUNK_ROWS_GPU = 1_000_000
# Rows per distinct signal-parameter set the automatic lattice aims at: the sweep's task size.
_ROWS_PER_SIGNAL = 64
# The automatic lattice never has fewer levels per signal dimension than this.
_MIN_SIGNAL_LEVELS = 16


@dataclass(frozen=True)
class PrescreenResult:
    """What Stage A found.

    Attributes
    ----------
    top
        The best ``top_k`` rows that passed the filters, best first: parameter columns, the KPI columns
        and ``objective``.
    generated, feasible, passed
        Rows generated (after de-duplication), rows meeting the strategy's constraints, rows that passed
        ``min_trades`` and the hard constraints.
    path
        The ``stage_a_top.json`` written, if any.
    evaluated
        Every row the engine evaluated (the feasible ones), in generation order: the parameter columns
        and the KPI columns. The search record counts them all.
    """

    top: pd.DataFrame
    generated: int
    feasible: int
    passed: int
    path: Path | None
    evaluated: pd.DataFrame = field(default_factory=pd.DataFrame, repr=False)

    def top_params(self, names: list[str]) -> list[dict[str, float]]:
        return [{name: float(row[name]) for name in names} for row in self.top.to_dict("records")]


def generate_combinations(
    space: SearchSpace, n: int, method: PrescreenMethod, seed: int, *, signal_levels: int | None = None
) -> pd.DataFrame:
    """``n`` combinations inside ``space`` (fewer after de-duplication), one column per parameter.

    ``grid`` uses ``floor(n ** (1/d))`` levels per dimension (fewer for a narrow integer or choice
    dimension), so it can return fewer than ``n`` rows. The fixed parameters are added as constant columns.

    For ``random`` and ``sobol``, each signal (non-risk) dimension is cut into ``signal_levels`` equal
    strata of the unit interval and every draw is moved to its stratum's midpoint, so that many rows share
    their signal parameters; ``None`` picks :func:`_auto_signal_levels`, ``0`` turns the lattice off.
    """
    if n < 1:
        raise OptimizerError(f"Stage A: the number of combinations must be at least 1, got {n}")
    if signal_levels is not None and signal_levels < 0:
        raise OptimizerError(
            f"Stage A: signal_levels must be 0 (off) or a positive number of levels, got {signal_levels}"
        )
    dims = space.dimensions
    if not dims:
        values = np.empty((1, 0))
    elif method == "grid":
        values = _grid(space, n)
    else:
        units = _unit_samples(len(dims), n, method, seed)
        signal = np.array([dim.name not in RISK_NAMES for dim in dims])
        levels = _auto_signal_levels(n, int(signal.sum())) if signal_levels is None else signal_levels
        if levels > 0:
            units[:, signal] = (np.floor(units[:, signal] * levels) + 0.5) / levels
        values = np.column_stack([dim.from_unit(col) for dim, col in zip(dims, units.T, strict=True)])
    values = _unique_rows(values)
    frame = pd.DataFrame(values, columns=space.names)
    for name, value in space.fixed.items():
        frame[name] = value
    return frame


def _auto_signal_levels(n: int, signal_dims: int) -> int:
    """Levels per signal dimension so that about ``_ROWS_PER_SIGNAL`` rows share each lattice point.

    At least ``_MIN_SIGNAL_LEVELS`` (small runs keep a fine lattice; they are cheap anyway); 0 (no
    lattice) when there is no signal dimension.
    """
    if signal_dims == 0:
        return 0
    points = max(1.0, n / _ROWS_PER_SIGNAL)
    return max(_MIN_SIGNAL_LEVELS, math.ceil(math.pow(points, 1.0 / signal_dims) - 1e-9))


def _unit_samples(d: int, n: int, method: str, seed: int) -> np.ndarray:
    if method == "random":
        return np.random.default_rng(seed).random((n, d))
    if method == "sobol":
        from scipy.stats import qmc

        sampler = qmc.Sobol(d, scramble=True, seed=np.random.default_rng(seed))
        return np.asarray(sampler.random_base2(max(0, math.ceil(math.log2(n)))))[:n]
    raise OptimizerError(f"Stage A: unknown method {method!r}; use random, sobol or grid")


def _grid(space: SearchSpace, n: int) -> np.ndarray:
    per_axis = max(2, math.floor(n ** (1.0 / len(space.dimensions)) + 1e-9))
    axes = []
    for dim in space.dimensions:
        if dim.choices:
            axis = np.asarray(dim.choices)
        elif dim.is_int:
            axis = np.unique(
                np.round(np.linspace(dim.low, dim.high, min(per_axis, int(dim.high - dim.low) + 1)))
            )
        else:
            axis = np.linspace(dim.low, dim.high, per_axis)
        axes.append(axis)
    mesh = np.meshgrid(*axes, indexing="ij")
    return np.column_stack([axis.ravel() for axis in mesh])


def _unique_rows(values: np.ndarray) -> np.ndarray:
    """Distinct rows, in order of first appearance (deterministic)."""
    if len(values) <= 1:
        return values
    _, first = np.unique(values, axis=0, return_index=True)
    return values[np.sort(first)]


def prescreen(
    bars: pd.DataFrame,
    strategy: str | type[Strategy],
    space: SearchSpace,
    objective: Objective,
    *,
    n: int = 10_000,
    method: PrescreenMethod = "sobol",
    seed: int = 0,
    top_k: int = 20,
    constraints: Constraints | None = None,
    engine_config: EngineConfig | None = None,
    out_dir: Path | None = None,
    on_chunk: Callable[[int, int], None] | None = None,
    signal_levels: int | None = None,
    device: str | None = None,
) -> PrescreenResult:
    """Generate, filter, evaluate and rank ``n`` combinations; write the top ``top_k`` to ``out_dir``.

    ``signal_levels`` is passed to :func:`generate_combinations` (``None``: automatic lattice); ``device``
    (``auto``, ``cpu``, ``cuda``; ``None``: the ``TRADELOOP_DEVICE`` setting) to the engine's ``sweep``.
    """
    cls = get_strategy(strategy) if isinstance(strategy, str) else strategy
    constraints = constraints or Constraints()
    combos = generate_combinations(space, n, method, seed, signal_levels=signal_levels)
    generated = len(combos)
    own = combos.reindex(columns=cls.param_names()).to_numpy(np.float64)
    combos = combos[cls.feasible(own)].reset_index(drop=True)
    results = _evaluate(bars, cls, combos, engine_config, on_chunk, resolve_device(device))
    passed = results[constraints.passes(results)].copy()
    passed["objective"] = objective.from_kpis(passed)
    passed = passed[np.isfinite(passed["objective"].to_numpy())]
    order = np.argsort(objective.rank_key(passed["objective"].to_numpy()), kind="stable")
    top = passed.iloc[order[:top_k]].reset_index(drop=True)
    result = PrescreenResult(top, generated, len(combos), len(passed), None, results)
    if out_dir is not None:
        path = write_stage_a(
            out_dir, result, space, objective, method=method, seed=seed, n=n, signal_levels=signal_levels
        )
        result = replace(result, path=path)
    return result


def _evaluate(
    bars: pd.DataFrame,
    cls: type[Strategy],
    combos: pd.DataFrame,
    engine_config: EngineConfig | None,
    on_chunk: Callable[[int, int], None] | None,
    device: str = "cpu",
) -> pd.DataFrame:
    if combos.empty:
        return pd.DataFrame(columns=[*combos.columns, *KPI_NAMES])
    # Chunks of rows sorted by the signal parameters, so that each lattice point's rows share one signal
    # computation in one chunk (in generation order, a chunk held a fifth of every point's rows).
    rows = _CHUNK_ROWS if device == "cpu" else _CHUNK_ROWS_GPU
    results = sweep_in_chunks(bars, cls, combos, rows, config=engine_config, device=device, on_chunk=on_chunk)
    return results.reset_index(drop=True)


def write_stage_a(
    out_dir: Path, result: PrescreenResult, space: SearchSpace, objective: Objective, **meta: Any
) -> Path:
    """Write ``stage_a_top.json``: the space, the counts and the top rows (params, objective, KPIs)."""
    names = [*space.names, *space.fixed]
    rows = [
        {
            "params": {name: float(row[name]) for name in names},
            "objective": float(row["objective"]),
            "kpis": {name: float(row[name]) for name in KPI_NAMES},
        }
        for row in result.top.to_dict("records")
    ]
    document = {
        "kind": "tradeloop.stage_a",
        "objective": {"name": objective.name, "direction": objective.direction},
        **meta,
        "space": space.as_dict(),
        "generated": result.generated,
        "feasible": result.feasible,
        "passed": result.passed,
        "top": rows,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / STAGE_A_FILE
    atomic_write_text(path, json.dumps(json_safe(document), indent=2, allow_nan=False) + "\n")
    return path
