"""Stage A: the space by cadence, vectorised generation, feasibility, the MIN_TRADES filter, top K file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backtest_matrix.engine import sweep
from backtest_matrix.strategies import get_strategy
from optimizer import (
    STAGE_A_FILE,
    Constraints,
    cadence_window,
    generate_combinations,
    prescreen,
    search_space,
)
from optimizer.objectives import get_objective
from tests.optimizer._search_fixtures import LIVE, sp500
from tradeloop.errors import OptimizerError

EMA = get_strategy("ema_cross")


def _inside(frame: pd.DataFrame, space) -> None:
    for dim in space.dimensions:
        values = frame[dim.name].to_numpy()
        assert values.min() >= dim.low and values.max() <= dim.high, dim
        if dim.is_int:
            assert np.array_equal(values, np.round(values)), dim
        if dim.choices:
            assert set(values) <= set(dim.choices), dim
    for name, value in space.fixed.items():
        assert (frame[name] == value).all(), name


def test_6h_space_searches_risk_parameters_within_the_cap_around_current() -> None:
    space = search_space(EMA, LIVE, "6h", max_delta=0.2)
    assert set(space.names) <= {p.name for p in EMA.space()} - {"ema_fast", "ema_slow"}
    assert space.fixed["ema_fast"] == 12 and space.fixed["ema_slow"] == 26
    dims = {d.name: d for d in space.dimensions}
    assert (dims["stop_loss_pct"].low, dims["stop_loss_pct"].high) == pytest.approx((1.6, 2.4))
    assert (dims["trade_fraction"].low, dims["trade_fraction"].high) == pytest.approx((0.08, 0.12))
    # A parameter that is off (0) gets the cap's scale from its hard range: 0.2 × 200 for exit_tp1_pct.
    assert (dims["exit_tp1_pct"].low, dims["exit_tp1_pct"].high) == pytest.approx((0.0, 40.0))
    # exit_tp0_fraction is 1.0 at its upper bound: [0.8, 1.0].
    assert (dims["exit_tp0_fraction"].low, dims["exit_tp0_fraction"].high) == pytest.approx((0.8, 1.0))


def test_daily_space_doubles_the_cap_rounds_integers_inwards_and_weekly_takes_hard_bounds() -> None:
    daily = {d.name: d for d in search_space(EMA, LIVE, "daily", max_delta=0.2).dimensions}
    assert (daily["ema_fast"].low, daily["ema_fast"].high, daily["ema_fast"].is_int) == (8.0, 16.0, True)
    assert (daily["ema_slow"].low, daily["ema_slow"].high) == (16.0, 36.0)  # 26 ± 10.4 -> [15.6, 36.4]
    weekly = {d.name: d for d in search_space(EMA, LIVE, "weekly").dimensions}
    assert (weekly["ema_fast"].low, weekly["ema_fast"].high) == (2.0, 200.0)
    assert (weekly["stop_loss_pct"].low, weekly["stop_loss_pct"].high) == (0.0, 50.0)


def test_choice_parameters_search_the_choices_inside_the_range() -> None:
    mtf = get_strategy("mtf_ema")
    daily = {d.name: d for d in search_space(mtf, {}, "daily").dimensions}
    # slow_tf_minutes 240 ± 40 % -> [144, 336]: only 240 is inside, so it is fixed.
    assert "slow_tf_minutes" not in daily
    weekly = {d.name: d for d in search_space(mtf, {}, "weekly").dimensions}
    assert weekly["slow_tf_minutes"].choices == (60.0, 120.0, 240.0, 360.0)


def test_cadence_windows() -> None:
    bars = sp500()
    assert len(cadence_window(bars, "6h")) == 365
    daily = cadence_window(bars, "daily")
    assert bars.index[-1] - daily.index[0] <= pd.Timedelta(days=1096)
    assert len(daily) > 700
    assert len(cadence_window(bars, "weekly")) == len(bars)
    with pytest.raises(OptimizerError, match="--cadence 'hourly'"):
        cadence_window(bars, "hourly")


@pytest.mark.parametrize("method", ["random", "sobol", "grid"])
def test_generated_combinations_are_inside_the_space_and_deterministic_per_seed(method: str) -> None:
    space = search_space(EMA, LIVE, "weekly")
    first = generate_combinations(space, 4096, method, seed=3)
    again = generate_combinations(space, 4096, method, seed=3)
    pd.testing.assert_frame_equal(first, again)
    _inside(first, space)
    assert not first.duplicated().any()
    assert 0 < len(first) <= 4096
    if method != "grid":
        other = generate_combinations(space, 4096, method, seed=4)
        assert not first.equals(other)


def test_grid_uses_floor_of_the_dth_root_levels_per_axis() -> None:
    space = search_space(EMA, {}, "6h")  # risk parameters only
    n_dims = len(space.dimensions)
    grid = generate_combinations(space, 3**n_dims, "grid", seed=0)
    assert len(grid) == 3**n_dims
    for dim in space.dimensions:
        assert sorted(grid[dim.name].unique()) == pytest.approx([dim.low, (dim.low + dim.high) / 2, dim.high])


def test_prescreen_filters_infeasible_and_min_trades_and_writes_the_top_k(tmp_path: Path) -> None:
    bars = sp500()
    space = search_space(EMA, LIVE, "weekly")
    sharpe = get_objective("sharpe")
    constraints = Constraints(min_trades=30, max_drawdown_pct=25.0)
    result = prescreen(
        bars, EMA, space, sharpe, n=512, method="sobol", seed=1, top_k=7, constraints=constraints,
        out_dir=tmp_path,
    )  # fmt: skip
    generated = generate_combinations(space, 512, "sobol", seed=1)
    feasible = generated[generated["ema_fast"] < generated["ema_slow"]]
    assert result.generated == len(generated)
    assert result.feasible == len(feasible) < len(generated)
    # Recompute every row with the engine: the filter keeps exactly the rows meeting the constraints.
    swept = sweep(bars, EMA, feasible.reset_index(drop=True))
    keep = (swept["trades"] >= 30) & (swept["max_drawdown_pct"] <= 25.0) & swept["sharpe"].notna()
    assert result.passed == int(keep.sum())
    best = swept[keep].sort_values("sharpe", ascending=False).head(7)
    assert result.top["sharpe"].to_numpy() == pytest.approx(best["sharpe"].to_numpy())
    assert (result.top["trades"] >= 30).all()
    document = json.loads((tmp_path / STAGE_A_FILE).read_text())
    assert [row["objective"] for row in document["top"]] == pytest.approx(best["sharpe"].tolist())
    assert document["top"][0]["params"]["ema_fast"] == best.iloc[0]["ema_fast"]
    assert document["passed"] == result.passed and document["objective"]["name"] == "sharpe"


def test_prescreen_with_an_unreachable_trade_count_keeps_nothing(tmp_path: Path) -> None:
    space = search_space(EMA, LIVE, "weekly")
    result = prescreen(
        sp500(), EMA, space, get_objective("sharpe"), n=64, seed=0, constraints=Constraints(min_trades=10**6)
    )
    assert result.passed == 0 and result.top.empty


def test_sobol_signal_parameters_snap_to_stratum_midpoints_and_risk_parameters_stay_continuous() -> None:
    space = search_space(EMA, {}, "weekly")
    levels = 16
    frame = generate_combinations(space, 4096, "sobol", seed=2, signal_levels=levels)
    _inside(frame, space)
    dims = {dim.name: dim for dim in space.dimensions}
    midpoints = (np.arange(levels) + 0.5) / levels
    for name in ("ema_fast", "ema_slow"):
        lattice = dims[name].from_unit(midpoints)
        counts = frame[name].value_counts()
        assert set(counts.index) == set(lattice), name
        # A scrambled Sobol sequence of 2^12 points has exactly 4096 / 16 points in every stratum.
        assert (counts == 4096 // levels).all(), name
    assert len(frame[["ema_fast", "ema_slow"]].drop_duplicates()) == levels**2
    for name in ("stop_loss_pct", "exit_trailing_stop_pct", "trade_fraction"):
        assert frame[name].nunique() == len(frame), name


def test_signal_levels_zero_keeps_every_draw_and_the_default_shares_signals() -> None:
    space = search_space(EMA, {}, "weekly")
    raw = generate_combinations(space, 4096, "random", seed=5, signal_levels=0)
    auto = generate_combinations(space, 4096, "random", seed=5)
    risk = [name for name in space.names if name not in ("ema_fast", "ema_slow")]
    pd.testing.assert_frame_equal(raw[risk], auto[risk])
    assert len(raw[["ema_fast", "ema_slow"]].drop_duplicates()) > 3_000
    assert len(auto[["ema_fast", "ema_slow"]].drop_duplicates()) <= 16**2


@pytest.mark.parametrize(
    ("n", "signal_dims", "expected"), [(250_000, 2, 63), (512, 2, 16), (10**6, 1, 15_625), (100, 0, 0)]
)
def test_auto_signal_levels_aims_at_one_sweep_task_per_lattice_point(
    n: int, signal_dims: int, expected: int
) -> None:
    from optimizer._prescreen import _auto_signal_levels

    assert _auto_signal_levels(n, signal_dims) == expected


def test_negative_signal_levels_are_refused() -> None:
    space = search_space(EMA, {}, "weekly")
    with pytest.raises(OptimizerError, match=r"signal_levels must be 0 .* got -1"):
        generate_combinations(space, 64, "sobol", seed=0, signal_levels=-1)
