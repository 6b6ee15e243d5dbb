"""Paired stationary-bootstrap confidence intervals for a candidate-vs-baseline difference on the same bars.

The (r_A, r_B) rows are resampled **jointly** (one index sequence for both series), so the correlation
between candidate and baseline, which share bars, signals and most trades, is kept: the difference's
sampling noise is that of the differential, not the sum of two independent noises.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from arch.bootstrap import StationaryBootstrap, optimal_block_length

from tradeloop.errors import ValidationError
from validation._arrays import (
    FloatArray,
    as_series,
    require_positive_int,
    require_probability,
    require_same_length,
    safe_divide,
)

PairedStat = Literal["sharpe_diff", "mean_diff"]
IntervalMethod = Literal["percentile", "bca"]


@dataclass(frozen=True)
class PairedBootstrapCI:
    """A bootstrap confidence interval for ``stat(r_a) − stat(r_b)``.

    Attributes
    ----------
    stat
        ``"sharpe_diff"`` (per-period Sharpe of A minus B) or ``"mean_diff"`` (mean return of A minus B).
    estimate
        The statistic on the original sample.
    low, high
        The interval bounds.
    level
        Nominal coverage, e.g. 0.95.
    block_length
        Mean block length of the stationary bootstrap (given, or from ``optimal_block_length``).
    reps
        Bootstrap replications.
    method
        ``"percentile"`` or ``"bca"``.
    """

    stat: PairedStat
    estimate: float
    low: float
    high: float
    level: float
    block_length: int
    reps: int
    method: IntervalMethod

    @property
    def interval(self) -> tuple[float, float]:
        """``(low, high)``."""
        return (self.low, self.high)


def paired_bootstrap_ci(
    r_a: npt.ArrayLike,
    r_b: npt.ArrayLike,
    stat: PairedStat = "sharpe_diff",
    reps: int = 2000,
    level: float = 0.95,
    seed: int = 0,
    block_length: int | None = None,
    method: IntervalMethod = "percentile",
) -> PairedBootstrapCI:
    """Stationary-bootstrap CI of the Sharpe or mean difference of two return series on the same bars.

    Both series are resampled with the **same** stationary-bootstrap indices (arch's
    ``StationaryBootstrap`` over the pair). The mean block length, unless given, is Politis & White's
    (2004, corrected 2009) optimal stationary-bootstrap length of the differential ``r_a − r_b``
    (``arch.bootstrap.optimal_block_length``), rounded up, at least 1.

    Intervals: ``"percentile"`` (default) takes the ``(1 ± level)/2`` quantiles of the bootstrap
    distribution; ``"bca"`` applies Efron's bias correction and acceleration (the jackknife acceleration
    assumes independent rows, so prefer the percentile interval on strongly dependent returns).

    Parameters
    ----------
    r_a, r_b
        Per-period returns of the candidate (A) and the baseline (B), aligned row by row.
    stat
        ``"sharpe_diff"`` (per-period, ddof=1) or ``"mean_diff"``.
    reps
        Bootstrap replications.
    level
        Coverage in (0, 1).
    seed
        Seed of the bootstrap's generator.
    block_length
        Mean block length; ``None`` estimates it from the differential.
    method
        ``"percentile"`` or ``"bca"``.

    Returns
    -------
    PairedBootstrapCI

    References
    ----------
    Politis, D. N., & Romano, J. P. (1994). The stationary bootstrap. JASA, 89(428), 1303-1313.
    Politis, D. N., & White, H. (2004). Automatic block-length selection for the dependent bootstrap.
    Econometric Reviews, 23(1), 53-70; correction: Patton, Politis & White (2009), 28(4), 372-375.
    Efron, B. (1987). Better bootstrap confidence intervals. JASA, 82(397), 171-185.
    """
    a = as_series(r_a, "r_a", min_length=8)
    b = as_series(r_b, "r_b", min_length=8)
    require_same_length(a, b, "r_a", "r_b")
    require_positive_int(reps, "reps", minimum=10)
    require_probability(level, "level")
    if stat not in ("sharpe_diff", "mean_diff"):
        raise ValidationError(f"paired_bootstrap_ci: stat must be 'sharpe_diff' or 'mean_diff', got {stat!r}")
    if method not in ("percentile", "bca"):
        raise ValidationError(f"paired_bootstrap_ci: method must be 'percentile' or 'bca', got {method!r}")
    if block_length is None:
        block_length = stationary_block_length(a - b)
    require_positive_int(block_length, "block_length")
    statistic = _sharpe_diff if stat == "sharpe_diff" else _mean_diff
    bootstrap = StationaryBootstrap(block_length, a, b, seed=seed)
    bounds = bootstrap.conf_int(statistic, reps=reps, method=method, size=level)
    return PairedBootstrapCI(
        stat=stat,
        estimate=float(statistic(a, b)[0]),
        low=float(bounds[0, 0]),
        high=float(bounds[1, 0]),
        level=level,
        block_length=block_length,
        reps=reps,
        method=method,
    )


def stationary_block_length(series: npt.ArrayLike) -> int:
    """Politis–White optimal mean block length of the stationary bootstrap, rounded up, at least 1.

    A flat series (no autocorrelation to estimate) gets 1.
    """
    values = as_series(series, "series", min_length=8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        length = float(optimal_block_length(values)["stationary"].iloc[0])
    return max(1, math.ceil(length)) if math.isfinite(length) else 1


def _sharpe_diff(a: FloatArray, b: FloatArray) -> FloatArray:
    sharpe = safe_divide(np.array([a.mean(), b.mean()]), np.array([a.std(ddof=1), b.std(ddof=1)]))
    return np.array([sharpe[0] - sharpe[1]])


def _mean_diff(a: FloatArray, b: FloatArray) -> FloatArray:
    return np.array([a.mean() - b.mean()])
