"""The neighbourhood draw: within the per-cycle caps and hard bounds, feasible, distinct and seeded."""

from __future__ import annotations

import math

import numpy as np
import pytest

from backtest_matrix.matrix import draw_neighbourhood
from backtest_matrix.strategies import get_strategy, strategy_names

LIVE_LIKE = {
    "ema_cross": {
        "ema_fast": 12,
        "ema_slow": 14,
        "stop_loss_pct": 2.0,
        "exit_tp0_pct": 4.0,
        "trade_fraction": 1,
    },
    "rsi_reversion": {"rsi_period": 3, "oversold": 48.0, "overbought": 52.0, "stop_loss_pct": 49.0},
    "donchian_breakout": {"channel": 10, "exit_channel": 10, "atr_period": 2},
    "mtf_ema": {"fast_tf_minutes": 60, "slow_tf_minutes": 60.0 + 60.0, "ema_fast": 2, "ema_slow": 200},
}


def base_sets() -> list[tuple[str, dict[str, float]]]:
    """Every strategy at its defaults, and once with values near its bounds and constraints."""
    sets = [(name, get_strategy(name).resolve()) for name in strategy_names()]
    sets += [(name, get_strategy(name).resolve(values)) for name, values in LIVE_LIKE.items()]
    return sets


@pytest.mark.parametrize(("name", "base"), base_sets())
def test_neighbours_stay_within_caps_bounds_types_and_constraints(name: str, base: dict[str, float]) -> None:
    cls = get_strategy(name)
    neighbours = draw_neighbourhood(cls, base, 40, seed=7, symbol="SP500")
    assert len(neighbours) == 40
    rows = {tuple(values[p.name] for p in cls.space()) for values in neighbours}
    assert len(rows) == 40 and tuple(base[p.name] for p in cls.space()) not in rows
    for values in neighbours:
        assert set(values) == set(base)
        cls.resolve(values)  # types, bounds and constraints, one by one
        for param in cls.space():
            value, centre = values[param.name], base[param.name]
            assert abs(value - centre) <= abs(centre) * param.max_step_pct / 100.0 + 1e-9, param.name
            assert param.low <= value <= param.high
            if param.kind == "int":
                assert float(value).is_integer()
            if param.kind == "choice":
                assert value in param.choices
    own = np.array([[values[p.name] for p in cls.params] for values in neighbours])
    assert cls.feasible(own).all()


def test_neighbours_actually_move_and_use_the_whole_cap() -> None:
    cls = get_strategy("ema_cross")
    base = cls.resolve({"ema_fast": 50, "ema_slow": 100, "stop_loss_pct": 10.0})
    neighbours = draw_neighbourhood(cls, base, 200, seed=1, symbol="BTC")
    fast = np.array([values["ema_fast"] for values in neighbours])
    stop = np.array([values["stop_loss_pct"] for values in neighbours])
    assert fast.min() == 40 and fast.max() == 60  # integers reach both ends of +/-20 %
    assert 8.0 <= stop.min() < 8.2 and 11.8 < stop.max() <= 12.0
    assert abs(np.mean(stop) - 10.0) < 0.25  # uniform around the base
    assert all(values["exit_tp0_pct"] == 0.0 for values in neighbours)  # an exit that is off stays off


def test_infeasible_draws_are_redrawn() -> None:
    cls = get_strategy("ema_cross")
    base = cls.resolve({"ema_fast": 20, "ema_slow": 21})  # about half of the raw draws break fast < slow
    neighbours = draw_neighbourhood(cls, base, 50, seed=3, symbol="SP500")
    assert all(values["ema_fast"] < values["ema_slow"] for values in neighbours)
    assert {values["ema_fast"] for values in neighbours} >= {16.0, 20.0}


def test_same_seed_same_sets_other_seed_or_pair_other_sets() -> None:
    cls = get_strategy("rsi_reversion")
    base = cls.resolve()
    first = draw_neighbourhood(cls, base, 8, seed=7, symbol="SP500")
    assert first == draw_neighbourhood(cls, base, 8, seed=7, symbol="SP500")
    assert first != draw_neighbourhood(cls, base, 8, seed=8, symbol="SP500")
    assert first != draw_neighbourhood(cls, base, 8, seed=7, symbol="NASDAQ")
    assert draw_neighbourhood(cls, base, 0, seed=7) == []
    assert all(math.isfinite(v) for values in first for v in values.values())
