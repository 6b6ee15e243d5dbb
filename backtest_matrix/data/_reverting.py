"""A seeded mean-reverting market: a random-walk fair value plus an Ornstein–Uhlenbeck deviation.

The log price of bar ``t`` is ``m_t + x_t``: the fair value ``m`` is a Gaussian random walk with per-bar
volatility ``fair_value_volatility_pct``, and the deviation follows the AR(1) form of an Ornstein–Uhlenbeck
process, ``x_t = φ x_{t−1} + s ε_t`` with ``φ = 0.5 ** (1 / half_life_bars)`` and ``s`` chosen so that the
stationary standard deviation of ``x`` is ``deviation_pct``. A band strategy that buys deep deviations and
sells rich ones has a real, known edge here, which the engine's costs erode when it trades too often: the
market in which validation's power is measured against a planted, known improvement (the calibration
benchmark) and the demo pair's live parameters are stale by construction.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from backtest_matrix.data._frame import bars_frame
from backtest_matrix.data._synthetic import DEFAULT_START, START_PRICE
from backtest_matrix.data._timeframe import parse_timeframe
from tradeloop.errors import DataSourceError

__all__ = ["generate_reverting"]


def generate_reverting(
    *,
    bars: int,
    timeframe: str = "15m",
    half_life_bars: float = 23.0,
    deviation_pct: float = 1.2,
    fair_value_volatility_pct: float = 0.1,
    seed: int = 0,
    start: str | None = None,
) -> pd.DataFrame:
    """``bars`` seeded bars of the mean-reverting market (module docstring).

    Parameters
    ----------
    bars
        Number of bars (>= 2).
    timeframe
        Bar timeframe, e.g. ``"15m"``; bars are consecutive on a 24/7 calendar.
    half_life_bars
        Half-life of a deviation from fair value, in bars (> 0).
    deviation_pct
        Stationary standard deviation of the deviation, in % of the price (>= 0; 0 is a random walk).
    fair_value_volatility_pct
        Per-bar volatility of the fair value's random walk, in % (>= 0).
    seed
        Seed of :func:`numpy.random.default_rng`; the same arguments give bit-identical bars.
    start
        Timestamp of the first bar (default 2024-01-01 00:00 UTC).
    """
    if bars < 2 or not half_life_bars > 0 or deviation_pct < 0 or fair_value_volatility_pct < 0:
        raise DataSourceError(
            f"reverting market: need bars >= 2, half_life_bars > 0 and non-negative volatilities; got "
            f"bars={bars}, half_life_bars={half_life_bars}, deviation_pct={deviation_pct}, "
            f"fair_value_volatility_pct={fair_value_volatility_pct}"
        )
    rng = np.random.default_rng(seed)
    phi = 0.5 ** (1.0 / half_life_bars)
    shock = deviation_pct / 100.0 * math.sqrt(1.0 - phi * phi)
    fair = np.cumsum(rng.normal(0.0, fair_value_volatility_pct / 100.0, bars))
    deviation = _ar1(rng.normal(0.0, shock, bars), phi)
    close = START_PRICE * np.exp(fair + deviation)
    open_ = np.concatenate(([START_PRICE], close[:-1]))
    # Intrabar ranges at least as wide as the fair value's own moves: bars without wicks (a random walk,
    # deviation 0) would let a tight trailing stop leave at the open of every down bar and ride every up
    # bar, an edge no real market offers (a Sharpe of 30 on a random walk without costs).
    wick_scale = max(shock, fair_value_volatility_pct / 100.0) / 2.0
    wicks = np.abs(rng.normal(0.0, wick_scale, (2, bars)))
    high = np.maximum(open_, close) * np.exp(wicks[0])
    low = np.minimum(open_, close) * np.exp(-wicks[1])
    volume = 1e6 * (1.0 + np.abs(rng.standard_normal(bars)))
    index = pd.date_range(
        start or DEFAULT_START, periods=bars, freq=parse_timeframe(timeframe), name="timestamp"
    )
    return bars_frame(index, {"open": open_, "high": high, "low": low, "close": close, "volume": volume})


def _ar1(shocks: np.ndarray, phi: float) -> np.ndarray:
    """``x_t = φ x_{t−1} + e_t`` from ``x_{−1} = 0``, as a linear filter (no Python loop)."""
    from scipy.signal import lfilter

    return np.asarray(lfilter([1.0], [1.0, -phi], shocks), dtype=np.float64)
