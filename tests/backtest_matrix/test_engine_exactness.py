"""The numba engine against the slow reference of docs/engine.md (``reference.py``), to 1e-9.

For every strategy, both fills and both directions, the single backtest (trades, equity, KPIs) and the
sweep (one row and many rows) must equal the reference simulator run on the reference signals. A scripted
strategy, whose signals are read from the bars' volume column, drives hand-made cases of the documented
fill, stop and target rules, and random signal sets that no real strategy would produce.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from numba import njit

from backtest_matrix.engine import (
    KPI_NAMES,
    LONG_ENTRY,
    LONG_EXIT,
    SHORT_ENTRY,
    SHORT_EXIT,
    TRADE_FIELDS,
    BacktestResult,
    EngineConfig,
    backtest,
    bar_arrays,
    sweep,
)
from backtest_matrix.engine._signals import SIGNALS_SIGNATURE
from backtest_matrix.strategies import RISK_PARAMS, Strategy, get_strategy, strategy_names
from tests.backtest_matrix.reference import (
    ReferenceResult,
    Trade,
    engine_configs,
    own_params,
    random_walk_bars,
    reference_signals,
    risk_params,
    run_reference,
    simulate,
    strategy_bars,
)

TOLERANCE = 1e-9
FILLS = ("next_open", "close")
DIRECTIONS = ("long", "long_short")
EXACT_TRADE_FIELDS = ("entry_bar", "exit_bar", "side", "reason", "exit_fills")
PRICE_TRADE_FIELDS = tuple(name for name in TRADE_FIELDS if name not in EXACT_TRADE_FIELDS)
HYPOTHESIS = settings(deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow])


# --------------------------------------------------------------------------------------------------------
# Comparisons
# --------------------------------------------------------------------------------------------------------


def assert_close(actual: object, expected: object, what: str) -> None:
    """Equal to 1e-9 (relative and absolute); NaN equals NaN and inf equals inf of the same sign."""
    actual_values = np.asarray(actual, dtype=np.float64)
    expected_values = np.asarray(expected, dtype=np.float64)
    assert actual_values.shape == expected_values.shape, f"{what}: shapes differ"
    same = np.isclose(actual_values, expected_values, rtol=TOLERANCE, atol=TOLERANCE, equal_nan=True)
    if not same.all():
        where = np.flatnonzero(~same.ravel())[:5]
        pairs = [(int(i), actual_values.ravel()[i], expected_values.ravel()[i]) for i in where]
        raise AssertionError(f"{what}: engine != reference at (index, engine, reference) {pairs}")


def assert_kpis_match(actual: Mapping[str, float], expected_run: ReferenceResult, what: str) -> None:
    expected = expected_run.kpis
    mismatched = [
        (name, actual[name], expected[name])
        for name in KPI_NAMES
        if not np.isclose(actual[name], expected[name], rtol=TOLERANCE, atol=TOLERANCE, equal_nan=True)
    ]
    assert not mismatched, f"{what}: KPIs (name, engine, reference) differ: {mismatched}"


def assert_trades_match(actual: pd.DataFrame, expected: Sequence[Trade]) -> None:
    reference = pd.DataFrame([vars(trade) for trade in expected], columns=list(TRADE_FIELDS))
    assert len(actual) == len(reference), (
        f"{len(actual)} trades, reference has {len(reference)}:\n{actual[list(TRADE_FIELDS)]}\n{reference}"
    )
    for name in EXACT_TRADE_FIELDS:
        assert actual[name].tolist() == reference[name].tolist(), f"trade {name}s differ"
    for name in PRICE_TRADE_FIELDS:
        assert_close(actual[name].to_numpy(), reference[name].to_numpy(), f"trade {name}")


def assert_backtest_matches(result: BacktestResult, expected: ReferenceResult) -> None:
    assert_trades_match(result.trades, expected.trades)
    assert_close(result.equity.to_numpy(), expected.equity, "equity")
    assert_kpis_match(result.kpis, expected, "backtest")


def sweep_row_kpis(frame: pd.DataFrame, label: object) -> dict[str, float]:
    return {name: float(frame.at[label, name]) for name in KPI_NAMES}


def positive_equity(expected: ReferenceResult) -> bool:
    """Per-bar returns through zero or negative equity (a short run over) are undefined in the doc."""
    return bool(expected.equity.min() > 0.0)


def assume_positive_equity(expected: ReferenceResult) -> None:
    assume(positive_equity(expected))


# --------------------------------------------------------------------------------------------------------
# Signals
# --------------------------------------------------------------------------------------------------------


def kernel_signals(strategy: str, bars: pd.DataFrame, params: Mapping[str, float]) -> tuple[np.ndarray, ...]:
    """The strategy's numba kernel, called the way ``backtest`` calls it."""
    cls = get_strategy(strategy)
    own, _ = cls.split(cls.resolve(params))
    arrays = bar_arrays(bars)
    flags = np.empty(len(bars), np.int8)
    stop_frac = np.empty(len(bars))
    cls.signals_nb(*arrays, own, flags, stop_frac)
    return flags, stop_frac


