"""Objectives against hand computations from KPI values, vectorised and scalar."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from backtest_matrix.engine import backtest
from optimizer.objectives import get_objective, objective_names
from tests.optimizer._search_fixtures import sp500
from tradeloop.errors import OptimizerError

KPIS = pd.DataFrame(
    {
        "return_pct": [30.0, 20.0, 5.0],
        "max_drawdown_pct": [10.0, 4.0, 1.0],
        "sharpe": [1.2, 0.8, np.nan],
        "sortino": [1.9, 1.1, 0.3],
        "calmar": [0.9, 1.4, 0.2],
        "trades": [50.0, 400.0, 1.0],
        "win_rate_pct": [40.0, 55.0, 100.0],
        "avg_win_pct": [3.0, 1.0, 2.0],
        "avg_loss_pct": [-1.0, -0.8, 0.0],
        "expectancy_pct": [0.6, 0.19, 2.0],
    }
)


def test_registry_lists_one_objective_per_file() -> None:
    assert objective_names() == ["calmar", "return_dd", "sharpe", "sortino", "sqn"]
    with pytest.raises(OptimizerError, match="Did you mean 'sharpe'"):
        get_objective("sharp")


@pytest.mark.parametrize("name", ["sharpe", "sortino", "calmar"])
def test_ratio_objectives_read_their_kpi(name: str) -> None:
    values = get_objective(name).from_kpis(KPIS)
    np.testing.assert_array_equal(values, KPIS[name].to_numpy())


def test_return_with_drawdown_penalty() -> None:
    values = get_objective("return_dd").from_kpis(KPIS)
    assert values == pytest.approx([30 - 2 * 10, 20 - 2 * 4, 5 - 2 * 1])  # 10, 12, 3


def test_sqn_two_point_by_hand() -> None:
    values = get_objective("sqn").from_kpis(KPIS)
    # row 0: sigma = sqrt(0.4 * 0.6) * (3 - -1) = 1.9596; sqrt(50) * 0.6 / 1.9596 = 2.1651
    assert values[0] == pytest.approx(math.sqrt(50) * 0.6 / (math.sqrt(0.24) * 4.0))
    # row 1: N capped at 100: sqrt(100) * 0.19 / (sqrt(0.55 * 0.45) * 1.8)
    assert values[1] == pytest.approx(10 * 0.19 / (math.sqrt(0.2475) * 1.8))
    assert math.isnan(values[2])  # one trade, all wins: no dispersion


def test_scalar_kpis_give_a_float_and_direction_ranks_nan_last() -> None:
    sharpe = get_objective("sharpe")
    assert sharpe.from_kpis({"sharpe": 1.5}) == 1.5
    assert math.isnan(sharpe.from_kpis({"sharpe": float("inf")}))
    key = sharpe.rank_key(np.array([0.5, np.nan, 2.0]))
    assert list(np.argsort(key)) == [2, 0, 1]
    assert sharpe.better(1.0, float("nan")) and not sharpe.better(float("nan"), 1.0)
    with pytest.raises(OptimizerError, match="KPI 'sharpe' is missing"):
        sharpe.from_kpis({"sortino": 1.0})


def test_two_point_sqn_bounds_the_trade_list_sqn_from_above() -> None:
    """The two-point std ignores dispersion within wins and within losses, so it is a lower bound."""
    result = backtest(sp500(), "ema_cross", {"stop_loss_pct": 2.0, "exit_tp0_pct": 4.0})
    returns = result.trades["return_pct"].to_numpy()
    exact = math.sqrt(min(len(returns), 100)) * returns.mean() / returns.std(ddof=0)
    approx = get_objective("sqn").from_kpis(result.kpis)
    assert returns.mean() > 0
    assert approx >= exact
    win = (result.trades["pnl"] > 0).to_numpy()
    two_point_var = win.mean() * (1 - win.mean()) * (returns[win].mean() - returns[~win].mean()) ** 2
    within = win.mean() * returns[win].var() + (1 - win.mean()) * returns[~win].var()
    assert two_point_var + within == pytest.approx(returns.var(ddof=0))  # law of total variance
