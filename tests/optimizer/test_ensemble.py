"""Ensemble weights: bounds, sum 1, equal risk contributions, max-Sharpe optimum and the turnover cap; the
expected returns' regime-conditional prior and Grinold's ``alpha = volatility × IC × score``."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest

from optimizer import (
    block_means,
    cap_turnover,
    ensemble_weights,
    expected_returns,
    grinold_alpha,
    information_coefficient,
    max_sharpe_weights,
    project_to_bounds,
    recent_ic,
    recent_score,
    risk_contributions,
    risk_parity_weights,
)
from tradeloop.errors import OptimizerError

VOLS = np.array([0.10, 0.20, 0.30, 0.40])
CORRELATION = np.array(
    [[1.0, 0.8, 0.0, 0.0], [0.8, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, -0.5], [0.0, 0.0, -0.5, 1.0]]
)
COVARIANCE = np.outer(VOLS, VOLS) * CORRELATION  # Maillard, Roncalli & Teiletche (2010), section 2.3


def returns_frame(n: int = 5, bars: int = 800, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(n, n)) * 0.3 + np.eye(n)
    data = rng.normal(size=(bars, n)) @ mixing * 0.01 + rng.uniform(0, 0.001, n)
    return pd.DataFrame(data, columns=[f"s{i}" for i in range(n)])


@pytest.mark.parametrize("method", ["max_sharpe", "risk_parity", "equal"])
@pytest.mark.parametrize("n", [3, 5, 12])
def test_every_method_stays_in_bounds_and_sums_to_one(method: str, n: int) -> None:
    result = ensemble_weights(returns_frame(n), method)  # type: ignore[arg-type]
    weights = np.array(list(result.weights.values()))
    assert weights.sum() == pytest.approx(1.0, abs=1e-12)
    assert np.all(weights >= 0.05 - 1e-12) and np.all(weights <= 0.40 + 1e-12)


def test_risk_parity_gives_equal_risk_contributions_on_a_known_covariance() -> None:
    weights = risk_parity_weights(COVARIANCE)
    np.testing.assert_allclose(risk_contributions(weights, COVARIANCE), 0.25, atol=1e-6, rtol=0)
    np.testing.assert_allclose(risk_contributions(weights, COVARIANCE), 0.25, atol=1e-12, rtol=0)
    assert weights.sum() == pytest.approx(1.0, abs=1e-15)


def test_risk_parity_with_one_correlation_is_inverse_volatility() -> None:
    # With every correlation equal, ERC weights are 1/σ normalised (Maillard et al. 2010, eq. 8).
    covariance = np.outer(VOLS, VOLS) * (np.full((4, 4), 0.3) + 0.7 * np.eye(4))
    expected = (1 / VOLS) / (1 / VOLS).sum()
    np.testing.assert_allclose(risk_parity_weights(covariance), expected, rtol=0, atol=1e-12)


def test_risk_parity_inside_the_bounds_keeps_equal_contributions() -> None:
    frame = returns_frame(4, bars=2000)
    result = ensemble_weights(frame, "risk_parity")
    weights = np.array(list(result.weights.values()))
    assert np.all((weights > 0.05) & (weights < 0.40))  # the bounds do not bind here
    np.testing.assert_allclose(risk_contributions(weights, frame.cov().to_numpy()), 0.25, atol=1e-6, rtol=0)


def test_max_sharpe_finds_the_tangency_portfolio_when_bounds_do_not_bind() -> None:
    covariance = np.diag([0.04, 0.09, 0.16])
    tangency = np.array([0.30, 0.35, 0.35])
    mu = covariance @ tangency  # w ∝ Σ⁻¹μ
    np.testing.assert_allclose(max_sharpe_weights(mu, covariance, 0.05, 0.40), tangency, atol=1e-6)


def test_max_sharpe_is_at_least_as_good_as_a_fine_grid_under_bounds() -> None:
    rng = np.random.default_rng(4)
    a = rng.normal(size=(3, 3))
    covariance = a @ a.T / 10 + np.eye(3) * 0.01
    mu = np.array([0.05, 0.01, 0.03])
    found = max_sharpe_weights(mu, covariance, 0.05, 0.40)

    def sharpe(w: np.ndarray) -> float:
        return float(w @ mu / np.sqrt(w @ covariance @ w))

    grid = np.arange(0.05, 0.4001, 0.005)
    best = max(
        sharpe(np.array([x, y, 1 - x - y]))
        for x, y in itertools.product(grid, grid)
        if 0.05 - 1e-12 <= 1 - x - y <= 0.40 + 1e-12
    )
    assert sharpe(found) >= best - 1e-9
    assert np.all(found >= 0.05 - 1e-12) and np.all(found <= 0.40 + 1e-12)


def test_turnover_cap_moves_at_most_the_cap_along_the_line_to_the_target() -> None:
    frame = returns_frame(5)
    current = {"s0": 0.4, "s1": 0.3, "s2": 0.1, "s3": 0.1, "s4": 0.1}
    result = ensemble_weights(frame, "equal", current=current, max_turnover=0.05)
    weights = np.array(list(result.weights.values()))
    start = np.array(list(current.values()))
    assert 0.5 * np.abs(weights - start).sum() == pytest.approx(0.05, abs=1e-12) and result.turnover == 0.05
    np.testing.assert_allclose(weights, start + 0.05 / 0.3 * (0.2 - start), atol=1e-12)  # full move: 0.3
    assert weights.sum() == pytest.approx(1.0) and np.all(weights >= 0.05) and np.all(weights <= 0.4)
    uncapped, turnover = cap_turnover(start, np.full(5, 0.2), 0.5)
    assert turnover == pytest.approx(0.3) and np.allclose(uncapped, 0.2)


def test_new_strategy_at_zero_is_projected_into_the_bounds_first() -> None:
    projected = project_to_bounds(np.array([0.5, 0.5, 0.0]), 0.05, 0.40)
    np.testing.assert_allclose(projected, [0.4, 0.4, 0.2], atol=1e-12)


def test_infeasible_bounds_are_a_clear_error() -> None:
    with pytest.raises(
        OptimizerError, match=r"\[0.05, 0.4\] are infeasible for 2 strategies: .* 2 × 0.4 = 0.8"
    ):
        ensemble_weights(returns_frame(2), "equal")
    with pytest.raises(OptimizerError, match="infeasible for 21 strategies"):
        ensemble_weights(returns_frame(21), "risk_parity")


def test_expected_returns_are_the_regime_conditional_mean() -> None:
    frame = returns_frame(3, bars=100)
    labels = pd.Series(["bull"] * 40 + ["bear"] * 60, index=frame.index)
    bear = expected_returns(frame, labels=labels, regime="bear")
    pd.testing.assert_series_equal(bear, frame.iloc[40:].mean())
    short = expected_returns(frame, labels=labels, regime="bull", min_regime_bars=50)  # too few bull bars
    pd.testing.assert_series_equal(short, frame.mean())
    pd.testing.assert_series_equal(expected_returns(frame), frame.mean())


def blocks(means: list[float], lookback: int = 2, wiggle: float = 0.0) -> pd.Series:
    """Per-bar returns whose ``lookback``-bar blocks have exactly ``means`` (in bps): each block alternates
    ``mean ± wiggle``, so the per-bar volatility is about ``wiggle`` whatever the block means."""
    pattern = np.array([wiggle if i % 2 == 0 else -wiggle for i in range(lookback)])
    return pd.Series(np.concatenate([np.asarray(means[i]) * 1e-4 + pattern for i in range(len(means))]))


def test_block_means_end_at_the_last_bar() -> None:
    returns = pd.Series([9.0, 1.0, 3.0, 2.0, 2.0, 0.0, 2.0, 5.0, 3.0])  # the first bar is no whole block
    np.testing.assert_allclose(block_means(returns, bars=100, lookback=2), [2.0, 2.0, 1.0, 4.0])
    np.testing.assert_allclose(block_means(returns, bars=6, lookback=2), [2.0, 1.0, 4.0])
    np.testing.assert_allclose(block_means(returns, bars=7, lookback=3), [4 / 3, 10 / 3])  # bars 3-8
    assert block_means(returns, bars=9, lookback=10).empty


def test_grinold_alpha_is_ic_times_the_latest_block_deviation() -> None:
    # Block means 2, 2, 1, 4 bps (lookback 2): m̄ = 2.25 bps, m_last − m̄ = 1.75 bps,
    # s = sqrt((0.25² + 0.25² + 1.25² + 1.75²) / 3) = sqrt(4.75 / 3) bps, z = 1.75 / s.
    frame = pd.DataFrame({"w": [1.0, 3.0, 2.0, 2.0, 0.0, 2.0, 5.0, 3.0]}) * 1e-4
    s = math.sqrt(4.75 / 3) * 1e-4
    z = 1.75e-4 / s
    assert recent_score(frame["w"], bars=8, lookback=2) == pytest.approx(z)
    alpha = grinold_alpha(frame, ic={"w": 0.5}, bars=8, lookback=2)
    assert alpha["w"] == pytest.approx(0.5 * s * z) == pytest.approx(0.5 * 1.75e-4)  # volatility × IC × score
    # A bar before the last ``bars`` counts for nothing; a negative IC flips the forecast.
    longer = pd.concat([pd.DataFrame({"w": [0.5]}), frame], ignore_index=True)
    assert grinold_alpha(longer, ic={"w": -0.5}, bars=8, lookback=2)["w"] == pytest.approx(-0.5 * 1.75e-4)


@pytest.mark.parametrize(
    ("means", "ic_sign", "sign"),
    [
        ([0.0, -1.0, -2.0, -3.0, -4.0, -5.0], 1, -1),  # a persistent loser: IC > 0, losing more lately
        ([0.0, 1.0, 2.0, 3.0, 4.0, 5.0], 1, 1),  # a persistent winner: IC > 0, winning more lately
        ([-1.0, 1.0, -1.0, 1.0, -1.0, 3.0], -1, -1),  # a profitable strategy whose performance reverts
    ],
)
def test_the_forecast_has_the_sign_of_ic_times_recent_performance(
    means: list[float], ic_sign: int, sign: int
) -> None:
    frame = pd.DataFrame({"s": blocks(means)})
    ic = recent_ic(frame["s"], bars=12, lookback=2)
    assert np.sign(ic) == ic_sign
    deviation = (means[-1] - np.mean(means)) * 1e-4
    alpha = grinold_alpha(frame, ic={"s": ic}, bars=12, lookback=2)["s"]
    assert np.sign(alpha) == sign and alpha == pytest.approx(ic * deviation)


def test_the_forecast_is_of_the_order_of_the_block_means_not_of_the_per_bar_volatility() -> None:
    # Block means 0..4 bps, each block swinging ±1 % bar to bar: per-bar σ ≈ 1 %, block means' σ ≈ 1.6 bps.
    frame = pd.DataFrame({"s": blocks([0.0, 1.0, 2.0, 3.0, 4.0], lookback=20, wiggle=0.01)})
    alpha = grinold_alpha(frame, ic={"s": 1.0}, bars=100, lookback=20)["s"]
    assert alpha == pytest.approx(2e-4)  # IC × (4 − 2) bps
    assert float(frame["s"].std(ddof=1)) > 40 * alpha  # the old ``IC × per-bar σ``: 50 times too large


def test_degenerate_forecasts_are_zero() -> None:
    frame = pd.DataFrame({"short": blocks([1.0, 5.0]), "flat": blocks([2.0, 2.0, 2.0, 2.0]),
                          "nan": blocks([0.0, 1.0, 2.0, 3.0])})  # fmt: skip
    alpha = grinold_alpha(frame, ic={"short": 1.0, "flat": 1.0, "nan": math.nan}, bars=8, lookback=2)
    assert alpha.to_dict() == {"short": 0.0, "flat": 0.0, "nan": 0.0}  # 2 blocks; s = 0; IC NaN
    assert recent_score(frame["short"], bars=8, lookback=2) == 0.0
    assert recent_score(frame["flat"], bars=8, lookback=2) == 0.0
    with pytest.raises(OptimizerError, match=r"ic has no value for \['flat', 'nan'\]"):
        grinold_alpha(frame, ic={"short": 1.0}, bars=8, lookback=2)


def test_information_coefficient_is_the_spearman_correlation() -> None:
    predicted = pd.Series([1.0, 2.0, 3.0, 4.0, 5.0])
    assert information_coefficient(predicted, pd.Series([10.0, 20.0, 25.0, 40.0, 100.0])) == pytest.approx(
        1.0
    )
    assert information_coefficient(predicted, pd.Series([5.0, 4.0, 3.0, 2.0, 1.0])) == pytest.approx(-1.0)
