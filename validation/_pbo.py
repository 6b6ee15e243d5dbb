"""Probability of backtest overfitting (PBO) by combinatorially symmetric cross-validation (CSCV).

The T × N return matrix is cut into S contiguous blocks. Every way of choosing S/2 blocks as the
in-sample (IS) half, the rest being out-of-sample (OOS), is one split: C(16, 8) = 12,870 splits for S = 16.
Per split, the trial with the best IS metric is found and its OOS relative rank taken.

Speed comes from block aggregates: each block's row count, per-trial sum and sum of squares are computed
once (O(T·N)); a split's IS sums are then a 0/1 selection of S block rows, so all splits are one matrix
product ``(C × S) @ (S × N)`` and the OOS sums are the totals minus the IS sums. The metrics, the IS argmax
and the OOS ranks are vectorised over chunks of splits, O(C·N) in all, independent of T.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt

from tradeloop.errors import ValidationError
from validation._arrays import FloatArray, as_matrix, safe_divide

PBOMetric = Literal["sharpe", "mean"]

_CHUNK_ELEMENTS = 2_000_000


@dataclass(frozen=True)
class PBOResult:
    """Outcome of :func:`probability_of_backtest_overfitting`.

    Attributes
    ----------
    pbo
        Share of splits whose IS-best trial ranks in the bottom half OOS (logit <= 0).
    logits
        ``λ_c = ln(ω̄_c / (1 − ω̄_c))`` per split, ``ω̄_c = rank_OOS(n*) / (N + 1)`` (rank 1 = worst).
    is_performance, oos_performance
        The IS-best trial's metric in sample and out of sample, per split.
    degradation_slope, degradation_intercept
        OLS fit ``oos = intercept + slope · is`` over the splits (performance degradation; a negative
        slope is the signature of overfitting).
    prob_oos_loss
        Share of splits whose IS-best trial has a negative OOS metric.
    n_splits, n_blocks, metric
        C(S, S/2), S, and the metric used.
    """

    pbo: float
    logits: FloatArray
    is_performance: FloatArray
    oos_performance: FloatArray
    degradation_slope: float
    degradation_intercept: float
    prob_oos_loss: float
    n_splits: int
    n_blocks: int
    metric: PBOMetric


def probability_of_backtest_overfitting(
    returns_matrix: npt.ArrayLike,
    S: int = 16,  # noqa: N803 (the paper's name)
    metric: PBOMetric = "sharpe",
) -> PBOResult:
    """PBO of choosing the best of N trials on a T × N matrix of per-period returns, by CSCV.

    Parameters
    ----------
    returns_matrix
        (T × N) returns, one column per trial (parameter set), rows in time order.
    S
        Number of contiguous blocks, even, >= 2 (default 16). When S does not divide T, the first
        ``T mod S`` blocks are one row longer.
    metric
        ``"sharpe"`` (per-period mean / std, ddof=1; a flat trial scores 0) or ``"mean"``.

    Returns
    -------
    PBOResult

    References
    ----------
    Bailey, D. H., Borwein, J. M., López de Prado, M., & Zhu, Q. J. (2017). The probability of backtest
    overfitting. Journal of Computational Finance, 20(4), 39-69.
    """
    if isinstance(S, bool) or not isinstance(S, int) or S < 2 or S % 2:
        raise ValidationError(
            f"PBO: S (the number of CSCV blocks) must be an even integer >= 2, got {S!r}; e.g. 16"
        )
    if metric not in ("sharpe", "mean"):
        raise ValidationError(f"PBO: metric must be 'sharpe' or 'mean', got {metric!r}")
    matrix = as_matrix(returns_matrix, "returns_matrix", min_rows=2 * S, min_columns=2)
    counts, sums, squares = _block_aggregates(matrix, S)
    selections = _split_selections(S)
    aggregates = _Aggregates(counts, sums, squares, matrix.mean(axis=0))
    is_best, oos_best, logits = _evaluate_splits(selections, aggregates, metric)
    slope, intercept = _ols(is_best, oos_best)
    return PBOResult(
        pbo=float(np.mean(logits <= 0.0)),
        logits=logits,
        is_performance=is_best,
        oos_performance=oos_best,
        degradation_slope=slope,
        degradation_intercept=intercept,
        prob_oos_loss=float(np.mean(oos_best < 0.0)),
        n_splits=int(selections.shape[0]),
        n_blocks=S,
        metric=metric,
    )


def _block_aggregates(matrix: FloatArray, n_blocks: int) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Rows, per-trial sums and sums of squares of each block, on data centred per trial.

    Centring (by each trial's full-sample mean, added back in the metric) keeps ``Σx² − (Σx)²/n``
    accurate when a trial's mean is large next to its spread.
    """
    starts = np.array([chunk[0] for chunk in np.array_split(np.arange(matrix.shape[0]), n_blocks)])
    centred = matrix - matrix.mean(axis=0)
    counts = np.diff(np.append(starts, matrix.shape[0])).astype(np.float64)
    return counts, np.add.reduceat(centred, starts, axis=0), np.add.reduceat(centred**2, starts, axis=0)


