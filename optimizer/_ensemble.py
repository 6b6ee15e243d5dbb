"""Ensemble weights across strategies: max-Sharpe mean-variance, risk parity or equal weight, bounded per
strategy, summing to 1, with a turnover cap per cycle.

**Expected returns** have two parts. The prior (:func:`expected_returns`) is recent, regime-conditional
performance: each strategy's mean per-bar return over the bars of the current regime (all bars when the
regime has fewer than ``min_regime_bars``). The adjustment (:func:`grinold_alpha`) is Grinold's forecasting
rule of thumb [1]_, ``alpha = volatility × IC × score``, for the quantity the information coefficient is
measured on: the mean per-bar return of the next ``lookback``-bar block. With ``m`` the means of the
non-overlapping ``lookback``-bar blocks of the last ``bars`` bars (:func:`block_means`), ``m_last`` the most
recent, ``m̄`` and ``s`` their mean and sample standard deviation, the score is ``z = (m_last − m̄) / s`` (how
far the latest block is from the usual one, in its own standard deviations), the volatility is ``s`` and the
IC (the rank correlation of one block's mean with the next, ``recent_ic``) says how much of that deviation
persists, so ``alpha = IC × s × z = IC × (m_last − m̄)``: the regression forecast of the next block's
deviation from the mean. A recent winner whose performance persists (IC > 0, ``z > 0``) gets a positive
alpha, a persistent recent loser a negative one, and a recent winner whose performance reverts (IC < 0) a
negative one. ``alpha`` is of the order of the block means' deviation, so it adjusts the prior rather than
swamping it; the expected per-bar return is ``prior + alpha``.

**Turnover cap** (:func:`cap_turnover`): turnover is ``½ Σ |target - current|``, the share of total weight
that moves. When it exceeds ``max_turnover`` the new weights are ``current + (max_turnover / turnover) ×
(target - current)``, a step along the straight line to the target, so bounds and the sum of 1 still hold.
Current weights that break the bounds (a strategy just added at 0 %) are first projected onto them (the
nearest bounded weights summing to 1, in Euclidean distance); that repair does not count as turnover.

References
----------
.. [1] Grinold, R. C., Kahn, R. N. (2000). Active Portfolio Management, 2nd ed., McGraw-Hill, ch. 10
   (Forecasting rule of thumb: alpha = volatility × IC × score).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import optimize, stats

from tradeloop.errors import OptimizerError

__all__ = [
    "EnsembleMethod",
    "EnsembleWeights",
    "block_means",
    "cap_turnover",
    "ensemble_weights",
    "expected_returns",
    "grinold_alpha",
    "information_coefficient",
    "max_sharpe_weights",
    "project_to_bounds",
    "recent_score",
    "risk_contributions",
    "risk_parity_weights",
]

EnsembleMethod = Literal["max_sharpe", "risk_parity", "equal"]
_TOLERANCE = 1e-12


@dataclass(frozen=True)
class EnsembleWeights:
    """Weights by strategy (summing to 1), the method, the uncapped target and the turnover taken."""

    weights: dict[str, float]
    method: EnsembleMethod
    target: dict[str, float]
    turnover: float


def check_bounds(n: int, low: float, high: float) -> None:
    """Raise :class:`OptimizerError` unless ``n`` weights in ``[low, high]`` can sum to 1."""
    if not (0 <= low <= high <= 1) or n * low > 1 + _TOLERANCE or n * high < 1 - _TOLERANCE:
        raise OptimizerError(
            f"ensemble weight bounds [{low:g}, {high:g}] are infeasible for {n} strategies: "
            f"{n} × {low:g} = {n * low:g} must be <= 1 and {n} × {high:g} = {n * high:g} must be >= 1; "
            f"use between {math.ceil(1 / high - _TOLERANCE) if high > 0 else 'inf'} and "
            f"{math.floor(1 / low + _TOLERANCE) if low > 0 else 'any number of'} strategies "
            "or widen the bounds"
        )


def information_coefficient(predicted: pd.Series, realized: pd.Series) -> float:
    """Spearman rank correlation of forecasts and the returns that followed (NaN pairs dropped)."""
    pairs = pd.concat([predicted, realized], axis=1).dropna()
    if len(pairs) < 3:
        return math.nan
    return float(stats.spearmanr(pairs.iloc[:, 0], pairs.iloc[:, 1]).statistic)


def expected_returns(
    returns: pd.DataFrame,
    *,
    labels: pd.Series | None = None,
    regime: str | None = None,
    min_regime_bars: int = 30,
) -> pd.Series:
    """Per-strategy regime-conditional mean per-bar return: the prior of the expected returns (module doc).

    The mean over the bars that ``labels`` marks with ``regime``; over all bars when no regime is given or it
    has fewer than ``min_regime_bars`` bars.
    """
    sample = returns
    if labels is not None and regime is not None:
        in_regime = returns[(labels.reindex(returns.index).astype(object) == regime).to_numpy()]
        if len(in_regime) >= min_regime_bars:
            sample = in_regime
    return sample.mean()


def block_means(returns: pd.Series, *, bars: int, lookback: int) -> pd.Series:
    """Means of the non-overlapping ``lookback``-bar blocks of the last ``bars`` bars, oldest first.

    The blocks end at the last bar, so the most recent block is a whole one; the bars before the first whole
    block are left out. Empty when there are fewer than ``lookback`` bars.
    """
    if bars < 1 or lookback < 1:
        raise OptimizerError(f"block_means: bars ({bars}) and lookback ({lookback}) must be at least 1")
    count = min(bars, len(returns)) // lookback
    recent = returns.iloc[len(returns) - count * lookback :]
    return recent.groupby(np.arange(len(recent)) // lookback).mean().reset_index(drop=True)


def _deviation(returns: pd.Series, bars: int, lookback: int) -> tuple[float, float]:
    """``m_last − m̄`` and ``s`` of the block means (module doc); ``(0, 0)`` with fewer than 3 blocks."""
    means = block_means(returns, bars=bars, lookback=lookback).dropna()
    if len(means) < 3:
        return 0.0, 0.0
    spread = float(means.std(ddof=1))
    if not spread > 0:
        return 0.0, 0.0
    return float(means.iloc[-1] - means.mean()), spread


def recent_score(returns: pd.Series, *, bars: int, lookback: int) -> float:
    """Grinold's score of one strategy: ``z = (m_last − m̄) / s`` of its block means (module doc).

    0 with fewer than 3 blocks or block means that do not vary.
    """
    deviation, spread = _deviation(returns, bars, lookback)
    return deviation / spread if spread > 0 else 0.0


def grinold_alpha(returns: pd.DataFrame, *, ic: Mapping[str, float], bars: int, lookback: int) -> pd.Series:
    """Per-strategy forecast of the next block's mean per-bar return in excess of the usual one:
    ``alpha = volatility × IC × score = IC × (m_last − m̄)`` (module doc; Grinold and Kahn, ch. 10).

    Parameters
    ----------
    returns
        Per-bar returns, one column per strategy.
    ic
        The information coefficient of each column: the rank correlation of one ``lookback``-bar block's
        mean return with the next one's (``recent_ic``). A NaN IC gives alpha 0.
    bars, lookback
        The last ``bars`` bars are cut into ``lookback``-bar blocks (:func:`block_means`), the same blocks the
        IC is measured on. Fewer than 3 blocks, or block means that do not vary, give alpha 0.

    References
    ----------
    .. [1] Grinold, R. C., Kahn, R. N. (2000). Active Portfolio Management, 2nd ed., McGraw-Hill, ch. 10.
    """
    missing = [name for name in returns.columns if name not in ic]
    if missing:
        raise OptimizerError(f"grinold_alpha: ic has no value for {missing}; pass one per strategy")
    alpha = {}
    for name in returns.columns:
        coefficient = float(ic[name])
        deviation, _ = _deviation(returns[name], bars, lookback)
        alpha[name] = 0.0 if math.isnan(coefficient) else coefficient * deviation
    return pd.Series(alpha, dtype=float)


def risk_contributions(weights: np.ndarray, covariance: np.ndarray) -> np.ndarray:
    """Each weight's share of the portfolio variance: ``w_i (Σw)_i / (w'Σw)``; they sum to 1."""
    marginal = covariance @ weights
    return np.asarray(weights * marginal / float(weights @ marginal), dtype=float)


def risk_parity_weights(covariance: np.ndarray, *, tol: float = 1e-14, max_iter: int = 100) -> np.ndarray:
    """Equal-risk-contribution weights (long only, summing to 1) by Newton's method.

    Solves Spinu's convex problem ``min ½ y'Σy - (1/n) Σ ln y_i`` (its optimum has ``y_i (Σy)_i = 1/n``)
    with the exact Hessian ``Σ + diag(1/(n y²))`` and a step that keeps ``y > 0``; ``w = y / Σy``.

    References
    ----------
    .. [1] Spinu, F. (2013). An algorithm for computing risk parity weights. SSRN 2297383.
    .. [2] Maillard, S., Roncalli, T., Teiletche, J. (2010). The properties of equally weighted risk
       contribution portfolios. Journal of Portfolio Management 36(4), 60-70.
    """
    sigma = np.asarray(covariance, float)
    n = sigma.shape[0]
    budget = np.full(n, 1.0 / n)
    y = budget / np.sqrt(np.diag(sigma))
    for _ in range(max_iter):
        gradient = sigma @ y - budget / y
        if np.max(np.abs(gradient)) < tol:
            break
        step = np.linalg.solve(sigma + np.diag(budget / y**2), gradient)
        scale = 1.0
        while np.any(y - scale * step <= 0):  # stay in the positive orthant
            scale /= 2.0
        y = y - scale * step
    return np.asarray(y / y.sum(), dtype=float)


def max_sharpe_weights(mu: np.ndarray, covariance: np.ndarray, low: float, high: float) -> np.ndarray:
    """Bounded long-only weights maximising ``w'μ / sqrt(w'Σw)`` with ``Σw = 1`` (SLSQP, several starts)."""
    n = len(mu)

    def negative_sharpe(w: np.ndarray) -> float:
        return -float(w @ mu) / math.sqrt(max(float(w @ covariance @ w), 1e-300))

    starts = [np.full(n, 1.0 / n)] + [project_to_bounds(np.eye(n)[i], low, high) for i in range(n)]
    best: np.ndarray | None = None
    for start in starts:
        result = optimize.minimize(
            negative_sharpe, start, method="SLSQP", bounds=[(low, high)] * n,
            constraints=[{"type": "eq", "fun": lambda w: float(np.sum(w)) - 1.0}],
            options={"ftol": 1e-12, "maxiter": 500},
        )  # fmt: skip
        candidate = project_to_bounds(np.asarray(result.x, float), low, high)
        if best is None or negative_sharpe(candidate) < negative_sharpe(best):
            best = candidate
    assert best is not None
    return best


def project_to_bounds(weights: np.ndarray, low: float, high: float) -> np.ndarray:
    """The nearest weights (Euclidean) in ``[low, high]`` summing to 1: ``clip(w + λ)``, λ by bisection."""
    check_bounds(len(weights), low, high)
    w = np.asarray(weights, float)
    lo, hi = low - float(w.max()), high - float(w.min())
    for _ in range(200):
        shift = (lo + hi) / 2.0
        if np.clip(w + shift, low, high).sum() > 1.0:
            hi = shift
        else:
            lo = shift
    projected = np.clip(w + (lo + hi) / 2.0, low, high)
    return _renormalise(projected, low, high)


def _renormalise(weights: np.ndarray, low: float, high: float) -> np.ndarray:
    """Put the rounding residue of the sum on the weights that have room for it."""
    residue = 1.0 - float(weights.sum())
    room = (high - weights) if residue > 0 else (weights - low)
    if abs(residue) > 0 and room.sum() > 0:
        weights = weights + residue * room / room.sum()
    return np.asarray(np.clip(weights, low, high), dtype=float)


def cap_turnover(current: np.ndarray, target: np.ndarray, max_turnover: float) -> tuple[np.ndarray, float]:
    """Step from ``current`` towards ``target`` moving at most ``max_turnover`` of total weight."""
    if not 0 <= max_turnover <= 1:
        raise OptimizerError(
            f"max_turnover must be within [0, 1] (share of total weight), got {max_turnover!r}"
        )
    turnover = 0.5 * float(np.abs(target - current).sum())
    if turnover <= max_turnover:
        return target, turnover
    return current + (max_turnover / turnover) * (target - current), max_turnover


def ensemble_weights(
    returns: pd.DataFrame,
    method: EnsembleMethod = "max_sharpe",
    *,
    mu: pd.Series | None = None,
    min_weight: float = 0.05,
    max_weight: float = 0.40,
    current: Mapping[str, float] | None = None,
    max_turnover: float | None = None,
) -> EnsembleWeights:
    """Weights for the strategies in the columns of ``returns`` (per-bar returns, aligned).

    Parameters
    ----------
    returns
        One column per strategy; the covariance is estimated from it.
    method
        ``max_sharpe`` (needs ``mu``, default the column means), ``risk_parity`` or ``equal``.
    mu
        Expected per-bar returns (see :func:`expected_returns`).
    min_weight, max_weight
        Bounds of each weight (5 % and 40 %); infeasible bounds raise :class:`OptimizerError`.
    current, max_turnover
        The weights in force and the turnover cap per cycle (module docstring); no cap when None.
    """
    names = [str(name) for name in returns.columns]
    n = len(names)
    check_bounds(n, min_weight, max_weight)
    covariance = returns.cov().to_numpy()
    if method == "equal":
        target = np.full(n, 1.0 / n)
    elif method == "risk_parity":
        target = project_to_bounds(risk_parity_weights(covariance), min_weight, max_weight)
    elif method == "max_sharpe":
        expected = (returns.mean() if mu is None else mu.reindex(returns.columns)).to_numpy(float)
        target = max_sharpe_weights(expected, covariance, min_weight, max_weight)
    else:
        raise OptimizerError(f"ensemble method {method!r} is unknown; use max_sharpe, risk_parity or equal")
    weights, turnover = target, 0.0
    if current is not None and max_turnover is not None:
        start = np.array([float(current.get(name, 0.0)) for name in names])
        start = project_to_bounds(start, min_weight, max_weight)
        weights, turnover = cap_turnover(start, target, max_turnover)
    return EnsembleWeights(
        weights=dict(zip(names, weights.tolist(), strict=True)),
        method=method,
        target=dict(zip(names, target.tolist(), strict=True)),
        turnover=turnover,
    )