@pytest.mark.parametrize("strategy", strategy_names())
@HYPOTHESIS
@given(data=st.data())
def test_signals_match_the_documented_rule(strategy: str, data: st.DataObject) -> None:
    bars = data.draw(strategy_bars(strategy), label="bars")
    params = data.draw(own_params(strategy), label="params")
    flags, stop_frac = kernel_signals(strategy, bars, params)
    expected_flags, expected_stop = reference_signals(strategy, bars, params)
    mismatch = np.flatnonzero(flags != expected_flags)
    assert mismatch.size == 0, f"flags differ at bars {mismatch[:10]}: {flags[mismatch[:10]]}"
    assert_close(stop_frac, expected_stop, "stop_frac")


# --------------------------------------------------------------------------------------------------------
# The four strategies end to end: backtest and sweep against the reference
# --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fill", FILLS)
@pytest.mark.parametrize("strategy", strategy_names())
@settings(HYPOTHESIS, max_examples=40)
@given(data=st.data())
def test_backtest_and_one_row_sweep_match_reference(strategy: str, fill: str, data: st.DataObject) -> None:
    bars = data.draw(strategy_bars(strategy), label="bars")
    params = data.draw(own_params(strategy), label="own") | data.draw(risk_params(), label="risk")
    costs = data.draw(engine_configs(fill, "long"), label="config")
    for direction in DIRECTIONS:  # both directions on every example
        config = replace(costs, direction=direction)
        expected = run_reference(bars, strategy, params, config)
        if not positive_equity(expected):
            continue
        assert_backtest_matches(backtest(bars, strategy, params, config=config), expected)
        swept = sweep(bars, strategy, pd.DataFrame([params]), config=config)
        assert_kpis_match(sweep_row_kpis(swept, swept.index[0]), expected, "one-row sweep")


@pytest.mark.parametrize("strategy", strategy_names())
@settings(HYPOTHESIS, max_examples=30)
@given(data=st.data())
def test_multi_row_sweep_matches_reference(strategy: str, data: st.DataObject) -> None:
    bars = data.draw(strategy_bars(strategy), label="bars")
    fill = data.draw(st.sampled_from(FILLS), label="fill")
    direction = data.draw(st.sampled_from(DIRECTIONS), label="direction")
    config = data.draw(engine_configs(fill, direction), label="config")
    # A few strategy parameter sets, each shared by several risk settings (one signal group each).
    own_sets = data.draw(st.lists(own_params(strategy), min_size=1, max_size=3), label="own sets")
    rows = [
        data.draw(st.sampled_from(own_sets), label="own") | data.draw(risk_params(), label="risk")
        for _ in range(data.draw(st.integers(2, 8), label="rows"))
    ]
    expected = [run_reference(bars, strategy, row, config) for row in rows]
    for result in expected:
        assume_positive_equity(result)
    # An index that is neither sorted nor 0..n-1: results must come back by label, in input order.
    labels = [f"row{i}" for i in data.draw(st.permutations(range(len(rows))), label="labels")]
    combinations = pd.DataFrame(rows, index=labels)

    swept = sweep(bars, strategy, combinations, config=config)
    assert swept.index.tolist() == labels
    for label, row, reference in zip(labels, rows, expected, strict=True):
        for name, value in row.items():
            assert swept.at[label, name] == value
        assert_kpis_match(sweep_row_kpis(swept, label), reference, f"sweep row {label}")


