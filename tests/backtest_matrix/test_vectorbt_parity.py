"""Parity with vectorbt's ``Portfolio.from_signals`` (a test-only peer) in ``fill="close"`` mode.

The engine's ``ema_cross`` total return and trade count must equal vectorbt's, to 1e-9, with stop-loss,
take-profit and fees, on the real embedded data and on synthetic 5-minute bars.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from backtest_matrix.data import load_bars
from backtest_matrix.engine import LONG_ENTRY, LONG_EXIT, EngineConfig, backtest, bar_arrays, sweep
from backtest_matrix.strategies import get_strategy

vbt = pytest.importorskip("vectorbt")

EMA_CROSS = get_strategy("ema_cross")
N_SETS = 100


def random_parameter_sets(seed: int, n: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    fast = rng.integers(2, 60, n)
    slow = fast + rng.integers(1, 120, n)
    stop = np.where(rng.random(n) < 0.2, 0.0, rng.uniform(0.3, 12.0, n))
    target = np.where(rng.random(n) < 0.2, 0.0, rng.uniform(0.3, 25.0, n))
    return pd.DataFrame(
        {"ema_fast": fast, "ema_slow": slow, "stop_loss_pct": stop, "exit_tp0_pct": target}
    ).astype(float)


def ema_cross_signals(bars: pd.DataFrame, fast: float, slow: float) -> tuple[np.ndarray, np.ndarray]:
    ts, open_, high, low, close, volume = bar_arrays(bars)
    flags = np.empty(len(close), np.int8)
    stop_frac = np.empty(len(close))
    own = np.array([fast, slow])
    EMA_CROSS.signals_nb(ts, open_, high, low, close, volume, own, flags, stop_frac)
    return (flags & LONG_ENTRY) > 0, (flags & LONG_EXIT) > 0


def vectorbt_sweep(bars: pd.DataFrame, sets: pd.DataFrame, fee: float) -> tuple[np.ndarray, np.ndarray]:
    """vectorbt's total return (%) and trade count for each parameter set (one column each)."""
    signals = [ema_cross_signals(bars, row.ema_fast, row.ema_slow) for row in sets.itertuples()]
    entries = np.column_stack([entry for entry, _ in signals])
    exits = np.column_stack([exit_ for _, exit_ in signals])
    as_stop = lambda pct: np.where(pct > 0, pct / 100.0, np.nan)[None, :]  # noqa: E731 - (1, N) per column
    column = lambda name: bars[name].to_numpy()[:, None]  # noqa: E731 - (T, 1) broadcasts against (T, N)
    portfolio = vbt.Portfolio.from_signals(
        column("close"),
        entries=entries,
        exits=exits,
        open=column("open"),
        high=column("high"),
        low=column("low"),
        sl_stop=as_stop(sets["stop_loss_pct"].to_numpy()),
        tp_stop=as_stop(sets["exit_tp0_pct"].to_numpy()),
        fees=fee,
        init_cash=10_000.0,
    )
    return np.asarray(portfolio.total_return()) * 100.0, np.asarray(portfolio.trades.count())


@pytest.fixture(scope="module")
def datasets() -> dict[str, pd.DataFrame]:
    return {
        "sp500": load_bars("sp500").bars,
        "nasdaq": load_bars("nasdaq").bars,
        "synthetic_5m": load_bars("synthetic", timeframe="5m", days=120, seed=11).bars,
    }


@pytest.mark.parametrize(
    ("name", "seed", "fee_bps"), [("sp500", 1, 10.0), ("nasdaq", 2, 25.0), ("synthetic_5m", 3, 5.0)]
)
def test_ema_cross_matches_vectorbt_in_close_mode(
    datasets: dict[str, pd.DataFrame], name: str, seed: int, fee_bps: float
) -> None:
    bars = datasets[name]
    sets = random_parameter_sets(seed, N_SETS)
    config = EngineConfig(fill="close", fee_bps=fee_bps, init_cash=10_000.0)
    ours = sweep(bars, EMA_CROSS, sets, config=config)
    vbt_return, vbt_trades = vectorbt_sweep(bars, sets, fee_bps / 1e4)
    np.testing.assert_allclose(ours["return_pct"], vbt_return, rtol=1e-9, atol=1e-7)
    np.testing.assert_array_equal(ours["trades"].to_numpy(), vbt_trades)
    assert (vbt_trades > 0).all() and (
        ours["stop_loss_pct"] > 0
    ).sum() > 50  # stops and trades were exercised


