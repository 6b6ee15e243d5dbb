"""PBO by CSCV: the block-aggregate implementation against a direct one, and behaviour on planted cases."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from tradeloop.errors import ValidationError
from validation import probability_of_backtest_overfitting


def direct_cscv(matrix: np.ndarray, n_blocks: int, metric: str) -> tuple[float, np.ndarray, np.ndarray]:
    """Bailey et al. (2017) section 2, literally: slice the rows of each split and score every trial."""
    blocks = np.array_split(np.arange(matrix.shape[0]), n_blocks)
    logits, oos = [], []
    for chosen in itertools.combinations(range(n_blocks), n_blocks // 2):
        is_rows = np.concatenate([blocks[i] for i in chosen])
        oos_rows = np.concatenate([blocks[i] for i in range(n_blocks) if i not in chosen])
        train, test = matrix[is_rows], matrix[oos_rows]
        if metric == "sharpe":
            r_is, r_oos = train.mean(0) / train.std(0, ddof=1), test.mean(0) / test.std(0, ddof=1)
        else:
            r_is, r_oos = train.mean(0), test.mean(0)
        best = int(np.argmax(r_is))
        omega = stats.rankdata(r_oos)[best] / (matrix.shape[1] + 1)
        logits.append(math.log(omega / (1 - omega)))
        oos.append(r_oos[best])
    logit_array = np.array(logits)
    return float(np.mean(logit_array <= 0)), logit_array, np.array(oos)


@pytest.mark.parametrize(("rows", "metric"), [(72, "sharpe"), (75, "sharpe"), (72, "mean")])
def test_block_aggregates_match_the_direct_cscv(rows: int, metric: str) -> None:
    rng = np.random.default_rng(rows)
    matrix = 0.01 + 0.02 * rng.standard_normal((rows, 9)) + 0.001 * np.arange(9)
    result = probability_of_backtest_overfitting(matrix, S=6, metric=metric)  # type: ignore[arg-type]
    pbo, logits, oos = direct_cscv(matrix, 6, metric)
    assert result.n_splits == math.comb(6, 3) == logits.shape[0]
    np.testing.assert_allclose(result.logits, logits, rtol=1e-10)
    np.testing.assert_allclose(result.oos_performance, oos, rtol=1e-8)
    assert result.pbo == pbo


@pytest.mark.slow
def test_pbo_of_pure_noise_averages_one_half() -> None:
    rng = np.random.default_rng(2024)
    values = [
        probability_of_backtest_overfitting(rng.standard_normal((480, 30)), S=16).pbo for _ in range(60)
    ]
    assert np.mean(values) == pytest.approx(0.5, abs=0.05)


def test_pbo_is_zero_when_one_trial_dominates_every_block() -> None:
    rng = np.random.default_rng(9)
    matrix = rng.standard_normal((800, 40))
    matrix[:, 7] += 2.0  # best in every block by a wide margin
    result = probability_of_backtest_overfitting(matrix, S=16)
    assert result.pbo == 0.0
    assert result.prob_oos_loss == 0.0
    np.testing.assert_allclose(result.logits, math.log(40 / 1), rtol=1e-12)  # rank N of N: ω = 40/41


def test_overfit_selection_degrades_out_of_sample() -> None:
    """Noise with no skill: the best in-sample trial's OOS metric falls as its IS metric rises."""
    result = probability_of_backtest_overfitting(np.random.default_rng(4).standard_normal((1000, 100)), S=10)
    assert result.degradation_slope < 0
    assert result.n_blocks == 10 and result.metric == "sharpe"


def test_flat_trials_score_zero_not_nan() -> None:
    rng = np.random.default_rng(1)
    matrix = np.column_stack([rng.standard_normal((64, 5)), np.zeros(64)])
    result = probability_of_backtest_overfitting(matrix, S=4)
    assert np.isfinite(result.logits).all()


@pytest.mark.parametrize("bad", [15, 0, 2.0])
def test_odd_or_invalid_block_counts_are_refused(bad: object) -> None:
    with pytest.raises(ValidationError, match=r"S \(the number of CSCV blocks\) must be an even integer"):
        probability_of_backtest_overfitting(np.ones((100, 3)), S=bad)  # type: ignore[arg-type]


def test_too_few_rows_for_the_blocks_are_refused() -> None:
    with pytest.raises(ValidationError, match=r"at least 32 observations"):
        probability_of_backtest_overfitting(np.random.default_rng(0).standard_normal((20, 3)), S=16)
