"""The holdout's paired Sharpe test, leverage-neutral returns, StepM's critical values, and the DSR/PBO of the
whole search: checked against their formulas and, for the test's size, by simulation under the null."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats

from backtest_matrix.engine import returns_matrix
from backtest_matrix.strategies import Strategy, get_strategy
from tests.validation.proposals import ENGINE, planted, planted_bars
from validation import (
    StepM,
    effective_number_of_trials,
    expected_max_sharpe,
    is_negligible,
    ledoit_wolf_sharpe_test,
    paired_sharpe_test,
    probabilistic_sharpe_ratio,
    probability_of_backtest_overfitting,
    search_overfitting,
    sharpe_stats,
    split_at_holdout,
    volatility_matched,
)


def _pair(n: int, sharpe: tuple[float, float], rho: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((n, 2))
    b = z[:, 0]
    a = rho * z[:, 0] + math.sqrt(1 - rho * rho) * z[:, 1]
    return 0.01 * (a + sharpe[0]), 0.01 * (b + sharpe[1])


def test_the_p_value_is_the_one_sided_normal_tail_of_the_hac_statistic_against_the_margin() -> None:
    a, b = _pair(2000, (0.08, 0.02), 0.6, seed=1)
    margin = 0.01
    test = paired_sharpe_test(a, b, margin=margin, level=0.95, power=0.8)
    reference = ledoit_wolf_sharpe_test(a, b)
    assert test.method == "ledoit-wolf" and test.se == pytest.approx(reference.se, rel=1e-12)
    assert test.diff == pytest.approx(reference.diff, rel=1e-12)
    assert test.p_value == pytest.approx(stats.norm.sf((reference.diff - margin) / reference.se), rel=1e-12)
    # MinTRL: the length at which the observed excess is z_(1-a) + z_power standard errors.
    per_bar = reference.se * math.sqrt(len(a))
    z_needed = (test.diff - margin) / (per_bar / math.sqrt(test.min_trl_bars))
    assert z_needed == pytest.approx(stats.norm.ppf(0.95) + stats.norm.ppf(0.8), rel=1e-9)


def test_the_paired_test_holds_its_level_under_the_null() -> None:
    """Equal true Sharpe ratios, correlated series: the one-sided 5 % test rejects about 5 % of the time."""
    rejections = sum(
        paired_sharpe_test(*_pair(1500, (0.05, 0.05), 0.7, seed=seed), margin=0.0).p_value < 0.05
        for seed in range(400)
    )
    rate = rejections / 400
    upper = rate + 1.645 * math.sqrt(rate * (1 - rate) / 400)
    assert upper <= 0.08 and rate >= 0.02, rate


def test_identical_and_rounding_level_differentials_are_no_difference() -> None:
    a, b = _pair(500, (0.05, 0.05), 0.5, seed=3)
    assert paired_sharpe_test(b, b).p_value == 1.0
    nudged = b + 1e-15 * np.sign(b)
    assert is_negligible(nudged - b, b)
    test = paired_sharpe_test(nudged, b)
    assert (test.p_value, test.method, test.diff) == (1.0, "no difference", 0.0)
    assert not is_negligible(a - b, b)


def test_a_pure_size_change_has_no_skill_after_volatility_matching() -> None:
    _, b = _pair(800, (0.05, 0.05), 0.5, seed=4)
    matched = volatility_matched(np.column_stack([2.0 * b, -b, np.zeros_like(b)]), b)
    assert np.array_equal(matched[:, 0], b)  # the 2x leveraged copy is the baseline again
    assert np.std(matched[:, 1], ddof=1) == pytest.approx(np.std(b, ddof=1))
    assert np.all(matched[:, 2] == 0.0)  # a flat column stays flat
    assert paired_sharpe_test(2.0 * b, b, margin=0.001).p_value > 0.99


def test_stepm_critical_values_never_rise_and_membership_is_t_above_the_last() -> None:
    rng = np.random.default_rng(5)
    base = rng.normal(0.0, 0.01, 1200)
    models = np.column_stack([base + rng.normal(0.002 * k, 0.004, 1200) for k in range(6)])
    stepm = StepM.from_returns(base, models, size=0.05, reps=300, seed=1, block_size=5)
    stepm.compute()
    criticals = stepm.critical_values
    assert all(later <= earlier for earlier, later in itertools.pairwise(criticals))
    superior = set(stepm.superior_models)
    t_stats = stepm.spa.t_stats
    assert superior == {k for k in range(6) if t_stats[k] > criticals[-1]}
    assert superior and 0 not in superior


def test_pbo_gives_a_trial_flat_in_a_split_a_sharpe_of_zero() -> None:
    rng = np.random.default_rng(0)
    returns = rng.normal(0.0, 0.01, (1600, 40))
    returns[:800, 5] = 0.0  # never trades in the first half
    returns[:, 7] = 0.0  # never trades
    result = probability_of_backtest_overfitting(returns, S=16)
    assert np.isfinite(result.is_performance).all() and np.isfinite(result.oos_performance).all()
    assert math.isfinite(result.degradation_slope)


def test_the_dsr_deflates_the_selection_by_the_whole_feasible_search() -> None:
    outcome = planted()
    record = outcome.record
    assert record is not None
    proposal = outcome.proposal
    search_bars, _ = split_at_holdout(planted_bars(), proposal)
    after = _strategy().resolve(proposal.params_after)
    result = search_overfitting(record, search_bars, _strategy(), after, config=ENGINE, seed=2)
    feasible = record.per_bar_sharpes[record.feasible]
    assert result.configurations == len(record) and result.feasible == len(feasible)
    assert result.sharpe_variance == pytest.approx(float(np.var(feasible, ddof=1)), rel=1e-12)
    assert result.n_effective == effective_number_of_trials(result.sample_returns)
    assert result.sampled == min(2000, len(feasible)) == result.sample_returns.shape[1]
    assert result.selected_sharpe == pytest.approx(float(feasible.max()), rel=1e-9)
    benchmark = expected_max_sharpe(result.n_effective, result.sharpe_variance)
    assert result.expected_max_sharpe == pytest.approx(benchmark, rel=1e-12)
    best = int(np.flatnonzero(record.feasible)[int(np.argmax(feasible))])
    selected = sharpe_stats(
        returns_matrix(search_bars, "rsi_reversion", record.rows([best]), config=ENGINE)[:, 0]
    )
    expected = probabilistic_sharpe_ratio(
        selected.sharpe, benchmark, selected.n, selected.skew, selected.kurtosis
    )
    assert result.dsr == pytest.approx(expected, rel=1e-12)


def _strategy() -> type[Strategy]:
    return get_strategy("rsi_reversion")
