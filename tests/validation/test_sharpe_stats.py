"""PSR, MinTRL, expected maximum Sharpe, DSR and effective trials, against the papers' numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from tradeloop.errors import ValidationError
from validation import (
    SharpeStats,
    deflated_sharpe_ratio,
    effective_number_of_trials,
    expected_max_sharpe,
    min_track_record_length,
    probabilistic_sharpe_ratio,
    sharpe_ratio,
    sharpe_stats,
)

DAYS_PER_YEAR = 250  # the convention of Bailey & López de Prado (2014)'s example


def test_dsr_numerical_example_of_bailey_lopez_de_prado_2014() -> None:
    """The paper's example: SR 2.5 (annual), T = 1250 days, γ3 = −3, γ4 = 10, N = 100, V[SR] = 1/2.

    The paper reports SR₀ = 0.1132 (per day) and DSR = 0.9004.
    """
    variance = 0.5 / DAYS_PER_YEAR
    sr0 = expected_max_sharpe(100, variance)
    assert sr0 == pytest.approx(0.1132, abs=5e-5)
    selected = SharpeStats(sharpe=2.5 / math.sqrt(DAYS_PER_YEAR), n=1250, skew=-3.0, kurtosis=10.0)
    dsr = deflated_sharpe_ratio(selected, n_trials=100, sharpe_variance=variance)
    assert dsr == pytest.approx(0.9004, abs=5e-5)


def test_expected_max_sharpe_figures_of_bailey_borwein_lopez_de_prado_zhu_2014() -> None:
    """Pseudo-mathematics and financial charlatanism: E[max_N] for V = 1 and the MinBTL examples.

    * E[max_10] ≈ 1.57 (their Figure 1 reading; Euler–Mascheroni form of eq. 2);
    * "only 5 years of data ... no more than 45 independent model configurations" for an annual SR of 1:
      E[max_45] / √5 ≈ 1;
    * "after trying only 7 configurations ... a 2-year backtest with SR over 1": MinBTL(7) ≈ 2 years.
    """
    assert expected_max_sharpe(10) == pytest.approx(1.57, abs=0.005)
    assert expected_max_sharpe(45) / math.sqrt(5.0) == pytest.approx(1.0, abs=0.001)
    assert expected_max_sharpe(7) ** 2 == pytest.approx(1.92, abs=0.01)
    # the approximation approaches the upper bound √(2 ln N) from below
    for n in (10, 100, 1000):
        assert expected_max_sharpe(n) < math.sqrt(2 * math.log(n))


def test_expected_max_sharpe_matches_the_simulated_maximum_of_normals() -> None:
    rng = np.random.default_rng(11)
    for n_trials in (100, 1000):
        simulated = rng.standard_normal((4000, n_trials)).max(axis=1).mean()
        assert expected_max_sharpe(n_trials, variance=4.0) == pytest.approx(2.0 * simulated, rel=0.01)
    assert expected_max_sharpe(1, variance=3.0, mean=0.2) == 0.2


def test_psr_equals_the_formula_with_moments_from_scipy() -> None:
    rng = np.random.default_rng(5)
    returns = 0.0005 + 0.01 * rng.standard_t(df=4, size=800) - 0.004 * rng.exponential(size=800)
    moments = sharpe_stats(returns)
    sr = returns.mean() / returns.std(ddof=1)
    skew = stats.skew(returns)
    kurt = stats.kurtosis(returns, fisher=False)
    assert moments.skew == pytest.approx(skew, rel=1e-12)
    assert moments.kurtosis == pytest.approx(kurt, rel=1e-12)
    benchmark = 0.01
    expected = stats.norm.cdf(
        (sr - benchmark) * math.sqrt(799) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr**2)
    )
    psr = probabilistic_sharpe_ratio(moments.sharpe, benchmark, moments.n, moments.skew, moments.kurtosis)
    assert psr == pytest.approx(expected, rel=1e-12)
    # negative skew and fat tails lower the PSR of a positive Sharpe ratio
    assert psr < probabilistic_sharpe_ratio(sr, benchmark, 800)


def test_min_track_record_length_inverts_the_psr() -> None:
    sr, benchmark, skew, kurt = 0.12, 0.05, -1.2, 7.0
    n = min_track_record_length(sr, benchmark, skew, kurt, probability=0.95)
    assert probabilistic_sharpe_ratio(sr, benchmark, n, skew, kurt) == pytest.approx(0.95, abs=1e-12)  # type: ignore[arg-type]
    # normal returns: 1 + (1 + SR²/2) (z / (SR − SR*))²
    z = stats.norm.ppf(0.95)
    assert min_track_record_length(sr, benchmark) == pytest.approx(
        1 + (1 + sr**2 / 2) * (z / (sr - benchmark)) ** 2
    )
    assert min_track_record_length(0.05, 0.05) == math.inf


def test_dsr_from_trial_sharpes_uses_their_count_and_variance() -> None:
    rng = np.random.default_rng(8)
    returns = 0.001 + 0.01 * rng.standard_normal(1000)
    trials = rng.normal(0.0, 0.03, size=50)
    moments = sharpe_stats(returns)
    expected = probabilistic_sharpe_ratio(
        moments.sharpe,
        expected_max_sharpe(50, float(np.var(trials, ddof=1))),
        1000,
        moments.skew,
        moments.kurtosis,
    )
    assert deflated_sharpe_ratio(returns, trials) == pytest.approx(expected, rel=1e-12)
    # more trials, same dispersion: a higher bar, a lower DSR
    assert deflated_sharpe_ratio(returns, trials, n_trials=500) < deflated_sharpe_ratio(returns, trials)


def test_effective_trials_count_clusters_of_correlated_trials() -> None:
    rng = np.random.default_rng(3)
    factors = rng.standard_normal((1500, 4))
    columns = [factors[:, j] + 0.3 * rng.standard_normal(1500) for j in range(4) for _ in range(10)]
    matrix = np.column_stack([*columns, np.zeros(1500), np.zeros(1500)])  # two flat (never-trading) trials
    assert effective_number_of_trials(matrix) == 5
    # participation ratio of the population correlation (4 blocks of 10, within-block ρ = 1/1.09):
    # 40² / (4 (1 + 9ρ)² + 36 (1 − ρ)²) = 4.67 → 5
    rho = 1 / 1.09
    assert round(40**2 / (4 * (1 + 9 * rho) ** 2 + 36 * (1 - rho) ** 2)) == 5
    assert effective_number_of_trials(matrix[:, :40], method="eigen") == 5
    independent = rng.standard_normal((1500, 12))
    assert effective_number_of_trials(independent) == 12


def test_sharpe_conventions_and_errors() -> None:
    assert sharpe_ratio([0.0, 0.0, 0.0]) == 0.0
    assert sharpe_ratio([1.0, 2.0, 3.0]) == pytest.approx(2.0)
    with pytest.raises(ValidationError, match=r"returns: row 1 is nan"):
        sharpe_ratio([0.1, float("nan"), 0.2])
    with pytest.raises(ValidationError, match="kurtosis is raw"):
        probabilistic_sharpe_ratio(1.0, 0.0, 100, skew=3.0, kurtosis=0.0)
    with pytest.raises(ValidationError, match="n_trials must be >= 1"):
        expected_max_sharpe(0)
    with pytest.raises(ValidationError, match="give n_trials or trial_sharpes"):
        deflated_sharpe_ratio([0.01, -0.02, 0.03, 0.0])
