"""Expected gain per parameter: the objective change of moving that parameter alone to its clipped value."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd

from optimizer._proposal import ClippedValue

__all__ = ["Evaluator", "KpiScore", "expected_gains", "sweep_evaluator"]

#: Scores a batch of parameter sets (higher is better; NaN for a set that cannot be scored).
Evaluator = Callable[[Sequence[Mapping[str, float]]], Sequence[float]]
#: Turns sweep KPI rows into one objective value per row.
KpiScore = Callable[[pd.DataFrame], np.ndarray]


def expected_gains(
    current: Mapping[str, float], clipped: Mapping[str, ClippedValue], evaluate: Evaluator
) -> dict[str, float]:
    """One-at-a-time gains, evaluated in one batch: the live set plus one set per moving parameter.

    The gain of parameter ``p`` is ``objective(current with p at its clipped value) - objective(current)``.
    A set the evaluator cannot score (NaN, e.g. one that breaks a strategy constraint) gains ``-inf``, so
    it is never chosen.
    """
    moving = [value for value in clipped.values() if value.moves]
    if not moving:
        return {}
    batch = [dict(current)] + [{**current, value.parameter: value.proposed} for value in moving]
    scores = [float(score) for score in evaluate(batch)]
    base = scores[0]
    gains: dict[str, float] = {}
    for value, score in zip(moving, scores[1:], strict=True):
        gain = score - base
        gains[value.parameter] = gain if math.isfinite(gain) else -math.inf
    return gains


def sweep_evaluator(
    bars: pd.DataFrame, strategy: str, score: KpiScore, config: object | None = None
) -> Evaluator:
    """An :data:`Evaluator` that backtests a batch with one ``backtest_matrix.engine.sweep`` call.

    Sets that break the strategy's constraints are not run and score NaN.
    """
    from backtest_matrix.engine import EngineConfig, sweep
    from backtest_matrix.strategies import get_strategy

    cls = get_strategy(strategy)
    engine_config = config if isinstance(config, EngineConfig) else None

    def evaluate(batch: Sequence[Mapping[str, float]]) -> list[float]:
        frame = pd.DataFrame([dict(params) for params in batch])
        own = frame.reindex(columns=cls.param_names()).fillna(cls.defaults()).to_numpy(np.float64)
        ok = cls.feasible(own)
        scores = np.full(len(frame), np.nan)
        if ok.any():
            kpis = sweep(bars, cls, frame[ok].reset_index(drop=True), config=engine_config)
            scores[ok] = np.asarray(score(kpis), dtype=np.float64)
        return scores.tolist()

    return evaluate
