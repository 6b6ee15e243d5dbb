"""Paired stationary-bootstrap CIs: coverage, joint resampling, the block length from the differential."""

from __future__ import annotations

import numpy as np
import pytest
from arch.bootstrap import StationaryBootstrap, optimal_block_length

from tradeloop.errors import ValidationError
from validation import paired_bootstrap_ci, stationary_block_length


def correlated_pair(rng: np.random.Generator, n: int, rho: float) -> tuple[np.ndarray, np.ndarray]:
    """Candidate and baseline with unit variance, correlation ``rho``, means 0.10 and 0.05."""
    common = rng.standard_normal(n)
    own = rng.standard_normal(n)
    return 0.10 + common, 0.05 + rho * common + np.sqrt(1 - rho**2) * own


@pytest.mark.slow
@pytest.mark.parametrize("stat", ["mean_diff", "sharpe_diff"])
def test_interval_covers_the_true_difference_at_about_the_nominal_rate(stat: str) -> None:
    # unit variances: true mean difference = true Sharpe difference = 0.05
    rng = np.random.default_rng(17)
    covered = 0
    trials = 150
    for trial in range(trials):
        a, b = correlated_pair(rng, 300, rho=0.8)
        ci = paired_bootstrap_ci(a, b, stat=stat, reps=299, level=0.9, seed=trial, block_length=1)  # type: ignore[arg-type]
        covered += ci.low <= 0.05 <= ci.high
    assert 0.82 <= covered / trials <= 0.96


def test_joint_resampling_gives_the_narrow_interval_of_the_differential() -> None:
    """Highly correlated A/B: resampling rows jointly keeps the correlation; separate resampling loses it."""
    rng = np.random.default_rng(3)
    a, b = correlated_pair(rng, 1000, rho=0.99)
    joint = paired_bootstrap_ci(a, b, stat="mean_diff", reps=999, seed=1, block_length=5)
    first = StationaryBootstrap(5, a, seed=1).apply(lambda x: np.array([x.mean()]), reps=999)[:, 0]
    second = StationaryBootstrap(5, b, seed=2).apply(lambda x: np.array([x.mean()]), reps=999)[:, 0]
    separate = np.quantile(first - second, [0.025, 0.975])
    joint_width = joint.high - joint.low
    assert joint_width < 0.25 * (separate[1] - separate[0])
    # the joint width is that of the differential's own mean: sd(a − b) = √(2(1 − ρ)) ≈ 0.141
    assert joint_width == pytest.approx(2 * 1.96 * np.sqrt(2 * (1 - 0.99)) / np.sqrt(1000), rel=0.25)
    assert joint.low < joint.estimate < joint.high


def test_block_length_comes_from_the_differential() -> None:
    rng = np.random.default_rng(12)
    noise = rng.standard_normal(2000)
    persistent = np.empty(2000)
    persistent[0] = noise[0]
    for t in range(1, 2000):
        persistent[t] = 0.8 * persistent[t - 1] + noise[t]
    baseline = rng.standard_normal(2000)
    candidate = baseline + persistent  # the differential is the AR(1), the levels are dominated by noise
    ci = paired_bootstrap_ci(candidate, baseline, stat="mean_diff", reps=99)
    expected = int(np.ceil(optimal_block_length(candidate - baseline)["stationary"].iloc[0]))
    assert ci.block_length == expected == stationary_block_length(candidate - baseline)
    assert ci.block_length > 5
    assert stationary_block_length(np.zeros(50)) == 1


def test_bca_interval_and_reproducibility() -> None:
    a, b = correlated_pair(np.random.default_rng(8), 400, rho=0.5)
    first = paired_bootstrap_ci(a, b, method="bca", reps=199, seed=4, block_length=3)
    second = paired_bootstrap_ci(a, b, method="bca", reps=199, seed=4, block_length=3)
    assert first == second
    assert first.method == "bca" and first.low < first.estimate < first.high


def test_bad_inputs_name_the_argument() -> None:
    with pytest.raises(ValidationError, match="r_a has 20 observations but r_b has 19"):
        paired_bootstrap_ci(np.zeros(20), np.zeros(19))
    with pytest.raises(ValidationError, match=r"level must be in \(0, 1\), got 95"):
        paired_bootstrap_ci(np.arange(20.0), np.arange(20.0), level=95)
    with pytest.raises(ValidationError, match="stat must be 'sharpe_diff' or 'mean_diff'"):
        paired_bootstrap_ci(np.arange(20.0), np.arange(20.0), stat="median")  # type: ignore[arg-type]
