"""Studentized SPA / Reality Check / StepM: arch parity where it should hold, studentization, calibration."""

from __future__ import annotations

import arch.bootstrap as arch_bootstrap
import numpy as np
import pytest
from arch.bootstrap import StationaryBootstrap
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeloop.errors import ValidationError
from validation import SPA, StepM, stationary_bootstrap_variance
from validation._spa import stationary_bootstrap_indices

VOLS = np.linspace(0.2, 3.0, 20)


def losses_with_differentials(
    rng: np.random.Generator, n: int, diffs: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Benchmark losses and model losses whose differentials L_0 − L_k are ``diffs``."""
    benchmark = rng.standard_normal(n)
    return benchmark, benchmark[:, None] - diffs


def test_indices_are_arch_stationary_bootstrap_draws() -> None:
    for n, block, seed in ((300, 5, 1), (57, 3, 9), (2000, 10, 3)):
        sampler = StationaryBootstrap(block, np.empty(n), seed=seed)
        reference = np.stack([sampler.update_indices() for _ in range(600)])
        ours = np.concatenate([indices for _, indices in stationary_bootstrap_indices(n, 600, block, seed)])
        np.testing.assert_array_equal(ours, reference)


def test_variance_is_hansens_stationary_bootstrap_kernel_estimator_as_in_arch() -> None:
    rng = np.random.default_rng(0)
    benchmark, models = losses_with_differentials(rng, 400, 0.1 + rng.standard_normal((400, 6)) * VOLS[:6])
    reference = arch_bootstrap.SPA(benchmark, models, block_size=7)
    reference._compute_variance()
    np.testing.assert_allclose(
        stationary_bootstrap_variance(benchmark[:, None] - models, 7), reference._loss_diff_var, rtol=1e-10
    )


def test_arch_spa_pvalues_are_those_of_the_non_studentized_statistic() -> None:
    """arch 8.0.0 ``SPA(studentize=True)`` equals ours with ``studentize=False``, draw for draw."""
    rng = np.random.default_rng(1)
    vols = np.linspace(0.3, 4.0, 30)
    benchmark, models = losses_with_differentials(rng, 500, 0.02 + rng.standard_normal((500, 30)) * vols)
    arch = arch_bootstrap.SPA(benchmark, models, reps=500, block_size=10, seed=3, studentize=True)
    arch.compute()
    plain = SPA(benchmark, models, reps=500, block_size=10, seed=3, studentize=False)
    plain.compute()
    assert plain.pvalues.as_dict() == pytest.approx(dict(arch.pvalues), abs=0)
    studentized = SPA(benchmark, models, reps=500, block_size=10, seed=3)
    studentized.compute()
    assert studentized.pvalues != plain.pvalues


def test_scaling_one_differential_leaves_every_pvalue_unchanged_but_changes_archs() -> None:
    rng = np.random.default_rng(2)
    diffs = 0.03 + rng.standard_normal((600, 8)) * VOLS[:8]
    benchmark, models = losses_with_differentials(rng, 600, diffs)
    ours = SPA(benchmark, models, reps=400, block_size=5, seed=11)
    ours.compute()
    arch = arch_bootstrap.SPA(benchmark, models, reps=400, block_size=5, seed=11)
    arch.compute()
    for column, c in ((0, 25.0), (3, 0.05), (7, 7.3)):
        scaled = diffs.copy()
        scaled[:, column] *= c
        scaled_models = benchmark[:, None] - scaled
        rescaled = SPA(benchmark, scaled_models, reps=400, block_size=5, seed=11)
        rescaled.compute()
        assert rescaled.pvalues == ours.pvalues
        np.testing.assert_allclose(rescaled.t_stats, ours.t_stats, rtol=1e-9)
        arch_scaled = arch_bootstrap.SPA(benchmark, scaled_models, reps=400, block_size=5, seed=11)
        arch_scaled.compute()
        assert not np.allclose(arch_scaled.pvalues.to_numpy(), arch.pvalues.to_numpy())


@settings(max_examples=40, deadline=None)
@given(
    n=st.integers(min_value=20, max_value=120),
    k=st.integers(min_value=1, max_value=6),
    shift=st.floats(min_value=-0.5, max_value=0.5),
    seed=st.integers(min_value=0, max_value=2**16),
    block=st.integers(min_value=1, max_value=8),
)
def test_pvalues_are_ordered_lower_consistent_upper(
    n: int, k: int, shift: float, seed: int, block: int
) -> None:
    rng = np.random.default_rng(seed)
    diffs = shift * rng.uniform(-1, 1, size=k) + rng.standard_normal((n, k)) * rng.uniform(0.1, 3, size=k)
    benchmark, models = losses_with_differentials(rng, n, diffs)
    spa = SPA(benchmark, models, reps=60, block_size=block, seed=seed)
    spa.compute()
    p = spa.pvalues
    assert 0.0 <= p.lower <= p.consistent <= p.upper <= 1.0
    assert p.reality_check == p.upper


def test_no_candidate_better_than_the_benchmark_gives_pvalue_one() -> None:
    rng = np.random.default_rng(4)
    benchmark, models = losses_with_differentials(rng, 300, -1.0 + 0.1 * rng.standard_normal((300, 5)))
    spa = SPA(benchmark, models, reps=200, block_size=3)
    spa.compute()
    assert spa.statistic == 0.0
    assert spa.pvalues.as_dict() == {"lower": 1.0, "consistent": 1.0, "upper": 1.0}


def test_from_returns_uses_losses_equal_to_minus_returns() -> None:
    rng = np.random.default_rng(6)
    baseline = rng.standard_normal(200)
    candidates = baseline[:, None] + 0.05 + 0.1 * rng.standard_normal((200, 3))
    by_returns = SPA.from_returns(baseline, candidates, reps=100, block_size=4, seed=2)
    by_losses = SPA(-baseline, -candidates, reps=100, block_size=4, seed=2)
    by_returns.compute()
    by_losses.compute()
    assert by_returns.pvalues == by_losses.pvalues
    assert np.all(by_returns.t_stats > 0)  # candidates earn more: positive differentials


def test_results_read_before_compute_raise_a_validation_error() -> None:
    spa = SPA(np.zeros(50), np.ones((50, 2)), reps=20, block_size=2)
    with pytest.raises(ValidationError, match=r"SPA: call compute\(\) before reading pvalues"):
        _ = spa.pvalues
    with pytest.raises(ValidationError, match="before reading t_stats"):
        _ = spa.t_stats
    with pytest.raises(ValidationError, match="StepM: call compute"):
        _ = StepM(np.zeros(50), np.ones((50, 2)), reps=20, block_size=2).superior_models
    with pytest.raises(ValidationError, match="benchmark has 50 observations but models has 40"):
        SPA(np.zeros(50), np.ones((40, 2)))


def test_stepm_when_every_model_becomes_superior_over_several_rounds() -> None:
    """arch 8.0.0 issue 862: StepM raises ValueError when the last step leaves no model; ours stops."""
    rng = np.random.default_rng(0)
    benchmark = rng.standard_normal(500)
    strong_noisy = benchmark - 3.0 - 5 * rng.standard_normal(500)  # found in step 1
    modest_precise = benchmark - 0.2 - 0.3 * rng.standard_normal(500)  # found in step 2 (non-studentized)
    models = np.column_stack([strong_noisy, modest_precise])
    arch = arch_bootstrap.StepM(benchmark, models, reps=500, block_size=5, seed=1)
    with pytest.raises(ValueError, match="zero-size array"):
        arch.compute()
    for studentize in (False, True):
        ours = StepM(benchmark, models, reps=500, block_size=5, seed=1, studentize=studentize)
        ours.compute()
        assert ours.superior_models == [0, 1]


def test_stepm_finds_the_planted_winners_and_no_null_model() -> None:
    rng = np.random.default_rng(12)
    diffs = rng.standard_normal((800, 20)) * VOLS
    diffs[:, 4] = 0.3 + 0.5 * rng.standard_normal(800)
    diffs[:, 15] = 0.5 + 2.0 * rng.standard_normal(800)
    benchmark, models = losses_with_differentials(rng, 800, diffs)
    stepm = StepM(benchmark, models, reps=500, block_size=3, seed=5)
    stepm.compute()
    assert stepm.superior_models == [4, 15]
    spa = SPA(benchmark, models, reps=500, block_size=3, seed=5)
    spa.compute()
    assert set(spa.better_models(0.05)) <= {4, 15}


@pytest.mark.slow
def test_size_under_the_null_with_models_of_different_volatility() -> None:
    rng = np.random.default_rng(7)
    trials, rejections = 250, 0
    for trial in range(trials):
        benchmark, models = losses_with_differentials(rng, 500, rng.standard_normal((500, 20)) * VOLS)
        spa = SPA(benchmark, models, reps=500, block_size=2, seed=trial)
        spa.compute()
        rejections += spa.pvalues.consistent < 0.05
    assert 0.02 <= rejections / trials <= 0.09


@pytest.mark.slow
def test_power_against_one_low_volatility_winner_needs_studentization() -> None:
    rng = np.random.default_rng(8)
    trials = 100
    rejections = {True: 0, False: 0}
    for trial in range(trials):
        diffs = rng.standard_normal((500, 20)) * VOLS
        diffs[:, 0] = 0.04 + 0.2 * rng.standard_normal(500)  # t ≈ 0.04 / 0.2 · √500 ≈ 4.5
        benchmark, models = losses_with_differentials(rng, 500, diffs)
        for studentize in (True, False):
            spa = SPA(benchmark, models, reps=500, block_size=2, seed=trial, studentize=studentize)
            spa.compute()
            rejections[studentize] += spa.pvalues.consistent < 0.05
    assert rejections[True] / trials > 0.8
    assert rejections[False] / trials < 0.12
