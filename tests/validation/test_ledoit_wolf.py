"""Ledoit–Wolf HAC test of a Sharpe difference, on cases with a known asymptotic variance."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tradeloop.errors import ValidationError
from validation import ledoit_wolf_sharpe_test


def memmel_variance(sr_a: float, sr_b: float, rho: float) -> float:
    """Asymptotic variance of √T (SR̂_a − SR̂_b) for iid bivariate normal returns.

    Jobson & Korkie (1981) with Memmel's (2003) correction:
    ``2 (1 − ρ) + ½ (SR_a² + SR_b² − 2 SR_a SR_b ρ²)``; the delta method of Ledoit & Wolf reduces to it
    for iid normal data (their section 2).
    """
    return 2 * (1 - rho) + 0.5 * (sr_a**2 + sr_b**2 - 2 * sr_a * sr_b * rho**2)


def normal_pair(rng: np.random.Generator, n: int, rho: float) -> tuple[np.ndarray, np.ndarray]:
    z1, z2 = rng.standard_normal(n), rng.standard_normal(n)
    a = 0.10 + 1.0 * z1  # SR 0.10
    b = 0.02 + 0.5 * (rho * z1 + math.sqrt(1 - rho**2) * z2)  # SR 0.04
    return a, b


@pytest.mark.parametrize("prewhiten", [False, True])
def test_standard_error_matches_the_iid_normal_formula(prewhiten: bool) -> None:
    n, rho = 200_000, 0.6
    a, b = normal_pair(np.random.default_rng(21), n, rho)
    result = ledoit_wolf_sharpe_test(a, b, prewhiten=prewhiten)
    assert result.se * math.sqrt(n) == pytest.approx(math.sqrt(memmel_variance(0.10, 0.04, rho)), rel=0.02)
    assert result.diff == pytest.approx(0.06, abs=0.01)
    assert result.sharpe_a == pytest.approx(a.mean() / a.std(ddof=1))
    assert result.p_value == pytest.approx(2 * (1 - _phi(abs(result.diff) / result.se)), rel=1e-9)
    assert result.prewhitened is prewhiten


def _phi(x: float) -> float:
    return 0.5 * (1 + math.erf(x / math.sqrt(2)))


def test_hac_error_tracks_the_true_spread_under_autocorrelation() -> None:
    """AR(1) returns (φ = 0.5): the HAC se matches the Monte-Carlo sd of the diff; iid's is too small."""
    rng = np.random.default_rng(5)
    n, phi = 1000, 0.5
    diffs, hac_se = [], []
    for _ in range(300):
        shocks = rng.standard_normal((n + 100, 2)) @ np.linalg.cholesky([[1.0, 0.5], [0.5, 1.0]]).T
        series = np.zeros_like(shocks)
        for t in range(1, n + 100):
            series[t] = phi * series[t - 1] + shocks[t]
        a, b = 0.05 + series[100:, 0], 0.05 + series[100:, 1]
        result = ledoit_wolf_sharpe_test(a, b, prewhiten=True)
        diffs.append(result.diff)
        hac_se.append(result.se)
    true_sd = float(np.std(diffs))
    assert float(np.mean(hac_se)) == pytest.approx(true_sd, rel=0.15)
    iid_se = math.sqrt(memmel_variance(0.0, 0.0, 0.5) / n)
    assert iid_se < 0.75 * true_sd


def test_rejection_rate_under_the_null_is_near_the_nominal_level() -> None:
    rng = np.random.default_rng(13)
    rejections = 0
    for _ in range(400):
        z = rng.standard_normal((240, 2))
        a = 0.5 + 4.0 * z[:, 0]
        b = 0.25 + 2.0 * (0.7 * z[:, 0] + math.sqrt(1 - 0.49) * z[:, 1])  # same SR 0.125
        rejections += ledoit_wolf_sharpe_test(a, b).p_value < 0.05
    assert 0.02 <= rejections / 400 <= 0.09


def test_flat_or_misaligned_series_are_refused() -> None:
    with pytest.raises(ValidationError, match="r_b is flat"):
        ledoit_wolf_sharpe_test(np.arange(20.0), np.zeros(20))
    with pytest.raises(ValidationError, match="r_a has 20 observations but r_b has 30"):
        ledoit_wolf_sharpe_test(np.arange(20.0), np.arange(30.0))
