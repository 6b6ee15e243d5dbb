"""The proposal's own evidence on the holdout: a paired one-sided Sharpe test and leverage-neutral returns.

The gating question is "does ``params_after`` beat ``params_before`` by at least the smallest improvement
worth deploying, on bars the search never saw?":

``H0: SR_after − SR_before ≤ δ``  against  ``H1: SR_after − SR_before > δ``,

with ``δ = MIN_SHARPE_IMPROVEMENT`` (annualised, converted per bar) and the standard error of the Sharpe
difference from Ledoit & Wolf's (2008) HAC estimator on the paired series. A Sharpe ratio does not change
when returns are scaled, so a pure position-size change (``trade_fraction``) cannot pass as skill; the
margin ``δ`` also keeps a change whose difference is second-order noise (a size change's compounding, with a
standard error as small as its effect) from looking significant.

The StepM and SPA comparisons work on returns, not Sharpe ratios, so their candidates are first
**volatility-matched** to the baseline (each column scaled to the baseline's standard deviation): a mean
return difference is then ``σ_b (SR_k − SR_b)``, the same ordering as the Sharpe test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import stats

from validation._arrays import FloatArray, as_matrix, as_series
from validation._ledoit_wolf import ledoit_wolf_sharpe_test
from validation._sharpe import sharpe_stats

__all__ = [
    "NEGLIGIBLE_RELATIVE",
    "PairedSharpeTest",
    "is_negligible",
    "paired_sharpe_test",
    "volatility_matched",
]

#: A differential whose largest absolute value is below this share of the baseline's return scale is zero.
NEGLIGIBLE_RELATIVE = 1e-12


@dataclass(frozen=True)
class PairedSharpeTest:
    """The one-sided paired test of ``SR_after − SR_before > margin`` (all figures per bar).

    Attributes
    ----------
    diff, margin
        The observed Sharpe difference and the margin ``δ`` of the null hypothesis.
    se
        Ledoit–Wolf HAC standard error of ``diff`` (NaN when it could not be computed).
    statistic
        ``(diff − margin) / se``.
    p_value
        ``1 − Φ(statistic)``; 1 when the two series do not differ (:func:`is_negligible`).
    min_trl_bars
        Bars the test needs to reject at its level with ``power`` when the true difference is the
        observed one: ``((z_{1−α} + z_power) · se·√n / (diff − margin))²``; ``inf`` when ``diff ≤ margin``.
    method
        ``"ledoit-wolf"``, ``"one-sample"`` (the baseline is flat: PSR-style test of the candidate's own
        Sharpe against the margin) or ``"no difference"``.
    """

    diff: float
    margin: float
    se: float
    statistic: float
    p_value: float
    min_trl_bars: float
    level: float
    power: float
    observations: int
    method: str


def is_negligible(differential: npt.ArrayLike, baseline: npt.ArrayLike) -> bool:
    """True when ``max |differential|`` is below ``NEGLIGIBLE_RELATIVE`` of the baseline's return scale.

    The scale is the mean absolute baseline return (0 for a baseline that never trades, in which case only
    an exactly zero differential is negligible). Such a differential is rounding, not an effect: it would
    otherwise be studentized into an arbitrarily large statistic.
    """
    diff = np.abs(np.asarray(differential, dtype=np.float64))
    scale = float(np.mean(np.abs(np.asarray(baseline, dtype=np.float64))))
    return bool(diff.max(initial=0.0) <= NEGLIGIBLE_RELATIVE * scale)


def paired_sharpe_test(
    candidate: npt.ArrayLike,
    baseline: npt.ArrayLike,
    *,
    margin: float = 0.0,
    level: float = 0.95,
    power: float = 0.8,
) -> PairedSharpeTest:
    """Test ``H0: SR_candidate − SR_baseline ≤ margin`` one-sided at ``level`` on paired per-bar returns.

    Parameters
    ----------
    candidate, baseline
        Per-bar returns of ``params_after`` and ``params_before`` on the same (holdout) bars.
    margin
        ``δ`` per bar (annualised margin / √bars per year).
    level
        ``CONFIDENCE_LEVEL``; the test rejects when ``p < 1 − level``.
    power
        Power of the minimum track record figure.

    References
    ----------
    Ledoit, O., & Wolf, M. (2008). Robust performance hypothesis testing with the Sharpe ratio. Journal of
    Empirical Finance, 15(5), 850-859.
    Bailey, D. H., & López de Prado, M. (2012). The Sharpe ratio efficient frontier. Journal of Risk,
    15(2), 3-44 (the one-sample standard error, eq. 10).
    """
    a = as_series(candidate, "candidate", min_length=10)
    b = as_series(baseline, "baseline", min_length=10)
    n = int(a.shape[0])
    z_alpha, z_power = float(stats.norm.ppf(level)), float(stats.norm.ppf(power))

    def result(diff: float, se: float, method: str) -> PairedSharpeTest:
        if method == "no difference" or not se > 0:
            statistic, p_value = -math.inf, 1.0
        else:
            statistic = (diff - margin) / se
            p_value = float(stats.norm.sf(statistic))
        excess = diff - margin
        trl = ((z_alpha + z_power) * se * math.sqrt(n) / excess) ** 2 if excess > 0 and se > 0 else math.inf
        return PairedSharpeTest(diff, margin, se, statistic, p_value, trl, level, power, n, method)

    if is_negligible(a - b, b):
        return result(0.0, 0.0, "no difference")
    if np.ptp(a) == 0.0:
        return result(-sharpe_stats(b).sharpe, math.nan, "flat candidate")
    if np.ptp(b) == 0.0:
        own = sharpe_stats(a)
        factor = 1.0 - own.skew * own.sharpe + (own.kurtosis - 1.0) / 4.0 * own.sharpe**2
        return result(own.sharpe, math.sqrt(max(factor, 0.0) / (n - 1)), "one-sample")
    test = ledoit_wolf_sharpe_test(a, b)
    return result(test.diff, test.se, "ledoit-wolf")


def volatility_matched(models: npt.ArrayLike, baseline: npt.ArrayLike) -> FloatArray:
    """Each column of ``models`` scaled to the baseline's standard deviation (a flat column stays flat).

    A column that differs from the baseline only negligibly (:func:`is_negligible`) becomes the baseline
    exactly, so a rounding-level differential cannot be studentized into significance.
    """
    matrix = as_matrix(models, "models")
    base = as_series(baseline, "baseline")
    target = float(np.std(base, ddof=1))
    spread = np.std(matrix, axis=0, ddof=1)
    scale = np.divide(target, spread, out=np.zeros_like(spread), where=spread > 0)
    matched = matrix * scale
    for column in range(matched.shape[1]):
        if is_negligible(matched[:, column] - base, base):
            matched[:, column] = base
    return np.asarray(matched, dtype=np.float64)
