"""The ensemble weights proposal on the search bars: bounded, turnover-capped, rounded to weights that still
sum to 1, expected returns that are the regime's mean plus Grinold's alpha, and no max-Sharpe pathology when
every strategy loses."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from optimizer import EnsembleSettings, ensemble_target, recent_ic, risk_parity_weights

SETTINGS = EnsembleSettings()
EQUAL = {"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}


def returns(
    means: tuple[float, float, float], vols: tuple[float, float, float], seed: int = 0
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    index = pd.date_range("2024-01-01", periods=2000, freq="1h", tz="UTC")
    data = {name: rng.normal(m, v, len(index)) for name, m, v in zip("abc", means, vols, strict=True)}
    return pd.DataFrame(data, index=index)


def test_the_better_strategy_gains_weight_within_the_bounds_and_the_cap() -> None:
    target = ensemble_target(returns((4e-4, 0.0, -2e-4), (0.01, 0.01, 0.01)), None, EQUAL, SETTINGS)
    assert target.method == "max_sharpe" and target.changed
    assert target.after["a"] > EQUAL["a"] > target.after["c"]
    assert sum(target.after.values()) == pytest.approx(1.0, abs=1e-12)
    assert all(0.05 <= w <= 0.4 for w in target.after.values())
    turnover = 0.5 * sum(abs(target.after[n] - EQUAL[n]) for n in EQUAL)
    assert turnover <= SETTINGS.max_turnover and target.turnover == pytest.approx(turnover, abs=1e-4)
    assert all(round(w, 4) == w for w in target.after.values())


def test_when_every_strategy_loses_max_sharpe_falls_back_to_risk_parity() -> None:
    frame = returns((-1e-3, -1e-3, -1e-3), (1e-4, 2e-4, 4e-4))
    target = ensemble_target(frame, None, EQUAL, EnsembleSettings(max_turnover=1.0))
    assert target.method == "risk_parity"
    parity = risk_parity_weights(frame.cov().to_numpy())
    assert target.after["a"] == max(target.after.values())  # the calmest, not the most volatile
    assert np.argmax(parity) == 0


def test_recent_ic_measures_the_persistence_of_block_means() -> None:
    index = pd.date_range("2024-01-01", periods=1000, freq="1h", tz="UTC")
    persistent = pd.Series(np.repeat(np.sin(np.arange(50) / 3.0), 20) * 1e-3, index=index)
    noise = pd.Series(np.random.default_rng(1).normal(0, 1e-3, 1000), index=index)
    assert recent_ic(persistent, bars=1000, lookback=20) > 0.5
    assert abs(recent_ic(noise, bars=1000, lookback=20)) < 0.4


def test_expected_returns_are_the_regime_mean_plus_ic_times_the_latest_block_deviation() -> None:
    frame = returns((2e-4, 1e-4, -1e-4), (0.01, 0.01, 0.01), seed=3).iloc[:1010]
    labels = pd.Series(["bull"] * 510 + ["sideways"] * 500, index=frame.index)
    target = ensemble_target(frame, labels, EQUAL, SETTINGS)
    assert target.regime == "sideways"
    for name in "abc":
        # The last 1000 bars (the first 10 are left out) in 50 blocks of 20 bars.
        means = frame[name].to_numpy()[10:].reshape(50, 20).mean(axis=1)
        ic = stats.spearmanr(means[:-1], means[1:]).statistic
        spread = means.std(ddof=1)
        score = (means[-1] - means.mean()) / spread
        alpha = spread * ic * score
        assert target.ic[name] == pytest.approx(ic) and target.score[name] == pytest.approx(score)
        assert target.alpha[name] == pytest.approx(alpha)
        assert target.expected[name] == pytest.approx(frame[name].iloc[510:].mean() + alpha)


def test_a_profitable_strategy_whose_recent_slump_persists_is_forecast_below_its_mean() -> None:
    # ``a`` earns 2 bps a bar, with a persistent (trending) block level that ends low: IC > 0, score < 0.
    frame = returns((0.0, 0.0, 0.0), (1e-4, 1e-4, 1e-4), seed=4)
    levels = 2e-4 + 1e-4 * np.cos(np.arange(100) * np.pi / 100)  # falling from 3 to 1 bps a bar
    frame["a"] += np.repeat(levels, 20)
    target = ensemble_target(frame, None, EQUAL, SETTINGS)
    assert target.ic["a"] > 0.5 and target.score["a"] < 0
    assert target.alpha["a"] < 0 and target.expected["a"] < frame["a"].mean()
    assert target.expected["a"] == pytest.approx(frame["a"].mean() + target.alpha["a"])
