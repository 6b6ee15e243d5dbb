"""Return-distribution drift: the two-sample Kolmogorov-Smirnov test and the Population Stability Index."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from scipy import stats

from tradeloop.errors import OptimizerError

__all__ = ["ks_pvalue", "population_stability_index"]

_EMPTY_SHARE = 1e-4  # stands in for an empty bin, so that the log ratio stays finite


def ks_pvalue(recent: npt.ArrayLike, reference: npt.ArrayLike) -> tuple[float, float]:
    """The two-sample KS statistic and its two-sided p-value (``scipy.stats.ks_2samp``, exact when small).

    References
    ----------
    .. [1] Hodges, J. L. (1958). The significance probability of the Smirnov two-sample test.
       Arkiv för Matematik 3, 469-486.
    """
    result = stats.ks_2samp(np.asarray(recent, float), np.asarray(reference, float))
    return float(result.statistic), float(result.pvalue)


def population_stability_index(recent: npt.ArrayLike, reference: npt.ArrayLike, bins: int = 10) -> float:
    """PSI of ``recent`` against ``reference``: ``sum((a - e) * ln(a / e))`` over the bins.

    The bin edges are the reference's quantiles (equal-count bins; ties merge bins), the outer bins are
    open-ended, and an empty bin counts as a share of 1e-4. Usual reading: below 0.1 stable, 0.1-0.25 a
    moderate shift, above 0.25 a significant shift.

    References
    ----------
    .. [1] Yurdakul, B. (2018). Statistical properties of population stability index. Western Michigan
       University, Dissertations 3208.
    """
    recent_values = np.asarray(recent, float)
    reference_values = np.asarray(reference, float)
    if bins < 2 or len(recent_values) == 0 or len(reference_values) == 0:
        raise OptimizerError(
            f"population_stability_index needs bins >= 2 and non-empty samples, got bins={bins}, "
            f"{len(recent_values)} recent and {len(reference_values)} reference values"
        )
    inner = np.unique(np.quantile(reference_values, np.linspace(0, 1, bins + 1)[1:-1]))
    expected = _shares(reference_values, inner)
    actual = _shares(recent_values, inner)
    return float(np.sum((actual - expected) * np.log(actual / expected)))


def _shares(values: np.ndarray, inner_edges: np.ndarray) -> np.ndarray:
    counts = np.bincount(np.searchsorted(inner_edges, values, side="right"), minlength=len(inner_edges) + 1)
    shares = counts / max(len(values), 1)
    return np.where(shares > 0, shares, _EMPTY_SHARE)
