"""The seeded neighbourhood of a base parameter set: nearby sets that one optimizer cycle could reach.

Each neighbour moves every parameter of the strategy's space (its own and the shared risk parameters) by a
uniform random fraction of at most the parameter's per-cycle cap (:attr:`Param.max_step_pct`) of its base
value, then clips it to the hard bounds. The step is relative, so a parameter at 0 (an exit switched off)
stays at 0. Integers are rounded to the nearest integer *inside* the capped range, so rounding never
breaks the cap; a ``choice`` parameter takes one of its choices inside the capped range.

Rows that break a strategy constraint (:class:`~backtest_matrix.strategies.Below`), or repeat the base set
or an earlier neighbour, are redrawn from the same generator, so the same seed gives the same sets.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from backtest_matrix.strategies import Param, Strategy
from tradeloop.errors import SettingsError

__all__ = ["draw_neighbourhood", "neighbourhood_rng"]

_MAX_ROUNDS = 64  # redraw rounds before giving up on a base set whose neighbourhood is nearly infeasible


def neighbourhood_rng(seed: int, strategy: str, symbol: str) -> np.random.Generator:
    """The generator of one (strategy, symbol) pair: the matrix seed plus a stable hash of the pair.

    Every pair gets its own stream, independent of the order of the matrix file.
    """
    digest = hashlib.sha256(f"{strategy}/{symbol}".encode()).digest()
    return np.random.default_rng([seed, int.from_bytes(digest[:8], "big")])


def _capped_range(param: Param, base: npt.NDArray[np.float64]) -> tuple[np.ndarray, np.ndarray]:
    """The lowest and highest value reachable from ``base`` in one cycle, inside the hard bounds."""
    step = np.abs(base) * param.max_step_pct / 100.0
    return np.maximum(base - step, param.low), np.minimum(base + step, param.high)


def _draw_column(param: Param, base: float, rows: int, rng: np.random.Generator) -> npt.NDArray[np.float64]:
    low, high = _capped_range(param, np.full(rows, base))
    if param.kind == "choice":
        choices = np.asarray(param.choices, dtype=np.float64)
        allowed = choices[(choices >= low[0] - 1e-12) & (choices <= high[0] + 1e-12)]
        if allowed.size == 0:  # the base itself is always a choice; guard against float noise anyway
            allowed = np.array([base])
        picked: npt.NDArray[np.float64] = allowed[rng.integers(0, allowed.size, size=rows)]
        return picked
    values = rng.uniform(low, high) if rows else np.empty(0)
    if param.kind == "int":
        values = np.clip(np.round(values), np.ceil(low - 1e-9), np.floor(high + 1e-9))
    return np.asarray(values, dtype=np.float64)


def draw_neighbourhood(
    strategy: type[Strategy],
    base: Mapping[str, float],
    samples: int,
    seed: int,
    *,
    symbol: str = "",
) -> list[dict[str, float]]:
    """``samples`` distinct, feasible parameter sets around ``base``, each within the per-cycle caps.

    Parameters
    ----------
    strategy
        The strategy whose parameter space (own + risk parameters) is sampled.
    base
        The resolved base set (``Strategy.resolve`` output): every parameter of the space.
    samples
        How many neighbours to draw (0 gives none).
    seed
        The matrix's neighbourhood seed.
    symbol
        The pair's symbol; with the strategy's name it picks the pair's own random stream.

    Returns
    -------
    list[dict[str, float]]
        Resolved parameter sets in draw order, none equal to ``base`` or to another.

    Raises
    ------
    SettingsError
        When ``samples`` feasible, distinct sets cannot be found (e.g. every parameter is pinned by its
        bounds or constraints); the message names the pair and the fix.
    """
    space = strategy.space()
    base_row = np.array([float(base[param.name]) for param in space])
    rng = neighbourhood_rng(seed, strategy.name, symbol)
    chosen: list[np.ndarray] = []
    seen = {base_row.tobytes()}
    own = len(strategy.params)
    for _ in range(_MAX_ROUNDS):
        if len(chosen) >= samples:
            break
        rows = max(2 * (samples - len(chosen)), 4)
        block = np.column_stack(
            [_draw_column(p, float(v), rows, rng) for p, v in zip(space, base_row, strict=True)]
        )
        feasible = strategy.feasible(block[:, :own])
        for row in block[feasible]:
            key = row.tobytes()
            if key not in seen and len(chosen) < samples:
                seen.add(key)
                chosen.append(row)
    if len(chosen) < samples:
        raise SettingsError(
            f"neighbourhood of {strategy.name}/{symbol or '-'}: found only {len(chosen)} distinct feasible "
            f"parameter sets of the {samples} asked for within the per-cycle caps of {dict(base)}; lower "
            "neighbourhood.samples in the matrix file or move the base set away from its bounds"
        )
    return [_as_params(space, row) for row in chosen]


def _as_params(space: tuple[Param, ...], row: np.ndarray) -> dict[str, float]:
    return {param.name: float(value) for param, value in zip(space, row.tolist(), strict=True)}
