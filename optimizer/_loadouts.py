"""Regime loadouts: one parameter set per market regime, optimised on that regime's bars.

For each regime (bull, bear, sideways, high_vol) the candidates are scored on the per-bar returns of the
bars the detector labels with that regime (``detect_regimes(bars).labels``): each candidate is backtested
once over all bars (positions carry across regime boundaries, as they would live) and its returns are
restricted to the regime's bars, chained, and scored by their annualised Sharpe ratio
(:func:`optimizer.masked_kpis`).

The candidates obey the proposal guardrails by construction: a seeded sample in which each candidate moves
at most ``max_knobs`` of the live parameters, each by at most ``max_delta`` of its live value (the hard
range for a value of 0) and inside its hard bounds (:func:`optimizer.clip_parameters`), and keeps the
strategy's constraints. A regime keeps the live values when it has fewer than ``min_bars`` bars or when no
candidate beats the live values there.

The result has the shape of ``REGIME_LOADOUTS`` in ``config/constants.py``: strategy → symbol → regime →
parameters, with only the parameters of the live entry (``timeframe`` left out), integers as ``int``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from optimizer._proposal import clip_parameters
from optimizer._regime_kpis import REGIME_NAMES, masked_kpis
from tradeloop.errors import OptimizerError

__all__ = ["RegimeLoadout", "loadout_candidates", "loadouts_structure", "regime_loadouts"]


@dataclass(frozen=True)
class RegimeLoadout:
    """The parameters chosen for one regime, their regime Sharpe ratio, the regime's bar count and why."""

    regime: str
    params: dict[str, float]
    sharpe: float
    live_sharpe: float
    bars: int
    source: str


def loadout_candidates(
    strategy: str,
    current: Mapping[str, float],
    *,
    max_delta: float,
    max_knobs: int,
    samples: int,
    seed: int,
) -> list[dict[str, float]]:
    """The live set followed by up to ``samples`` distinct feasible sets within the guardrails."""
    from backtest_matrix.strategies import get_strategy

    cls = get_strategy(strategy)
    space = {param.name: param for param in cls.space()}
    names = sorted(current)
    unknown = [name for name in names if name not in space]
    if unknown:
        raise OptimizerError(f"{strategy}: live parameters {unknown} are not parameters of the strategy")
    bounds = {name: (space[name].low, space[name].high) for name in names}
    ints = {name for name in names if space[name].kind == "int"}
    rng = np.random.default_rng(seed)
    live = np.array([float(current[name]) for name in names])
    scale = np.where(live != 0, np.abs(live), np.array([bounds[n][1] - bounds[n][0] for n in names]))
    targets = live + max_delta * scale * rng.uniform(-1.0, 1.0, size=(samples, len(names)))
    knobs = rng.integers(1, max(max_knobs, 1) + 1, size=samples)
    order = np.argsort(rng.random((samples, len(names))), axis=1)
    kept = np.argsort(order, axis=1) < knobs[:, None]  # a random subset of `knobs` parameters per row
    targets = np.where(kept, targets, live)
    candidates = [dict(zip(names, live.tolist(), strict=True))]
    seen = {tuple(live.tolist())}
    for row in targets:
        best = dict(zip(names, row.tolist(), strict=True))
        clipped = clip_parameters(current, best, hard_bounds=bounds, int_params=ints, max_delta=max_delta)
        params = {name: clipped[name].proposed for name in names}
        key = tuple(params[name] for name in names)
        if key in seen or max_knobs < 1:
            continue
        full = {**cls.defaults(), **params}
        if not cls.feasible(np.array([[full[p] for p in cls.param_names()]]))[0]:
            continue
        seen.add(key)
        candidates.append(params)
    return candidates


def regime_loadouts(
    bars: pd.DataFrame,
    strategy: str,
    current: Mapping[str, float],
    *,
    labels: pd.Series | None = None,
    max_delta: float = 0.2,
    max_knobs: int = 3,
    samples: int = 48,
    seed: int = 0,
    min_bars: int = 60,
    engine_config: Any = None,
) -> dict[str, RegimeLoadout]:
    """The best guardrailed parameter set per regime (module docstring); every regime gets one.

    Parameters
    ----------
    bars
        The bars to optimise on.
    strategy, current
        The strategy and its live parameters (numbers only, no ``timeframe``).
    labels
        Per-bar regimes; ``detect_regimes(bars).labels`` when None.
    max_delta, max_knobs
        The proposal guardrails (OPTIMIZER_MAX_DELTA, OPTIMIZER_MAX_KNOBS).
    samples, seed
        Size and seed of the candidate sample.
    min_bars
        Fewest bars of a regime to optimise it; below, the regime keeps the live values.
    engine_config
        ``backtest_matrix.engine.EngineConfig`` (fees, slippage, fills); the default when None.
    """
    from backtest_matrix.engine import backtest, periods_per_year
    from backtest_matrix.regimes import detect_regimes

    if labels is None:
        labels = detect_regimes(bars).labels
    aligned = labels.reindex(bars.index).astype(object).to_numpy()
    per_year = periods_per_year(pd.DatetimeIndex(bars.index).as_unit("ns").asi8)
    candidates = loadout_candidates(
        strategy, current, max_delta=max_delta, max_knobs=max_knobs, samples=samples, seed=seed
    )
    returns = [
        backtest(bars, strategy, params, config=engine_config).returns.to_numpy(float)
        for params in candidates
    ]
    chosen: dict[str, RegimeLoadout] = {}
    for regime in REGIME_NAMES:
        mask = aligned == regime
        count = int(mask.sum())
        sharpes = np.array([masked_kpis(r[mask], per_year)["sharpe"] for r in returns])
        live_sharpe = float(sharpes[0])
        if count < min_bars:
            chosen[regime] = RegimeLoadout(
                regime, dict(candidates[0]), live_sharpe, live_sharpe, count,
                f"live values: {count} {regime} bars < {min_bars}",
            )  # fmt: skip
            continue
        ranked = np.where(np.isfinite(sharpes), sharpes, -math.inf)
        best = int(np.argmax(ranked))  # the first maximum: the live set wins ties
        source = "optimised" if best > 0 else "live values: no candidate beats them"
        chosen[regime] = RegimeLoadout(
            regime, dict(candidates[best]), float(sharpes[best]), live_sharpe, count, source
        )
    return chosen


def loadouts_structure(
    strategy: str, symbol: str, loadouts: Mapping[str, RegimeLoadout], int_params: set[str] | frozenset[str]
) -> dict[str, dict[str, dict[str, dict[str, int | float]]]]:
    """``REGIME_LOADOUTS`` for one pair: strategy → symbol → regime → parameters (integers as ``int``)."""
    return {
        strategy: {
            symbol: {
                regime: {
                    name: int(value) if name in int_params else float(value)
                    for name, value in sorted(loadout.params.items())
                }
                for regime, loadout in loadouts.items()
            }
        }
    }
