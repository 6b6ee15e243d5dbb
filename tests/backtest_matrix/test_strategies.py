"""Strategy spaces, the registry and the plug-in contract."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from numba import njit

import backtest_matrix.strategies as strategies_package
from backtest_matrix.data import load_bars
from backtest_matrix.engine import LONG_ENTRY, LONG_EXIT, EngineConfig, backtest, bar_arrays, sweep
from backtest_matrix.engine._signals import SIGNALS_SIGNATURE
from backtest_matrix.strategies import RISK_PARAMS, Param, Strategy, get_strategy, strategy_names
from backtest_matrix.strategies._base import _REGISTRY
from tradeloop.errors import StrategyError


def test_every_strategy_file_registers_one_strategy() -> None:
    files = sorted(p.stem for p in Path(strategies_package.__file__).parent.glob("[!_]*.py"))
    assert files == strategy_names() == ["donchian_breakout", "ema_cross", "mtf_ema", "rsi_reversion"]


@pytest.mark.parametrize("name", ["ema_cross", "mtf_ema", "rsi_reversion", "donchian_breakout"])
def test_parameter_spaces_are_complete_and_defaults_valid(name: str) -> None:
    cls = get_strategy(name)
    assert cls.params, name
    for param in (*cls.params, *RISK_PARAMS):
        assert param.low <= param.default <= param.high, param
        assert 0 < param.max_step_pct <= 100 and param.doc
    resolved = cls.resolve()
    assert set(resolved) == {p.name for p in cls.space()}
    assert cls.feasible(np.array([[resolved[p.name] for p in cls.params]])).all()


def test_unknown_parameter_and_strategy_get_did_you_mean() -> None:
    with pytest.raises(StrategyError, match=r"unknown parameter 'ema_slwo'\. Did you mean 'ema_slow'\?"):
        get_strategy("ema_cross").resolve({"ema_slwo": 30})
    with pytest.raises(StrategyError, match=r"Did you mean 'rsi_reversion'\?"):
        get_strategy("rsi_reverse")


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("ema_cross", {"ema_fast": 30, "ema_slow": 20}, r"ema_fast \(30\) must be below ema_slow \(20\)"),
        ("ema_cross", {"ema_fast": 2.5}, "ema_fast must be an integer, got 2.5"),
        ("ema_cross", {"ema_fast": "12"}, "ema_fast must be an integer, got '12'"),
        ("ema_cross", {"stop_loss_pct": -1}, r"stop_loss_pct must be within \[0, 50\], got -1"),
        ("mtf_ema", {"fast_tf_minutes": 20}, r"fast_tf_minutes must be one of \[15.0, 30.0, 45.0, 60.0\]"),
        ("rsi_reversion", {"oversold": 45, "overbought": 55, "rsi_period": 1}, "rsi_period must be within"),
        (
            "donchian_breakout",
            {"channel": 10, "exit_channel": 20},
            r"exit_channel \(20\) must not exceed channel",
        ),
    ],
)
def test_bad_values_are_refused_with_the_name_value_and_bound(
    name: str, params: dict[str, object], message: str
) -> None:
    with pytest.raises(StrategyError, match=message):
        get_strategy(name).resolve(params)


def test_sweep_refuses_a_bad_row_and_names_it() -> None:
    bars = load_bars("sp500").bars
    combos = pd.DataFrame({"ema_fast": [5, 10, 300], "ema_slow": [20, 30, 400]})
    with pytest.raises(StrategyError, match=r"row 2: ema_fast=300.0 is outside int \[2, 200\]"):
        sweep(bars, "ema_cross", combos)
    with pytest.raises(StrategyError, match=r"row 1: ema_fast \(40\) must be below ema_slow \(30\)"):
        sweep(bars, "ema_cross", pd.DataFrame({"ema_fast": [5, 40], "ema_slow": [20, 30]}))


@njit(SIGNALS_SIGNATURE, cache=True)
def _enter_at_bar_nb(
    ts: np.ndarray, open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray,
    volume: np.ndarray, params: np.ndarray, flags: np.ndarray, stop_frac: np.ndarray,
) -> None:  # fmt: skip
    for t in range(close.shape[0]):
        flags[t] = LONG_ENTRY if t == int(params[0]) else (LONG_EXIT if t == int(params[1]) else 0)
        stop_frac[t] = math.nan


@pytest.fixture
def plugin_strategy() -> Iterator[type[Strategy]]:
    class EnterAtBar(Strategy):
        name = "test_enter_at_bar"
        description = "Long from one bar to another (a test plug-in)."
        params = (Param("entry_bar", "int", 0, 10_000, 3), Param("exit_bar", "int", 0, 10_000, 8))
        signals_nb = _enter_at_bar_nb

    try:
        yield EnterAtBar
    finally:
        _REGISTRY.pop("test_enter_at_bar", None)


def test_a_new_strategy_needs_nothing_but_its_class(plugin_strategy: type[Strategy]) -> None:
    assert "test_enter_at_bar" in strategy_names()
    bars = load_bars("sp500").bars
    result = backtest(
        bars, "test_enter_at_bar", {"entry_bar": 10, "exit_bar": 20}, config=EngineConfig(fill="close")
    )
    (trade,) = result.trades.itertuples()
    assert (trade.entry_bar, trade.exit_bar, trade.reason) == (10, 20, "signal")
    assert trade.entry_price == bars["close"].iloc[10] and trade.exit_price == bars["close"].iloc[20]
    table = sweep(
        bars, "test_enter_at_bar", pd.DataFrame({"entry_bar": [10, 10, 50], "exit_bar": [20, 30, 60]})
    )
    assert list(table["trades"]) == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("name", ["ema_cross", "mtf_ema", "rsi_reversion", "donchian_breakout"])
@pytest.mark.parametrize("fill", ["next_open", "close"])
def test_sweep_rows_equal_single_backtests(name: str, fill: str) -> None:
    bars = load_bars("synthetic", timeframe="5m", days=100, seed=3).bars
    cls = get_strategy(name)
    rng = np.random.default_rng(1)
    rows = []
    while len(rows) < 6:
        own = {p.name: _sample(p, rng) for p in cls.params}
        if cls.feasible(np.array([[own[p.name] for p in cls.params]]))[0]:
            rows.append({**own, "stop_loss_pct": rng.uniform(0.2, 3), "exit_tp0_pct": rng.uniform(0.2, 5)})
    rows.append(dict(rows[0], stop_loss_pct=0.0))  # shares row 0's signals, so one group has two members
    combos = pd.DataFrame(rows)
    config = EngineConfig(fill=fill, fee_bps=7, slippage_bps=2, direction="long_short")  # type: ignore[arg-type]
    table = sweep(bars, cls, combos, config=config)
    for i, row in enumerate(rows):
        single = backtest(bars, cls, row, config=config)
        for kpi, value in single.kpis.items():
            assert table[kpi].iloc[i] == pytest.approx(value, rel=1e-12, nan_ok=True), (i, kpi)


def _sample(param: Param, rng: np.random.Generator) -> float:
    if param.choices:
        return float(rng.choice(param.choices))
    high = min(param.high, param.low + 60)  # keep indicator look-backs short enough for 100 days of data
    value = rng.uniform(param.low, high)
    return float(round(value)) if param.kind == "int" else value


def test_mtf_ema_sees_a_higher_timeframe_bar_only_after_it_closes() -> None:
    """A jump inside the last 5-minute bar of a 30-minute bucket changes nothing before that bar's close."""
    index = pd.date_range("2024-01-01", periods=2_000, freq="5min", tz="UTC")
    close = 100 + np.sin(np.arange(2_000) / 40.0) * 5
    bars = pd.DataFrame(
        {"open": close, "high": close + 0.1, "low": close - 0.1, "close": close, "volume": 1.0}, index=index
    )
    params = np.array([30.0, 120.0, 3.0, 4.0])
    flags = _mtf_flags(bars, params)
    bumped = bars.copy()
    # k: the last 5-minute bar of a 30-minute bucket, so the bucket's close is bar k's close
    k = next(i for i in range(1_000, 1_010) if (index[i] + pd.Timedelta("5min")).minute % 30 == 0)
    bumped.iloc[k:, :4] += 50.0
    bumped_flags = _mtf_flags(bumped, params)
    assert np.array_equal(flags[:k], bumped_flags[:k])
    assert not np.array_equal(flags[k:], bumped_flags[k:])


