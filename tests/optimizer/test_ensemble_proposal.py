"""The ensemble weights proposal on the search bars: bounded, turnover-capped, rounded to weights that still
sum to 1, and no max-Sharpe pathology when every strategy loses."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

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
