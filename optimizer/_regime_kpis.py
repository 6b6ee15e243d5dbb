"""KPIs of one equity curve restricted to the bars of each market regime (contract 1 ``regime_kpis``)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

__all__ = ["REGIME_NAMES", "masked_kpis", "regime_kpis"]

REGIME_NAMES: tuple[str, ...] = ("bull", "bear", "sideways", "high_vol")


def masked_kpis(returns: np.ndarray, periods_per_year: float) -> dict[str, float]:
    """``bars``, ``return_pct``, ``sharpe`` and ``max_drawdown_pct`` of the concatenated per-bar ``returns``.

    The returns of a regime's bars are chained in time order as if the segments were contiguous: the
    return compounds them, the Sharpe ratio is ``mean / std (ddof 1) · sqrt(periods_per_year)`` as the
    engine computes it (NaN when undefined), and the drawdown is that of the chained curve, in %.
    """
    n = len(returns)
    if n == 0:
        return {"bars": 0, "return_pct": math.nan, "sharpe": math.nan, "max_drawdown_pct": math.nan}
    growth = np.cumprod(1.0 + returns)
    peaks = np.maximum.accumulate(np.concatenate(([1.0], growth)))[1:]
    std = float(np.std(returns, ddof=1)) if n > 1 else math.nan
    sharpe = float(np.mean(returns)) / std * math.sqrt(periods_per_year) if std > 0 else math.nan
    return {
        "bars": n,
        "return_pct": 100.0 * (float(growth[-1]) - 1.0),
        "sharpe": sharpe,
        "max_drawdown_pct": 100.0 * float(np.max(1.0 - growth / peaks)),
    }


def regime_kpis(
    returns: pd.Series, labels: pd.Series, periods_per_year: float
) -> dict[str, dict[str, float]]:
    """:func:`masked_kpis` per regime that labels at least one bar (unlabelled warm-up bars are left out).

    Parameters
    ----------
    returns
        Per-bar simple returns of the equity curve.
    labels
        The per-bar regime (``detect_regimes(bars).labels``) on the same index.
    periods_per_year
        Bars per year, to annualise the Sharpe ratio.
    """
    aligned = labels.reindex(returns.index).astype(object)
    values = returns.to_numpy(dtype=np.float64)
    result: dict[str, dict[str, float]] = {}
    for regime in REGIME_NAMES:
        mask = (aligned == regime).to_numpy(dtype=bool)
        if mask.any():
            result[regime] = masked_kpis(values[mask], periods_per_year)
    return result