def _mtf_flags(bars: pd.DataFrame, params: np.ndarray) -> np.ndarray:
    ts, open_, high, low, close, volume = bar_arrays(bars)
    flags = np.empty(len(close), np.int8)
    get_strategy("mtf_ema").signals_nb(
        ts, open_, high, low, close, volume, params, flags, np.empty(len(close))
    )
    return flags


def test_sweep_tasks_cover_every_row_once_in_bounded_interleaved_chunks() -> None:
    from backtest_matrix.engine._backtest import sweep_tasks

    bounds = np.array([0, 3, 3 + 130, 3 + 130 + 64])
    tasks = sweep_tasks(bounds, max_rows=64)
    assert tasks.tolist() == [[0, 0, 3], [1, 3, 47], [2, 133, 197], [1, 47, 91], [1, 91, 133]]
    covered = np.sort(np.concatenate([np.arange(start, stop) for _, start, stop in tasks]))
    assert np.array_equal(covered, np.arange(bounds[-1]))
    # two threads, four equal groups: each half of the task list holds one chunk of every group
    tasks = sweep_tasks(np.arange(0, 33, 8), max_rows=64, threads=2)
    assert sorted(tasks[:4, 0].tolist()) == sorted(tasks[4:, 0].tolist()) == [0, 1, 2, 3]
    assert (tasks[:, 2] - tasks[:, 1]).tolist() == [4] * 8