def test_single_backtest_equals_sweep_and_vectorbt_on_one_set(datasets: dict[str, pd.DataFrame]) -> None:
    bars = datasets["sp500"]
    params = {"ema_fast": 10.0, "ema_slow": 40.0, "stop_loss_pct": 4.0, "exit_tp0_pct": 9.0}
    config = EngineConfig(fill="close", fee_bps=10.0, init_cash=10_000.0)
    single = backtest(bars, EMA_CROSS, params, config=config)
    vbt_return, vbt_trades = vectorbt_sweep(bars, pd.DataFrame([params]), 10.0 / 1e4)
    assert single.kpis["return_pct"] == pytest.approx(vbt_return[0], rel=1e-9, abs=1e-7)
    assert single.kpis["trades"] == vbt_trades[0] == len(single.trades)
    assert {"stop_loss", "take_profit_0", "signal"} <= set(single.trades["reason"])


def test_next_open_checks_stops_on_the_entry_bar_where_vectorbt_does_not() -> None:
    """A long filled at bar 2's open whose bar then falls through the stop.

    The engine (next_open) exits on that same bar at the stop; vectorbt, fed the same next-open fills,
    never checks stops on the entry bar and exits a bar later, at the next open-through-stop.
    """
    index = pd.date_range("2024-01-01", periods=6, freq="D", tz="UTC")
    bars = pd.DataFrame(
        {
            "open": [100.0, 100.0, 100.0, 90.0, 90.0, 90.0],
            "high": [100.0, 100.0, 101.0, 91.0, 91.0, 91.0],
            "low": [100.0, 100.0, 94.0, 89.0, 89.0, 89.0],
            "close": [100.0, 100.0, 95.0, 90.0, 90.0, 90.0],
            "volume": 1.0,
        },
        index=index,
    )
    entries = np.array([False, True, False, False, False, False])  # signalled at bar 1's close
    stop = 0.05
    ours = _next_open_long(bars, entries, stop)
    assert list(ours["exit_bar"]) == [2] and ours["exit_price"].iloc[0] == pytest.approx(95.0)

    # vectorbt with next-open fills: shift the signal one bar and fill at the open
    portfolio = vbt.Portfolio.from_signals(
        bars["close"], entries=np.roll(entries, 1), exits=False, price=bars["open"],
        open=bars["open"], high=bars["high"], low=bars["low"], sl_stop=stop, init_cash=100.0,
    )  # fmt: skip
    orders = portfolio.orders.records_readable
    assert list(orders["Side"]) == ["Buy", "Sell"]
    assert orders["Timestamp"].iloc[1] == index[3]  # a bar later than the engine
    assert orders["Price"].iloc[1] == pytest.approx(90.0)  # at bar 3's open, through the stop


def _next_open_long(bars: pd.DataFrame, entries: np.ndarray, stop: float) -> pd.DataFrame:
    """The engine's trades for a hand-made entry signal, through the same kernel the strategies use."""
    from backtest_matrix.engine._backtest import day_starts, engine_config_array
    from backtest_matrix.engine._layout import N_KPIS, N_TRADE_FIELDS, TRADE_FIELDS
    from backtest_matrix.engine._simulate_nb import simulate_nb

    ts, open_, high, low, close, _ = bar_arrays(bars)
    flags = np.where(entries, LONG_ENTRY, 0).astype(np.int8)
    risk = EMA_CROSS.split(EMA_CROSS.resolve({"stop_loss_pct": stop * 100}))[1]
    cfg = engine_config_array(EngineConfig(fill="next_open", init_cash=100.0), ts)
    trades = np.empty((len(close) + 1, N_TRADE_FIELDS))
    count = simulate_nb(
        day_starts(ts), open_, high, low, close, flags, np.full(len(close), np.nan), risk, cfg,
        np.empty(N_KPIS), True, trades, np.empty(len(close)),
    )  # fmt: skip
    return pd.DataFrame(trades[:count], columns=list(TRADE_FIELDS))
