"""A seeded synthetic market: GARCH(1,1) returns whose drift, volatility and clustering switch by regime.

The regime follows a semi-Markov chain over ``bull``, ``bear``, ``sideways`` and ``high_vol``: each visit
lasts a random number of days (at least one, on average :attr:`Regime.mean_days`), then the next regime is
drawn from :data:`TRANSITIONS`. Durations are in days, not bars, so every timeframe sees the same kind of
market.

Within a regime, the log return of bar ``t`` is ``(mu - sigma**2 / 2) dt + sigma sqrt(dt h_t) z_t`` where
``dt`` is the bar's fraction of a 365-day year (the calendar is 24/7, like crypto), ``z_t`` is a unit-variance
Student-t (5 degrees of freedom) shock and ``h_t`` a GARCH(1,1) variance with unconditional mean 1::

    h_t = omega + (alpha z_{t-1}**2 + beta) h_{t-1},    omega = 1 - alpha - beta

``alpha`` and ``alpha + beta`` are given per day and scaled to the bar (``alpha sqrt(dt_days)`` and
``(alpha + beta) ** dt_days``) so that volatility clusters last as long in calendar time on every timeframe.
Each bar opens at the previous close; high and low add half-normal wicks to the body; volume scales with the
bar's length, the regime and the size of the shock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from backtest_matrix.data._frame import bars_frame
from backtest_matrix.data._timeframe import parse_timeframe
from tradeloop.errors import DataSourceError

__all__ = [
    "DEFAULT_START",
    "DEFAULT_SYNTHETIC_DAYS",
    "DEFAULT_SYNTHETIC_TIMEFRAME",
    "MAX_SYNTHETIC_BARS",
    "REGIMES",
    "TRANSITIONS",
    "Regime",
    "SyntheticSeries",
    "garch_variance",
    "generate_synthetic",
    "synthetic_bar_count",
]

DEFAULT_START = "2024-01-01T00:00:00+00:00"
DEFAULT_SYNTHETIC_TIMEFRAME = "1h"
DEFAULT_SYNTHETIC_DAYS = 365.0
MAX_SYNTHETIC_BARS = 10_000_000
START_PRICE = 100.0
DAYS_PER_YEAR = 365.0
STUDENT_T_DOF = 5.0
BASE_DAILY_VOLUME = 1_000_000.0
WICK_SCALE = 0.5


@dataclass(frozen=True)
class Regime:
    """One market regime.

    Attributes
    ----------
    name
        The label in :attr:`SyntheticSeries.regimes`.
    drift
        Annualised expected log return (0.8 = +80 % a year).
    volatility
        Annualised volatility of returns.
    alpha_daily, persistence_daily
        GARCH(1,1) ``alpha`` and ``alpha + beta`` for daily bars.
    mean_days
        Average length of a visit, in days.
    volume_multiplier
        Traded volume relative to the base volume.
    """

    name: str
    drift: float
    volatility: float
    alpha_daily: float
    persistence_daily: float
    mean_days: float
    volume_multiplier: float


REGIMES: tuple[Regime, ...] = (
    Regime("bull", drift=0.80, volatility=0.50, alpha_daily=0.06, persistence_daily=0.97, mean_days=40.0,
           volume_multiplier=1.0),
    Regime("bear", drift=-0.70, volatility=0.70, alpha_daily=0.09, persistence_daily=0.97, mean_days=25.0,
           volume_multiplier=1.4),
    Regime("sideways", drift=0.0, volatility=0.35, alpha_daily=0.04, persistence_daily=0.95, mean_days=30.0,
           volume_multiplier=0.7),
    Regime("high_vol", drift=-0.10, volatility=1.20, alpha_daily=0.12, persistence_daily=0.96, mean_days=8.0,
           volume_multiplier=2.5),
)  # fmt: skip
REGIME_NAMES = tuple(regime.name for regime in REGIMES)

# Row: the regime left; column: the next one (same order as REGIMES). A visit never follows itself.
TRANSITIONS = np.array(
    [
        [0.00, 0.20, 0.50, 0.30],
        [0.30, 0.00, 0.40, 0.30],
        [0.40, 0.35, 0.00, 0.25],
        [0.30, 0.30, 0.40, 0.00],
    ]
)


@dataclass(frozen=True)
class SyntheticSeries:
    """A synthetic series and the regime that generated each bar.

    Attributes
    ----------
    bars
        Bars (UTC index named ``timestamp``, float64 ``open high low close volume``).
    regimes
        Categorical series of regime names (``bull``, ``bear``, ``sideways``, ``high_vol``) on the same index.
    """

    bars: pd.DataFrame
    regimes: pd.Series


def synthetic_bar_count(timeframe: pd.Timedelta, *, days: float | None, bars: int | None) -> int:
    """The number of bars for ``days`` (whole bars that fit) or ``bars``; 365 days when neither is given."""
    if days is not None and bars is not None:
        raise DataSourceError(f"synthetic: give days or bars, not both (got days={days}, bars={bars})")
    if bars is not None:
        count = bars
    else:
        span_days = DEFAULT_SYNTHETIC_DAYS if days is None else days
        if not span_days > 0:
            raise DataSourceError(f"synthetic: days must be > 0, got {days}")
        count = math.floor(span_days * 86_400 / timeframe.total_seconds() + 1e-9)
    if count < 1:
        raise DataSourceError(
            f"synthetic: the series would have {count} bars (days={days}, bars={bars}, timeframe "
            f"{timeframe}); ask for at least one bar"
        )
    if count > MAX_SYNTHETIC_BARS:
        raise DataSourceError(
            f"synthetic: {count:,} bars requested, more than the {MAX_SYNTHETIC_BARS:,} allowed; "
            "use a higher timeframe or fewer days"
        )
    return count


def generate_synthetic(
    *,
    timeframe: str = DEFAULT_SYNTHETIC_TIMEFRAME,
    days: float | None = None,
    bars: int | None = None,
    seed: int = 0,
    start: str | pd.Timestamp | None = None,
) -> SyntheticSeries:
    """Generate a seeded synthetic OHLCV series with regime switches.

    Parameters
    ----------
    timeframe
        Bar timeframe, e.g. ``"5m"`` or ``"1d"`` (see :func:`parse_timeframe`).
    days, bars
        Length: ``days`` of a 24/7 calendar (whole bars that fit) or exactly ``bars`` bars; at most one of
        them. Neither means 365 days.
    seed
        Seed of :func:`numpy.random.default_rng`. The same seed and arguments give bit-identical bars.
    start
        Timestamp of the first bar; naive means UTC. Default 2024-01-01 00:00 UTC.

    Returns
    -------
    SyntheticSeries
        The bars and their regime labels.
    """
    step = parse_timeframe(timeframe)
    count = synthetic_bar_count(step, days=days, bars=bars)
    first = _start_timestamp(start)
    rng = np.random.default_rng(seed)
    dt_days = step.total_seconds() / 86_400
    regime_ids = _regime_path(rng, count, dt_days)
    shocks = rng.standard_t(STUDENT_T_DOF, count) * math.sqrt((STUDENT_T_DOF - 2) / STUDENT_T_DOF)
    bar_sigma, log_returns = _log_returns(regime_ids, shocks, dt_days)
    closes = START_PRICE * np.exp(np.cumsum(log_returns))
    opens = np.concatenate(([START_PRICE], closes[:-1]))
    wicks = np.abs(rng.standard_normal((2, count))) * WICK_SCALE * bar_sigma
    highs = np.maximum(opens, closes) * np.exp(wicks[0])
    lows = np.minimum(opens, closes) * np.exp(-wicks[1])
    volumes = _volumes(rng, regime_ids, shocks, dt_days)
    index = pd.date_range(first, periods=count, freq=step, name="timestamp")
    frame = bars_frame(index, {"open": opens, "high": highs, "low": lows, "close": closes, "volume": volumes})
    labels = pd.Categorical.from_codes(regime_ids.astype(np.int64), categories=pd.Index(REGIME_NAMES))
    return SyntheticSeries(bars=frame, regimes=pd.Series(labels, index=frame.index, name="regime"))


def _start_timestamp(start: str | pd.Timestamp | None) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(DEFAULT_START if start is None else start)
    except (ValueError, TypeError) as exc:
        raise DataSourceError(
            f"synthetic: start {start!r} is not a timestamp ({exc}); use ISO 8601 such as '2024-01-01T00:00Z'"
        ) from exc
    return stamp.tz_localize("UTC") if stamp.tz is None else stamp.tz_convert("UTC")


def _regime_path(rng: np.random.Generator, count: int, dt_days: float) -> npt.NDArray[np.int8]:
    """Per-bar regime ids: visits of at least one day (or one bar), mean ``Regime.mean_days``."""
    current = int(rng.integers(len(REGIMES)))
    codes: list[int] = []
    lengths: list[int] = []
    filled = 0
    while filled < count:
        regime = REGIMES[current]
        visit_days = 1.0 + rng.exponential(regime.mean_days - 1.0)
        length = max(1, round(visit_days / dt_days))
        codes.append(current)
        lengths.append(length)
        filled += length
        current = int(rng.choice(len(REGIMES), p=TRANSITIONS[current]))
    return np.repeat(np.array(codes, dtype=np.int8), lengths)[:count]


def _regime_table(dt_days: float) -> dict[str, npt.NDArray[np.float64]]:
    """Per-regime parameters scaled to one bar of ``dt_days`` days."""
    persistence = np.array([r.persistence_daily for r in REGIMES]) ** dt_days
    alpha = np.minimum(np.array([r.alpha_daily for r in REGIMES]) * math.sqrt(dt_days), 0.5 * persistence)
    return {
        "omega": 1.0 - persistence,
        "alpha": alpha,
        "beta": persistence - alpha,
        "drift": np.array([r.drift for r in REGIMES]),
        "volatility": np.array([r.volatility for r in REGIMES]),
        "volume": np.array([r.volume_multiplier for r in REGIMES]),
    }


def _log_returns(
    regime_ids: npt.NDArray[np.int8], shocks: npt.NDArray[np.float64], dt_days: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    """The per-bar return standard deviation and the log returns."""
    table = _regime_table(dt_days)
    variance = garch_variance(
        table["omega"][regime_ids], table["alpha"][regime_ids], table["beta"][regime_ids], shocks
    )
    dt_years = dt_days / DAYS_PER_YEAR
    sigma = table["volatility"][regime_ids]
    bar_sigma = sigma * np.sqrt(dt_years * variance)
    log_returns = (table["drift"][regime_ids] - 0.5 * sigma**2) * dt_years + bar_sigma * shocks
    return bar_sigma, log_returns


def garch_variance(
    omega: npt.NDArray[np.float64],
    alpha: npt.NDArray[np.float64],
    beta: npt.NDArray[np.float64],
    shocks: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """GARCH(1,1) conditional variance with per-bar parameters, starting at the unconditional level 1.

    ``h_0 = 1`` and ``h_t = omega_t + (alpha_t z_{t-1}**2 + beta_t) h_{t-1}`` where ``z`` are the
    unit-variance ``shocks``. A plain loop over Python floats: about 0.25 µs a bar, 50 ms for 210k bars.
    """
    squared = (shocks * shocks).tolist()
    omegas, alphas, betas = omega.tolist(), alpha.tolist(), beta.tolist()
    variance = [1.0] * len(squared)
    previous = 1.0
    for t in range(1, len(squared)):
        previous = omegas[t] + (alphas[t] * squared[t - 1] + betas[t]) * previous
        variance[t] = previous
    return np.array(variance, dtype=np.float64)


def _volumes(
    rng: np.random.Generator,
    regime_ids: npt.NDArray[np.int8],
    shocks: npt.NDArray[np.float64],
    dt_days: float,
) -> npt.NDArray[np.float64]:
    """Positive volumes: base × bar length × regime multiplier × (busier on big moves) × lognormal noise."""
    multiplier = _regime_table(dt_days)["volume"][regime_ids]
    noise = np.exp(0.35 * rng.standard_normal(len(regime_ids)) - 0.5 * 0.35**2)
    return BASE_DAILY_VOLUME * dt_days * multiplier * (0.5 + 0.5 * np.abs(shocks)) * noise