# --------------------------------------------------------------------------------------------------------
# A scripted strategy: flags and stop distances read from the volume column
# --------------------------------------------------------------------------------------------------------

STOP_UNITS = 1_000_000  # volume = flags + 16 × round(stop_frac × STOP_UNITS)


@njit(SIGNALS_SIGNATURE)
def scripted_signals_nb(
    ts: np.ndarray,
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    volume: np.ndarray,
    params: np.ndarray,
    flags: np.ndarray,
    stop_frac: np.ndarray,
) -> None:
    for t in range(close.shape[0]):
        code = int(volume[t])
        flags[t] = code & 15
        units = code >> 4
        stop_frac[t] = units / STOP_UNITS if units > 0 else math.nan


class Scripted(Strategy):
    """Plays back the signals written into the bars; left out of the registry (no ``name`` in the body)."""

    params = ()
    signals_nb = scripted_signals_nb


Scripted.name = "scripted"


def scripted_bars(
    ohlc: Sequence[tuple[float, float, float, float]],
    flags: Sequence[int],
    stop_frac: Sequence[float] | None = None,
    freq: str = "1D",
) -> pd.DataFrame:
    stops = np.zeros(len(flags)) if stop_frac is None else np.nan_to_num(np.asarray(stop_frac, float))
    volume = np.asarray(flags, dtype=np.int64) + 16 * np.round(stops * STOP_UNITS).astype(np.int64)
    frame = pd.DataFrame(ohlc, columns=["open", "high", "low", "close"], dtype=np.float64)
    frame["volume"] = volume.astype(np.float64)
    frame.index = pd.date_range("2024-03-01", periods=len(frame), freq=freq, tz="UTC", name="timestamp")
    return frame


