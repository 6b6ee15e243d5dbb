"""No lookahead: what happens up to bar ``k`` never depends on the bars after it.

For every strategy and both fills, cutting the bars after ``k``, replacing every bar after ``k`` by other
values, or appending other future bars must leave unchanged, bit for bit:

- the signal flags and stop distances of bars ``<= k`` (the strategy's ``signals_nb``, called as
  ``backtest`` calls it);
- every trade that has fully closed by bar ``k`` (``exit_bar <= k`` and not merely marked ``open`` at the
  end of the data), all fields;
- the entry (bar, side, fill, size) of every trade opened at or before bar ``k``; in ``next_open`` mode the
  signal of bar ``k`` executes at bar ``k + 1``'s open, so that entry is a future one;
- the equity at every close ``<= k``.

The checker is itself tested: deliberately peeking signal functions must be caught.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backtest_matrix.engine import LONG_ENTRY, LONG_EXIT, TRADE_FIELDS, EngineConfig, backtest, bar_arrays
from backtest_matrix.strategies import RISK_PARAMS, get_strategy, strategy_names
from tests.backtest_matrix.reference import (
    engine_configs,
    own_params,
    random_walk_bars,
    reference_signals,
    risk_params,
    simulate,
    strategy_bars,
)

ENTRY_FIELDS = ["entry_bar", "side", "entry_price", "size"]


@dataclass(frozen=True)
class Observation:
    """What a run shows: signals, trades and equity."""

    flags: np.ndarray
    stop_frac: np.ndarray
    trades: pd.DataFrame  # TRADE_FIELDS columns
    equity: np.ndarray


Runner = Callable[[pd.DataFrame], Observation]


# --------------------------------------------------------------------------------------------------------
# The checker
# --------------------------------------------------------------------------------------------------------


Records = list[tuple[object, ...]]


def closed_by(trades: pd.DataFrame, k: int) -> Records:
    """Trades fully closed at or before bar ``k`` (a trade marked ``open`` at the data's end is not)."""
    done = trades[(trades["exit_bar"] <= k) & (trades["reason"] != "open")]
    return list(done[list(TRADE_FIELDS)].itertuples(index=False, name=None))


def entered_by(trades: pd.DataFrame, k: int) -> Records:
    return list(trades.loc[trades["entry_bar"] <= k, ENTRY_FIELDS].itertuples(index=False, name=None))


def prefix_differences(base: Observation, other: Observation, k: int) -> list[str]:
    """Where ``other`` differs from ``base`` on what is known at bar ``k``'s close."""
    found = []
    prefix = slice(0, k + 1)
    if not np.array_equal(base.flags[prefix], other.flags[prefix]):
        found.append("flags")
    if not np.array_equal(base.stop_frac[prefix], other.stop_frac[prefix], equal_nan=True):
        found.append("stop_frac")
    if closed_by(base.trades, k) != closed_by(other.trades, k):
        found.append("closed trades")
    if entered_by(base.trades, k) != entered_by(other.trades, k):
        found.append("entries")
    if not np.array_equal(base.equity[prefix], other.equity[prefix]):
        found.append("equity")
    return found


def future_variants(bars: pd.DataFrame, k: int, seed: int) -> dict[str, pd.DataFrame]:
    """The bars up to ``k`` with: nothing after, every later bar changed, other bars appended."""
    n = len(bars)
    rng = np.random.default_rng(seed)
    prefix = bars.iloc[: k + 1]
    step = bars.index[1] - bars.index[0] if n > 1 else pd.Timedelta("1h")

    def continuation(length: int, start: pd.Timestamp) -> pd.DataFrame:
        other = random_walk_bars(int(rng.integers(2**32)), length, volatility=float(rng.uniform(0.005, 0.05)))
        scale = bars["close"].iloc[k] / other["open"].iloc[0] * float(rng.uniform(0.8, 1.25))
        other[["open", "high", "low", "close"]] *= scale
        other.index = pd.DatetimeIndex(start + step * np.arange(length), name=bars.index.name)
        return other

    changed = continuation(n - k - 1, bars.index[k + 1])
    changed.index = bars.index[k + 1 :]
    delay = int(rng.integers(1, 4))
    appended = continuation(int(rng.integers(1, 80)), bars.index[k] + delay * step)
    return {
        "cut after k": prefix,
        "every later bar changed": pd.concat([prefix, changed]),
        "other bars appended": pd.concat([prefix, appended]),
    }


def causality_violations(run: Runner, bars: pd.DataFrame, k: int, seed: int = 0) -> dict[str, list[str]]:
    """For each future variant of ``bars``, what of bars ``<= k`` changed (empty when causal)."""
    base = run(bars)
    found = {}
    for name, variant in future_variants(bars, k, seed).items():
        differences = prefix_differences(base, run(variant), k)
        if differences:
            found[name] = differences
    return found


# --------------------------------------------------------------------------------------------------------
# Runners
# --------------------------------------------------------------------------------------------------------


def engine_runner(strategy: str, params: Mapping[str, float], config: EngineConfig) -> Runner:
    cls = get_strategy(strategy)
    own, _ = cls.split(cls.resolve(params))

    def run(bars: pd.DataFrame) -> Observation:
        flags = np.empty(len(bars), np.int8)
        stop_frac = np.empty(len(bars))
        cls.signals_nb(*bar_arrays(bars), own, flags, stop_frac)
        result = backtest(bars, strategy, params, config=config)
        return Observation(flags, stop_frac, result.trades, result.equity.to_numpy())

    return run


SignalFunction = Callable[[pd.DataFrame], np.ndarray]


def reference_runner(
    signals: SignalFunction, config: EngineConfig, trade_on: SignalFunction | None = None
) -> Runner:
    """Pure-Python signals through the reference engine; ``trade_on`` (default: ``signals``) drives the
    trades, so a run can show causal flags while trading on others."""
    risk = {param.name: float(param.default) for param in RISK_PARAMS} | {"stop_loss_pct": 3.0}

    def run(bars: pd.DataFrame) -> Observation:
        flags = signals(bars)
        traded = flags if trade_on is None else trade_on(bars)
        stop_frac = np.full(len(bars), np.nan)
        ts = bar_arrays(bars)[0]
        columns = (bars[name].to_numpy() for name in ("open", "high", "low", "close"))
        result = simulate(ts, *columns, traded, stop_frac, risk, config)
        trades = pd.DataFrame([vars(trade) for trade in result.trades], columns=list(TRADE_FIELDS))
        return Observation(flags, stop_frac, trades, result.equity)

    return run


def momentum(bars: pd.DataFrame) -> np.ndarray:
    """Causal: long while the close rises over the previous close."""
    change = bars["close"].diff().to_numpy()
    return np.where(change > 0, LONG_ENTRY, np.where(change < 0, LONG_EXIT, 0)).astype(np.int8)


def peeking_momentum(bars: pd.DataFrame) -> np.ndarray:
    """Lookahead: long when the *next* close will be higher."""
    change = bars["close"].diff().shift(-1).to_numpy()
    return np.where(change > 0, LONG_ENTRY, np.where(change < 0, LONG_EXIT, 0)).astype(np.int8)


def centred_average_cross(bars: pd.DataFrame) -> np.ndarray:
    """A classic slip: a centred rolling mean looks two bars ahead."""
    close = bars["close"]
    above = (close > close.rolling(5, center=True).mean()).to_numpy()
    return np.where(above, LONG_ENTRY, LONG_EXIT).astype(np.int8)


# --------------------------------------------------------------------------------------------------------
# The strategies are causal
# --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fill", ["next_open", "close"])
@pytest.mark.parametrize("strategy", strategy_names())
@settings(deadline=None, max_examples=40)
@given(data=st.data())
def test_strategies_never_look_ahead(strategy: str, fill: str, data: st.DataObject) -> None:
    bars = data.draw(strategy_bars(strategy), label="bars")
    params = data.draw(own_params(strategy), label="own") | data.draw(risk_params(), label="risk")
    direction = data.draw(st.sampled_from(["long", "long_short"]), label="direction")
    config = data.draw(engine_configs(fill, direction), label="config")
    k = data.draw(st.integers(0, len(bars) - 2), label="k")
    seed = data.draw(st.integers(0, 2**32 - 1), label="seed")
    assert causality_violations(engine_runner(strategy, params, config), bars, k, seed) == {}


@pytest.mark.parametrize("strategy", strategy_names())
def test_reference_signals_never_look_ahead(strategy: str) -> None:
    bars = random_walk_bars(seed=7, n=300, freq="5min" if strategy == "mtf_ema" else "1h", gaps=5)
    params = get_strategy(strategy).defaults()
    if strategy == "mtf_ema":
        params |= {"slow_tf_minutes": 60.0, "ema_slow": 3.0}

    def run(frame: pd.DataFrame) -> Observation:
        flags, stop_frac = reference_signals(strategy, frame, params)
        return Observation(flags, stop_frac, pd.DataFrame(columns=list(TRADE_FIELDS)), np.zeros(len(frame)))

    for k in (0, 40, 150, 298):
        assert causality_violations(run, bars, k, seed=k) == {}


# --------------------------------------------------------------------------------------------------------
# The checker works
# --------------------------------------------------------------------------------------------------------

CHECKER_BARS = random_walk_bars(seed=3, n=120, freq="1h", volatility=0.01, gaps=2)


@pytest.mark.parametrize("fill", ["next_open", "close"])
def test_the_checker_passes_a_causal_signal(fill: str) -> None:
    run = reference_runner(momentum, EngineConfig(fill=fill))  # type: ignore[arg-type]
    for k in (0, 30, 60, 118):
        assert causality_violations(run, CHECKER_BARS, k, seed=k) == {}


@pytest.mark.parametrize("fill", ["next_open", "close"])
@pytest.mark.parametrize("signals", [peeking_momentum, centred_average_cross])
def test_the_checker_catches_lookahead_signals(signals: SignalFunction, fill: str) -> None:
    run = reference_runner(signals, EngineConfig(fill=fill))  # type: ignore[arg-type]
    found = causality_violations(run, CHECKER_BARS, 60)
    assert found, "a peeking signal went unnoticed"
    assert all("flags" in differences for differences in found.values())


def test_the_checker_catches_lookahead_in_trades_and_equity_alone() -> None:
    # Flags shown causally, but the trades follow the peeking ones: only trades and equity can tell (a fee
    # makes a fill at the close move that close's equity too).
    config = EngineConfig(fill="close", fee_bps=10.0)
    found = causality_violations(
        reference_runner(momentum, config, trade_on=peeking_momentum), CHECKER_BARS, 60
    )
    assert found
    assert all(set(differences) <= {"closed trades", "entries", "equity"} for differences in found.values())
    assert any("equity" in differences for differences in found.values())


def test_a_signal_at_k_fills_after_k_in_next_open_mode() -> None:
    # The entry signalled at bar k is bar k + 1's: only a changed bar k + 1 open moves its fill, which
    # the checker must not count against bar k.
    flags = np.zeros(len(CHECKER_BARS), np.int8)
    flags[60] = LONG_ENTRY

    def scripted(bars: pd.DataFrame) -> np.ndarray:
        return flags[: len(bars)]

    run = reference_runner(scripted, EngineConfig(fill="next_open"))
    base = run(CHECKER_BARS)
    assert base.trades["entry_bar"].tolist() == [61]
    assert causality_violations(run, CHECKER_BARS, 60) == {}