def test_with_many_groups_a_sweep_computes_each_groups_signals_once_and_deals_groups_to_the_threads() -> None:
    from backtest_matrix.engine._backtest import sweep_tasks

    tasks = sweep_tasks(np.arange(0, 40 * 64 + 1, 64), max_rows=64, threads=2)
    assert len(tasks) == 40  # one task per group: its signals are computed once, not once per thread
    # numba hands each thread a contiguous half: the halves alternate between neighbouring groups
    assert tasks[:20, 0].tolist() == list(range(0, 40, 2))
    assert tasks[20:, 0].tolist() == list(range(1, 40, 2))


@pytest.mark.parametrize("name", ["ema_cross", "mtf_ema", "rsi_reversion", "donchian_breakout"])
def test_row_checks_and_vectorised_feasibility_agree(name: str) -> None:
    cls = get_strategy(name)
    assert cls.constraints, f"{name} declares no relation between its parameters"
    rng = np.random.default_rng(5)
    rows = np.array([[_sample(p, rng) for p in cls.params] for _ in range(300)])
    for relation in cls.constraints:  # include the boundary, where "below" and "not above" differ
        column = cls.param_names().index(relation.lower)
        rows[:20, column] = rows[:20, cls.param_names().index(relation.upper)]
    feasible = cls.feasible(rows)
    assert 0 < feasible.sum() < len(rows)
    for row, ok in zip(rows, feasible, strict=True):
        values = dict(zip(cls.param_names(), row.tolist(), strict=True))
        try:
            cls.check_constraints(values, "row")
            accepted = True
        except StrategyError:
            accepted = False
        assert accepted == ok, values


def test_a_sweep_in_chunks_equals_one_sweep_in_the_input_order() -> None:
    """Chunks of rows sorted by signal parameters: the same KPIs, bit for bit, in the input's row order and
    index, with the progress reported after each chunk."""
    from backtest_matrix.engine import sweep_in_chunks

    bars = load_bars("synthetic", timeframe="1h", days=120, seed=3).bars
    rng = np.random.default_rng(4)
    combos = pd.DataFrame(
        {
            "ema_fast": rng.integers(3, 12, 300).astype(float),
            "ema_slow": rng.integers(20, 40, 300).astype(float),
            "stop_loss_pct": rng.uniform(0.5, 5.0, 300),
        },
        index=rng.permutation(np.arange(1000, 1300)),
    )
    reported: list[tuple[int, int]] = []
    chunked = sweep_in_chunks(
        bars, "ema_cross", combos, 70, on_chunk=lambda done, total: reported.append((done, total))
    )
    whole = sweep(bars, "ema_cross", combos)
    assert chunked.index.equals(combos.index)
    assert chunked.to_numpy().tobytes() == whole.to_numpy().tobytes()
    assert reported == [(70, 300), (140, 300), (210, 300), (280, 300), (300, 300)]
