"""The synthetic market: regimes, volatility per timeframe, GARCH recursion, volume."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from backtest_matrix import generate_synthetic
from backtest_matrix.data._synthetic import garch_variance
from tradeloop import data_hash


@pytest.fixture(scope="module")
def long_series() -> tuple[pd.DataFrame, pd.Series]:
    series = generate_synthetic(timeframe="5m", days=730, seed=7)
    return series.bars, series.regimes


def test_regime_labels_cover_all_four_regimes_on_the_bars_index(
    long_series: tuple[pd.DataFrame, pd.Series],
) -> None:
    bars, regimes = long_series
    assert regimes.index.equals(bars.index)
    assert list(regimes.cat.categories) == ["bull", "bear", "sideways", "high_vol"]
    assert set(regimes.unique()) == {"bull", "bear", "sideways", "high_vol"}
    visits = (regimes != regimes.shift()).sum()
    assert 10 < visits < 200  # visits last days, not bars


def test_high_vol_regime_is_more_volatile_and_busier_than_sideways(
    long_series: tuple[pd.DataFrame, pd.Series],
) -> None:
    bars, regimes = long_series
    log_returns = np.log(bars["close"] / bars["open"])
    high_vol, sideways = (regimes == "high_vol").to_numpy(), (regimes == "sideways").to_numpy()
    assert log_returns[high_vol].std() > 2 * log_returns[sideways].std()
    assert bars["volume"][high_vol].median() > 2 * bars["volume"][sideways].median()


@pytest.mark.parametrize(("timeframe", "bars_per_day"), [("1m", 1440), ("15m", 96), ("4h", 6), ("1d", 1)])
def test_annualised_volatility_is_crypto_like_on_every_timeframe(timeframe: str, bars_per_day: int) -> None:
    bars = generate_synthetic(timeframe=timeframe, days=730 if bars_per_day < 100 else 120, seed=3).bars
    log_returns = np.log(bars["close"]).diff().dropna()
    annualised = log_returns.std() * np.sqrt(bars_per_day * 365)
    assert 0.3 < annualised < 1.0


def test_same_seed_same_series_and_regimes() -> None:
    first = generate_synthetic(timeframe="1h", days=200, seed=11)
    again = generate_synthetic(timeframe="1h", days=200, seed=11)
    assert data_hash(first.bars) == data_hash(again.bars)
    assert first.regimes.equals(again.regimes)
    assert data_hash(generate_synthetic(timeframe="1h", days=200, seed=12).bars) != data_hash(first.bars)


def test_garch_variance_follows_the_recursion() -> None:
    omega, alpha, beta = np.full(4, 0.1), np.full(4, 0.2), np.full(4, 0.7)
    shocks = np.array([1.0, 2.0, 0.0, -1.0])
    # h0 = 1; h1 = .1 + (.2*1 + .7)*1 = 1; h2 = .1 + (.2*4 + .7)*1 = 1.6; h3 = .1 + (.2*0 + .7)*1.6 = 1.22
    np.testing.assert_allclose(garch_variance(omega, alpha, beta, shocks), [1.0, 1.0, 1.6, 1.22])
