"""Sharpe-ratio statistics: PSR, minimum track record, expected maximum Sharpe, DSR, effective trials.

Conventions (Bailey & López de Prado 2012, 2014), used throughout:

* Sharpe ratios are **per period** (per bar), not annualised: ``SR = mean / std`` with ``ddof=1``.
  Annualise figures for display only, and deannualise literature inputs (``SR_annual / sqrt(periods)``,
  ``V_annual / periods``) before passing them here.
* Skewness ``γ3`` and kurtosis ``γ4`` are the plain moment estimators (``scipy.stats.skew`` /
  ``kurtosis(fisher=False)`` with ``bias=True``); **kurtosis is raw** (3 for a normal), not excess.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import stats
from scipy.cluster import hierarchy
from scipy.spatial.distance import squareform

from tradeloop.errors import ValidationError
from validation._arrays import FloatArray, as_matrix, as_series, require_probability, safe_divide

EULER_MASCHERONI = 0.5772156649015329


@dataclass(frozen=True)
class SharpeStats:
    """The moments of one return series that PSR, DSR and MinTRL need.

    Attributes
    ----------
    sharpe
        Per-period Sharpe ratio (mean / std, ``ddof=1``).
    n
        Number of observations.
    skew
        Skewness γ3 (biased moment estimator).
    kurtosis
        Raw (non-excess) kurtosis γ4; 3 for a normal distribution.
    """

    sharpe: float
    n: int
    skew: float
    kurtosis: float


def sharpe_ratio(returns: npt.ArrayLike) -> float:
    """Per-period Sharpe ratio of one return series, ``mean / std`` (``ddof=1``), no risk-free rate.

    A flat series has Sharpe 0 (a candidate that never trades), a non-zero constant one ``±inf``.

    References
    ----------
    Sharpe, W. F. (1994). The Sharpe ratio. Journal of Portfolio Management, 21(1), 49-58.
    """
    return float(sharpe_ratios(as_series(returns, "returns"))[0])


def sharpe_ratios(returns_matrix: npt.ArrayLike) -> FloatArray:
    """Per-period Sharpe ratio of every column of a (T × N) return matrix (see :func:`sharpe_ratio`)."""
    matrix = as_matrix(returns_matrix, "returns_matrix")
    return safe_divide(matrix.mean(axis=0), matrix.std(axis=0, ddof=1))


def sharpe_stats(returns: npt.ArrayLike) -> SharpeStats:
    """The per-period Sharpe ratio, length, skewness and raw kurtosis of one return series."""
    series = as_series(returns, "returns", min_length=3)
    flat = bool(np.ptp(series) == 0.0)
    return SharpeStats(
        sharpe=sharpe_ratio(series),
        n=int(series.shape[0]),
        skew=0.0 if flat else float(stats.skew(series, bias=True)),
        kurtosis=3.0 if flat else float(stats.kurtosis(series, fisher=True, bias=True)) + 3.0,
    )


def probabilistic_sharpe_ratio(
    sr: float, sr_benchmark: float, n: int, skew: float = 0.0, kurtosis: float = 3.0
) -> float:
    """Probability that the true Sharpe ratio exceeds ``sr_benchmark`` (PSR).

    ``PSR = Φ( (SR − SR*) √(n − 1) / √(1 − γ3 SR + (γ4 − 1)/4 SR²) )`` with ``SR``, ``SR*`` per period
    (non-annualised), ``γ3`` the skewness and ``γ4`` the **raw** kurtosis (3 for a normal).

    Parameters
    ----------
    sr
        Observed per-period Sharpe ratio.
    sr_benchmark
        Per-period benchmark Sharpe ratio SR*.
    n
        Number of observations behind ``sr``.
    skew, kurtosis
        γ3 and raw γ4 of the returns behind ``sr``.

    Returns
    -------
    float
        The PSR, in [0, 1].

    References
    ----------
    Bailey, D. H., & López de Prado, M. (2012). The Sharpe ratio efficient frontier. Journal of Risk,
    15(2), 3-44, eq. (10).
    """
    if n < 2:
        raise ValidationError(f"PSR: n (observations) must be >= 2, got {n}")
    z = (sr - sr_benchmark) * math.sqrt(n - 1) / _sharpe_std_factor(sr, skew, kurtosis)
    return float(stats.norm.cdf(z))


def min_track_record_length(
    sr: float, sr_benchmark: float, skew: float = 0.0, kurtosis: float = 3.0, probability: float = 0.95
) -> float:
    """Minimum number of observations for the PSR of ``sr`` over ``sr_benchmark`` to reach ``probability``.

    ``MinTRL = 1 + (1 − γ3 SR + (γ4 − 1)/4 SR²) (Z_p / (SR − SR*))²`` (per-period SR, raw kurtosis).
    The inverse of :func:`probabilistic_sharpe_ratio` in ``n``: ``PSR(sr, sr*, MinTRL) = probability``.

    Returns
    -------
    float
        Observations (bars) needed; ``inf`` when ``sr <= sr_benchmark`` (no track record suffices).

    References
    ----------
    Bailey, D. H., & López de Prado, M. (2012). The Sharpe ratio efficient frontier. Journal of Risk,
    15(2), 3-44, eq. (11).
    """
    require_probability(probability, "MinTRL: probability")
    if sr <= sr_benchmark:
        return math.inf
    z = float(stats.norm.ppf(probability))
    return 1.0 + _sharpe_std_factor(sr, skew, kurtosis) ** 2 * (z / (sr - sr_benchmark)) ** 2


def expected_max_sharpe(n_trials: int, variance: float = 1.0, mean: float = 0.0) -> float:
    """Expected maximum of ``n_trials`` independent Sharpe ratios with the given mean and variance.

    ``E[max] ≈ mean + √V ((1 − γ) Φ⁻¹(1 − 1/N) + γ Φ⁻¹(1 − 1/(N e)))`` with γ the Euler–Mascheroni
    constant. With ``mean = 0`` this is the DSR's benchmark SR₀. ``N = 1`` gives ``mean``.

    References
    ----------
    Bailey, D. H., Borwein, J. M., López de Prado, M., & Zhu, Q. J. (2014). Pseudo-mathematics and
    financial charlatanism: the effects of backtest overfitting on out-of-sample performance. Notices of
    the AMS, 61(5), 458-471, eq. (2)-(3).
    """
    if isinstance(n_trials, bool) or n_trials < 1:
        raise ValidationError(f"expected_max_sharpe: n_trials must be >= 1, got {n_trials!r}")
    if variance < 0 or not math.isfinite(variance):
        raise ValidationError(f"expected_max_sharpe: variance must be finite and >= 0, got {variance}")
    if n_trials == 1:
        return mean
    quantiles = stats.norm.ppf([1.0 - 1.0 / n_trials, 1.0 - 1.0 / (n_trials * math.e)])
    z_max = (1.0 - EULER_MASCHERONI) * quantiles[0] + EULER_MASCHERONI * quantiles[1]
    return mean + math.sqrt(variance) * float(z_max)


def deflated_sharpe_ratio(
    returns: npt.ArrayLike | SharpeStats,
    trial_sharpes: npt.ArrayLike | None = None,
    n_trials: int | None = None,
    *,
    sharpe_variance: float | None = None,
) -> float:
    """Deflated Sharpe ratio: the PSR of the selected strategy against the expected maximum Sharpe.

    ``DSR = PSR(SR*₀)`` with ``SR*₀ = expected_max_sharpe(N, V)``, where ``V`` is the variance of the
    per-period Sharpe ratios of all trials and ``N`` the number of (effective) independent trials.

    Parameters
    ----------
    returns
        The selected strategy's per-period returns, or their :class:`SharpeStats`.
    trial_sharpes
        Per-period Sharpe ratios of every trial of the search (the selected one included). Gives
        ``V = var(trial_sharpes, ddof=1)`` and, unless ``n_trials`` is given, ``N = len(trial_sharpes)``.
    n_trials
        Number of independent trials; pass :func:`effective_number_of_trials` when trials are correlated.
    sharpe_variance
        ``V`` directly (per period), instead of computing it from ``trial_sharpes``.

    Returns
    -------
    float
        The DSR in [0, 1]; 0.95 means 95% confidence that the true Sharpe exceeds SR*₀.

    References
    ----------
    Bailey, D. H., & López de Prado, M. (2014). The deflated Sharpe ratio: correcting for selection bias,
    backtest overfitting and non-normality. Journal of Portfolio Management, 40(5), 94-107, eq. (2).
    """
    selected = returns if isinstance(returns, SharpeStats) else sharpe_stats(returns)
    trials = None if trial_sharpes is None else as_series(trial_sharpes, "trial_sharpes", min_length=1)
    if n_trials is None:
        if trials is None:
            raise ValidationError("DSR: give n_trials or trial_sharpes (the Sharpe ratios of every trial)")
        n_trials = int(trials.shape[0])
    if sharpe_variance is None:
        if trials is None or trials.shape[0] < 2:
            raise ValidationError(
                "DSR: the variance of the trials' Sharpe ratios needs trial_sharpes with >= 2 values "
                "or sharpe_variance"
            )
        sharpe_variance = float(np.var(trials, ddof=1))
    benchmark = expected_max_sharpe(n_trials, sharpe_variance)
    return probabilistic_sharpe_ratio(
        selected.sharpe, benchmark, selected.n, selected.skew, selected.kurtosis
    )


def effective_number_of_trials(
    returns_matrix: npt.ArrayLike,
    method: Literal["cluster", "eigen"] = "cluster",
    min_correlation: float = 0.5,
) -> int:
    """Number of effectively independent trials among correlated ones (the ``N`` of the DSR).

    ``"cluster"`` (default): average-linkage hierarchical clustering of the trials on the correlation
    distance ``d = √((1 − ρ)/2)``, cut at ``d* = √((1 − min_correlation)/2)`` (two clusters merge while
    their average pairwise distance is below ``d*``); ``N`` is the number of clusters. This follows
    López de Prado's advice to count clusters of trials rather than trials: neighbouring parameter sets
    of one strategy are near copies of each other and must not inflate ``N``. It is deterministic and
    needs only a threshold. ``"eigen"``: the participation ratio ``(Σλ)² / Σλ²`` of the eigenvalues of
    the correlation matrix, rounded (a smooth estimate, used as a cross-check). Flat trials (zero
    variance, e.g. never trading) count as one trial together.

    Parameters
    ----------
    returns_matrix
        (T × N) per-period returns, one column per trial.
    method
        ``"cluster"`` or ``"eigen"``.
    min_correlation
        Clustering threshold: trials correlated at least this much on average are one trial.

    Returns
    -------
    int
        Between 1 and N.

    References
    ----------
    López de Prado, M., & Lewis, M. J. (2019). Detection of false investment strategies using unsupervised
    learning methods. Quantitative Finance, 19(9), 1555-1565.
    Bailey, D. H., & López de Prado, M. (2014). The deflated Sharpe ratio (section on effective trials).
    """
    if not -1.0 <= min_correlation < 1.0:
        raise ValidationError(
            f"effective_number_of_trials: min_correlation must be in [-1, 1), got {min_correlation}"
        )
    matrix = as_matrix(returns_matrix, "returns_matrix", min_rows=3)
    varying = matrix.std(axis=0) > 0
    flat_group = int(not varying.all())
    live = matrix[:, varying]
    if live.shape[1] <= 1:
        return int(live.shape[1]) + flat_group
    correlation = np.clip(np.corrcoef(live, rowvar=False), -1.0, 1.0)
    if method == "eigen":
        eigenvalues = np.linalg.eigvalsh(correlation)
        return max(1, round(float(eigenvalues.sum() ** 2 / (eigenvalues**2).sum()))) + flat_group
    if method != "cluster":
        raise ValidationError(
            f"effective_number_of_trials: method must be 'cluster' or 'eigen', got {method!r}"
        )
    distance = np.sqrt(np.clip((1.0 - correlation) / 2.0, 0.0, 1.0))
    np.fill_diagonal(distance, 0.0)
    tree = hierarchy.linkage(squareform(distance, checks=False), method="average")
    labels = hierarchy.fcluster(tree, t=math.sqrt((1.0 - min_correlation) / 2.0), criterion="distance")
    return int(np.unique(labels).shape[0]) + flat_group


def _sharpe_std_factor(sr: float, skew: float, kurtosis: float) -> float:
    """``√(1 − γ3 SR + (γ4 − 1)/4 SR²)``, the non-normal Sharpe standard-error factor."""
    radicand = 1.0 - skew * sr + (kurtosis - 1.0) / 4.0 * sr**2
    if not radicand > 0.0:
        raise ValidationError(
            f"Sharpe standard error undefined for SR={sr}, skew={skew}, kurtosis={kurtosis} "
            f"(1 − γ3·SR + (γ4 − 1)/4·SR² = {radicand} <= 0); "
            "check that kurtosis is raw (normal = 3), not excess"
        )
    return math.sqrt(radicand)