@dataclass(frozen=True)
class _Aggregates:
    counts: FloatArray  # (S,) rows per block
    sums: FloatArray  # (S × N) sums of the centred returns
    squares: FloatArray  # (S × N) sums of squares of the centred returns
    offset: FloatArray  # (N,) each trial's full-sample mean, removed before summing


def _split_selections(n_blocks: int) -> FloatArray:
    """(C(S, S/2) × S) 0/1 matrix, row c marking the IS blocks of split c."""
    combos = np.array(list(itertools.combinations(range(n_blocks), n_blocks // 2)), dtype=np.intp)
    selections = np.zeros((combos.shape[0], n_blocks))
    np.put_along_axis(selections, combos, 1.0, axis=1)
    return selections


def _evaluate_splits(
    selections: FloatArray, agg: _Aggregates, metric: PBOMetric
) -> tuple[FloatArray, FloatArray, FloatArray]:
    n_trials = agg.sums.shape[1]
    total_count, total_sum, total_square = agg.counts.sum(), agg.sums.sum(axis=0), agg.squares.sum(axis=0)
    chunk = max(1, _CHUNK_ELEMENTS // n_trials)
    is_best, oos_best, logits = [], [], []
    for start in range(0, selections.shape[0], chunk):
        block = selections[start : start + chunk]
        is_n, is_sum, is_sq = block @ agg.counts, block @ agg.sums, block @ agg.squares
        is_metric = _metric(is_n, is_sum, is_sq, agg.offset, metric)
        oos_metric = _metric(total_count - is_n, total_sum - is_sum, total_square - is_sq, agg.offset, metric)
        best = np.argmax(is_metric, axis=1)
        rows = np.arange(block.shape[0])
        chosen_oos = oos_metric[rows, best]
        below = (oos_metric < chosen_oos[:, None]).sum(axis=1)
        ties = (oos_metric == chosen_oos[:, None]).sum(axis=1)
        relative_rank = (below + (ties + 1) / 2.0) / (n_trials + 1)
        is_best.append(is_metric[rows, best])
        oos_best.append(chosen_oos)
        logits.append(np.log(relative_rank / (1.0 - relative_rank)))
    return np.concatenate(is_best), np.concatenate(oos_best), np.concatenate(logits)


def _metric(
    n: FloatArray, centred_sum: FloatArray, centred_square: FloatArray, offset: FloatArray, metric: PBOMetric
) -> FloatArray:
    """Per-split metric from centred aggregates: ``n`` is (C,), the sums (C × N), ``offset`` (N,)."""
    rows = n[:, None]
    centred_mean = centred_sum / rows
    mean = centred_mean + offset
    if metric == "mean":
        return mean
    variance = np.maximum(centred_square - centred_sum * centred_mean, 0.0) / (rows - 1.0)
    # A trial that never trades in a split is flat there: its Sharpe is 0, as in ``sharpe_ratios``. Its
    # recentred mean is rounding (~1e-20), which over a zero variance would read as an infinite Sharpe.
    return np.where(variance > 0.0, safe_divide(mean, np.sqrt(variance)), 0.0)


def _ols(x: FloatArray, y: FloatArray) -> tuple[float, float]:
    spread = float(np.var(x))
    if spread == 0.0 or not math.isfinite(spread):
        return math.nan, float(np.mean(y))
    slope = float(np.mean((x - x.mean()) * (y - y.mean())) / spread)
    return slope, float(y.mean() - slope * x.mean())