def decode_script(bars: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    codes = bars["volume"].to_numpy().astype(np.int64)
    units = codes >> 4
    return (codes & 15).astype(np.int8), np.where(units > 0, units / STOP_UNITS, np.nan)


def run_scripted(
    bars: pd.DataFrame, risk: Mapping[str, float] | None = None, **config: object
) -> tuple[BacktestResult, ReferenceResult]:
    """The engine (backtest and a one-row sweep) and the reference on a scripted run; asserts they agree."""
    params = {param.name: float(param.default) for param in RISK_PARAMS} | dict(risk or {})
    engine_config = EngineConfig(**config)  # type: ignore[arg-type]
    flags, stop_frac = decode_script(bars)
    ts = bar_arrays(bars)[0]
    columns = (bars[name].to_numpy() for name in ("open", "high", "low", "close"))
    expected = simulate(ts, *columns, flags, stop_frac, params, engine_config)
    result = backtest(bars, Scripted, params, config=engine_config)
    assert_backtest_matches(result, expected)
    swept = sweep(bars, Scripted, pd.DataFrame([dict(risk or {"stop_loss_pct": 0.0})]), config=engine_config)
    assert_kpis_match(sweep_row_kpis(swept, swept.index[0]), expected, "one-row sweep")
    return result, expected


@st.composite
def scripted_runs(draw: st.DrawFn) -> pd.DataFrame:
    """Random bars with random flag sets (any combination, first and last bar included) and stops."""
    n = draw(st.integers(2, 150))
    bars = random_walk_bars(
        seed=draw(st.integers(0, 2**32 - 1)),
        n=n,
        freq=draw(st.sampled_from(["1h", "4h", "1D"])),
        volatility=draw(st.sampled_from([0.005, 0.015, 0.03])),
        gaps=draw(st.integers(0, 10)),
    )
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    density = draw(st.sampled_from([0.05, 0.2, 0.6]))
    flags = np.where(rng.random(n) < density, rng.integers(1, 16, n), 0)
    edge_flags = draw(st.tuples(st.integers(0, 15), st.integers(0, 15)))
    flags[0], flags[-1] = edge_flags
    stops = np.where(rng.random(n) < 0.3, rng.uniform(0.002, 0.2, n), 0.0)
    ohlc = bars[["open", "high", "low", "close"]].itertuples(index=False)
    scripted = scripted_bars(list(ohlc), flags.tolist(), stops.tolist())
    scripted.index = bars.index
    return scripted


@pytest.mark.parametrize("direction", DIRECTIONS)
@pytest.mark.parametrize("fill", FILLS)
@HYPOTHESIS
@given(data=st.data())
def test_random_scripted_signals_match_reference(fill: str, direction: str, data: st.DataObject) -> None:
    bars = data.draw(scripted_runs(), label="bars")
    risk = data.draw(risk_params(), label="risk")
    config = data.draw(engine_configs(fill, direction), label="config")
    flags, stop_frac = decode_script(bars)
    ts = bar_arrays(bars)[0]
    columns = (bars[name].to_numpy() for name in ("open", "high", "low", "close"))
    expected = simulate(ts, *columns, flags, stop_frac, risk, config)
    assume_positive_equity(expected)
    assert_backtest_matches(backtest(bars, Scripted, risk, config=config), expected)
    swept = sweep(bars, Scripted, pd.DataFrame([risk]), config=config)
    assert_kpis_match(sweep_row_kpis(swept, swept.index[0]), expected, "one-row sweep")


# --------------------------------------------------------------------------------------------------------
# Hand-made cases of the documented rules
# --------------------------------------------------------------------------------------------------------

FLAT = (100.0, 100.5, 99.5, 100.0)


def only_trade(result: BacktestResult) -> pd.Series:
    assert len(result.trades) == 1, result.trades
    return result.trades.iloc[0]


@pytest.mark.parametrize("side", ["long", "short"])
def test_a_gap_through_the_stop_fills_at_the_open(side: str) -> None:
    sign = 1.0 if side == "long" else -1.0
    gap_open = 100.0 - sign * 10.0  # 10 % through a 5 % stop
    ohlc = [FLAT, FLAT, (gap_open, gap_open + 1.0, gap_open - 1.0, gap_open), FLAT]
    entry = LONG_ENTRY if side == "long" else SHORT_ENTRY
    result, _ = run_scripted(
        scripted_bars(ohlc, [entry, 0, 0, 0]), {"stop_loss_pct": 5.0}, direction="long_short"
    )
    trade = only_trade(result)
    assert (trade.entry_bar, trade.exit_bar, trade.side, trade.reason) == (1, 2, side, "stop_loss")
    assert trade.entry_price == 100.0
    assert trade.exit_price == gap_open


@pytest.mark.parametrize("fill", FILLS)
def test_a_bar_touching_stop_and_target_exits_at_the_stop(fill: str) -> None:
    ohlc = [FLAT, FLAT, (100.0, 106.0, 94.0, 100.0), FLAT]
    result, _ = run_scripted(
        scripted_bars(ohlc, [LONG_ENTRY, 0, 0, 0]), {"stop_loss_pct": 5.0, "exit_tp0_pct": 5.0}, fill=fill
    )
    trade = only_trade(result)
    assert (trade.exit_bar, trade.reason, trade.exit_price) == (2, "stop_loss", 95.0)


def test_take_profit_tiers_close_fractions_of_the_initial_size() -> None:
    # Entry at 100 (bar 1's open); tier 0 (+2 %, half) on bar 2's high, tier 1 (+4 %, 30 %) on bar 3's high,
    # tier 2 (+6 %, 50 % capped by the 20 % left) at bar 4's open, which gaps above it.
    ohlc = [
        FLAT,
        FLAT,
        (100.0, 102.5, 99.5, 101.0),
        (101.0, 104.5, 100.5, 104.0),
        (107.0, 108.0, 106.0, 107.0),
    ]
    risk = {
        "exit_tp0_pct": 2.0, "exit_tp0_fraction": 0.5,
        "exit_tp1_pct": 4.0, "exit_tp1_fraction": 0.3,
        "exit_tp2_pct": 6.0, "exit_tp2_fraction": 0.5,
    }  # fmt: skip
    result, _ = run_scripted(scripted_bars(ohlc, [LONG_ENTRY, 0, 0, 0, 0]), risk)
    trade = only_trade(result)
    assert (trade.exit_bar, trade.reason, trade.exit_fills) == (4, "take_profit_2", 3)
    assert trade.exit_price == pytest.approx(0.5 * 102.0 + 0.3 * 104.0 + 0.2 * 107.0, rel=1e-12)
    # Equity at bar 2's close: half sold at 102, half marked at 101.
    assert result.equity.iloc[2] == pytest.approx(10_000.0 + 50.0 * 2.0 + 50.0 * 1.0, rel=1e-12)


def test_tiers_fill_in_order_and_an_off_tier_switches_off_the_later_ones() -> None:
    risk = {"exit_tp0_pct": 2.0, "exit_tp0_fraction": 0.5, "exit_tp1_pct": 0.0, "exit_tp2_pct": 3.0}
    ohlc = [FLAT, FLAT, (100.0, 110.0, 99.5, 101.0), FLAT]
    result, _ = run_scripted(scripted_bars(ohlc, [LONG_ENTRY, 0, 0, 0]), risk)
    trade = only_trade(result)
    assert (trade.reason, trade.exit_fills) == ("open", 1)  # tier 2 never fires after the off tier 1
    # Two tiers reached on one bar both fill, each at its own target.
    risk = {"exit_tp0_pct": 2.0, "exit_tp0_fraction": 0.5, "exit_tp1_pct": 3.0, "exit_tp1_fraction": 1.0}
    result, _ = run_scripted(scripted_bars(ohlc, [LONG_ENTRY, 0, 0, 0]), risk)
    trade = only_trade(result)
    assert (trade.exit_bar, trade.reason, trade.exit_fills) == (2, "take_profit_1", 2)
    assert trade.exit_price == pytest.approx(0.5 * 102.0 + 0.5 * 103.0, rel=1e-12)


def test_the_last_tier_closes_its_own_fraction_not_the_rest() -> None:
    # docs/engine.md: tier k closes its fraction of the initial size (so 3 × 30 % leaves 10 % open).
    # (_risk.py's exit_tp2 docs say tier 2 "closes the rest"; the engine follows engine.md.)
    risk = {f"exit_tp{k}_pct": 1.0 + k for k in range(3)} | {f"exit_tp{k}_fraction": 0.3 for k in range(3)}
    ohlc = [FLAT, FLAT, (100.0, 104.0, 99.5, 101.0), FLAT]
    result, _ = run_scripted(scripted_bars(ohlc, [LONG_ENTRY, 0, 0, 0]), risk)
    trade = only_trade(result)
    assert (trade.reason, trade.exit_fills) == ("open", 3)
    assert trade.exit_price == pytest.approx(0.3 * (101.0 + 102.0 + 103.0) + 0.1 * 100.0, rel=1e-12)


def test_the_trailing_stop_follows_the_previous_bars_best_high() -> None:
    # Entry at 100 at bar 1's open. Bar 1 itself trails from the fill (stop 95), so its low of 96 is safe
    # while its high of 110 lifts the stop to 104.5 from bar 2 on; bar 2's own high of 120 does not count.
    ohlc = [FLAT, (100.0, 110.0, 96.0, 108.0), (108.0, 120.0, 104.0, 119.0), FLAT]
    result, _ = run_scripted(scripted_bars(ohlc, [LONG_ENTRY, 0, 0, 0]), {"exit_trailing_stop_pct": 5.0})
    trade = only_trade(result)
    assert (trade.entry_bar, trade.exit_bar, trade.reason) == (1, 2, "trailing_stop")
    assert trade.exit_price == pytest.approx(104.5, rel=1e-12)


def test_the_strategy_stop_is_measured_from_the_entry_fill() -> None:
    # stop_frac of the signal bar (8 %) is tighter than the fixed 10 % stop: exit at 92.
    ohlc = [FLAT, FLAT, (100.0, 100.5, 91.0, 92.5), FLAT]
    bars = scripted_bars(ohlc, [LONG_ENTRY, 0, 0, 0], [0.08, 0.0, 0.0, 0.0])
    result, _ = run_scripted(bars, {"stop_loss_pct": 10.0})
    trade = only_trade(result)
    assert (trade.exit_bar, trade.reason, trade.exit_price) == (2, "stop_loss", pytest.approx(92.0))


def test_next_open_entries_are_checked_for_stops_on_their_own_bar() -> None:
    ohlc = [FLAT, (100.0, 100.5, 94.0, 99.0), FLAT]
    result, _ = run_scripted(scripted_bars(ohlc, [LONG_ENTRY, 0, 0]), {"stop_loss_pct": 5.0})
    trade = only_trade(result)
    assert (trade.entry_bar, trade.exit_bar, trade.reason, trade.exit_price) == (1, 1, "stop_loss", 95.0)
    # In close mode the same entry is made at bar 0's close and bar 1 stops it out.
    result, _ = run_scripted(scripted_bars(ohlc, [LONG_ENTRY, 0, 0]), {"stop_loss_pct": 5.0}, fill="close")
    trade = only_trade(result)
    assert (trade.entry_bar, trade.exit_bar, trade.reason) == (0, 1, "stop_loss")


@pytest.mark.parametrize("fill", FILLS)
def test_signals_on_the_first_and_the_last_bar(fill: str) -> None:
    ohlc = [FLAT, (100.0, 103.0, 99.0, 102.0), (102.0, 104.0, 101.0, 103.0), (103.0, 105.0, 102.0, 104.0)]
    flags = [LONG_ENTRY, LONG_EXIT, 0, LONG_ENTRY]
    result, _ = run_scripted(scripted_bars(ohlc, flags), fill=fill)
    trades = result.trades
    if fill == "close":  # bar 0's signal fills at its close; the last bar's opens a trade left open
        assert trades[["entry_bar", "exit_bar", "reason"]].values.tolist() == [
            [0, 1, "signal"],
            [3, 3, "open"],
        ]
        assert trades["entry_price"].tolist() == [100.0, 104.0]
        assert trades["pnl"].iloc[1] == 0.0  # marked at the close it was bought at, no exit costs
    else:  # bar 0's signal fills at bar 1's open; the last bar's signal has no next open
        assert trades[["entry_bar", "exit_bar", "reason"]].values.tolist() == [[1, 2, "signal"]]
        assert trades["entry_price"].tolist() == [100.0]
        assert trades["exit_price"].tolist() == [102.0]


@pytest.mark.parametrize("fill", FILLS)
def test_a_position_open_at_the_end_is_marked_at_the_last_close_without_exit_costs(fill: str) -> None:
    ohlc = [FLAT, FLAT, (100.0, 111.0, 99.0, 110.0)]
    result, _ = run_scripted(
        scripted_bars(ohlc, [LONG_ENTRY, 0, 0]), fill=fill, fee_bps=10.0, slippage_bps=20.0
    )
    trade = only_trade(result)
    entry_price = 100.0 * (1 + 20e-4)
    size = 10_000.0 / (entry_price * (1 + 10e-4))
    assert (trade.exit_bar, trade.reason, trade.exit_fills) == (2, "open", 0)
    assert trade.entry_price == pytest.approx(entry_price, rel=1e-12)
    assert trade["size"] == pytest.approx(size, rel=1e-12)
    assert trade.exit_price == 110.0
    assert trade.fees == pytest.approx(size * entry_price * 10e-4, rel=1e-12)
    assert trade.pnl == pytest.approx(size * (110.0 - entry_price) - trade.fees, rel=1e-12)
    assert result.kpis["trades"] == 1.0


def test_in_close_mode_a_bar_with_an_intrabar_exit_ignores_its_own_signal() -> None:
    # Bought at bar 0's close; bar 1 stops out at 95 and its own entry signal is ignored; bar 2's is taken.
    ohlc = [FLAT, (100.0, 100.5, 94.0, 96.0), (96.0, 97.0, 95.5, 96.5), FLAT]
    flags = [LONG_ENTRY, LONG_ENTRY, LONG_ENTRY, 0]
    result, _ = run_scripted(scripted_bars(ohlc, flags), {"stop_loss_pct": 5.0}, fill="close")
    assert result.trades[["entry_bar", "exit_bar", "reason"]].values.tolist() == [
        [0, 1, "stop_loss"],
        [2, 3, "open"],
    ]
    # A partial take-profit is an intrabar exit too: bar 1's exit signal waits; bar 2's closes the rest.
    ohlc = [FLAT, (100.0, 103.0, 99.5, 101.0), (101.0, 101.5, 100.5, 101.0), FLAT]
    flags = [LONG_ENTRY, LONG_EXIT, LONG_EXIT, 0]
    risk = {"exit_tp0_pct": 2.0, "exit_tp0_fraction": 0.5}
    result, _ = run_scripted(scripted_bars(ohlc, flags), risk, fill="close")
    trade = only_trade(result)
    assert (trade.exit_bar, trade.reason, trade.exit_fills) == (2, "signal", 2)


def test_a_reversal_exits_and_enters_at_the_same_price() -> None:
    ohlc = [FLAT, FLAT, (103.0, 104.0, 102.0, 103.0), (101.0, 101.5, 100.0, 100.5)]
    flags = [LONG_ENTRY, LONG_EXIT | SHORT_ENTRY, 0, SHORT_EXIT]
    result, _ = run_scripted(scripted_bars(ohlc, flags), direction="long_short", fee_bps=5.0)
    trades = result.trades
    assert trades[["entry_bar", "exit_bar", "side", "reason"]].values.tolist() == [
        [1, 2, "long", "signal"],
        [2, 3, "short", "open"],
    ]
    assert trades["exit_price"].iloc[0] == trades["entry_price"].iloc[1] == 103.0
    # Long only: the short entry is ignored.
    result, _ = run_scripted(scripted_bars(ohlc, flags), direction="long", fee_bps=5.0)
    assert result.trades["side"].tolist() == ["long"]


def test_sizing_with_fees_slippage_trade_fraction_and_reserve() -> None:
    ohlc = [FLAT, FLAT, FLAT]
    risk = {"trade_fraction": 0.6}
    result, _ = run_scripted(
        scripted_bars(ohlc, [SHORT_ENTRY, 0, 0]), risk, direction="long_short", fee_bps=25.0,
        slippage_bps=10.0, min_reserve=0.5, init_cash=20_000.0,
    )  # fmt: skip
    trade = only_trade(result)
    fill = 100.0 * (1 - 10e-4)  # a short sells: slippage lowers the price
    invest = min(0.6 * 20_000.0, 0.5 * 20_000.0)
    assert trade.entry_price == pytest.approx(fill, rel=1e-12)
    assert trade["size"] == pytest.approx(invest / (fill * (1 + 25e-4)), rel=1e-12)
    assert trade["size"] * trade.entry_price + trade.fees == pytest.approx(invest, rel=1e-12)


# --------------------------------------------------------------------------------------------------------
# Two definitions pinned down: worst day and drawdown follow docs/engine.md
# --------------------------------------------------------------------------------------------------------


def test_worst_day_is_the_smallest_gain_when_every_day_gains() -> None:
    # 12-hour bars: bought at bar 1's open (100), day 1 closes at 101 (+1 %), day 2 at 103 (+1.98 %).
    ohlc = [FLAT, (100.0, 101.5, 99.5, 101.0), (101.0, 102.5, 100.5, 102.0), (102.0, 103.5, 101.5, 103.0)]
    bars = scripted_bars(ohlc, [LONG_ENTRY, 0, 0, 0], freq="12h")
    result = backtest(bars, Scripted, {}, config=EngineConfig())
    assert result.kpis["worst_day_pct"] == pytest.approx(1.0, rel=1e-12)


def test_drawdown_peaks_are_taken_over_the_closes() -> None:
    # Bought at bar 0's close with a 10 bps fee: equity 9990 at that close, then only higher.
    ohlc = [FLAT, (100.0, 101.5, 99.5, 101.0), (101.0, 102.5, 100.5, 102.0)]
    bars = scripted_bars(ohlc, [LONG_ENTRY, 0, 0])
    result = backtest(bars, Scripted, {}, config=EngineConfig(fill="close", fee_bps=10.0))
    assert result.equity.is_monotonic_increasing
    assert result.kpis["max_drawdown_pct"] == 0.0
