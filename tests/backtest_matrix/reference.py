"""A slow, readable reference of docs/engine.md and of the four strategies' documented signal rules.

Written from the spec, not from the numba kernels, so that the exactness tests check the kernels against
the documented semantics rather than against themselves:

- :func:`simulate` walks the bars one at a time with a small :class:`Position` object and plain Python
  arithmetic, in the order docs/engine.md gives (open, intrabar stop, intrabar targets, close, mark).
- :func:`kpis_from_run` computes every KPI from the whole equity curve and the trade list with
  numpy/pandas (two-pass standard deviation, running maximum, UTC-day grouping), never from streaming
  accumulators.
- :func:`reference_signals` rebuilds each strategy's flags and stop distances with pandas (``ewm``,
  ``rolling``) or short Wilder loops, from the rules stated in the strategies' docstrings.

Where the documentation leaves a detail open, the choice made here is written next to the code.

The last section holds the test data shared by the exactness and causality tests: random-walk bars with
gaps at the open, and hypothesis draws of parameters within each ``Param``'s bounds.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from hypothesis import assume
from hypothesis import strategies as st

from backtest_matrix.engine import KPI_NAMES, LONG_ENTRY, LONG_EXIT, SHORT_ENTRY, SHORT_EXIT, EngineConfig
from backtest_matrix.strategies import RISK_PARAMS, get_strategy

__all__ = [
    "BAR_FREQUENCIES",
    "Position",
    "ReferenceResult",
    "Trade",
    "engine_configs",
    "kpis_from_run",
    "own_params",
    "random_walk_bars",
    "reference_signals",
    "risk_params",
    "run_reference",
    "simulate",
    "strategy_bars",
]

DAY_NS = 86_400 * 1_000_000_000
YEAR_NS = 365.25 * DAY_NS
MINUTE_NS = 60 * 1_000_000_000

# A take-profit tier "leaves nothing" when what remains is below this share of the initial size: tier
# fractions such as 0.3 + 0.7 leave floating-point dust, which is not a position.
DUST = 1e-9


# --------------------------------------------------------------------------------------------------------
# Simulation
# --------------------------------------------------------------------------------------------------------


@dataclass
class ExitFill:
    quantity: float
    price: float  # the fill, slippage included
    fee: float


@dataclass
class Position:
    side: int  # +1 long, -1 short
    entry_bar: int
    entry_price: float  # the fill, slippage included
    initial_size: float
    size: float  # what is still held
    entry_fee: float
    strategy_stop_frac: float  # stop_frac of the signal bar (NaN: none)
    trailing_reference: float  # best high (long) / low (short) of the previous bars since entry
    tiers_filled: int = 0
    exit_fills: list[ExitFill] = field(default_factory=list)


@dataclass(frozen=True)
class Trade:
    entry_bar: int
    exit_bar: int
    side: str  # "long" or "short"
    entry_price: float
    exit_price: float
    size: float
    pnl: float
    return_pct: float
    fees: float
    reason: str
    exit_fills: int


@dataclass(frozen=True)
class ReferenceResult:
    trades: list[Trade]
    equity: np.ndarray  # at every close
    in_market: np.ndarray  # a position is held at the close
    kpis: dict[str, float]
    init_cash: float


@dataclass(frozen=True)
class Risk:
    """The shared risk parameters (percentages in %, 0 = off)."""

    stop_loss_pct: float
    take_profit_pct: tuple[float, float, float]
    take_profit_fraction: tuple[float, float, float]
    trailing_stop_pct: float
    trade_fraction: float

    @classmethod
    def from_params(cls, params: Mapping[str, float]) -> Risk:
        return cls(
            stop_loss_pct=float(params["stop_loss_pct"]),
            take_profit_pct=tuple(float(params[f"exit_tp{k}_pct"]) for k in range(3)),  # type: ignore[arg-type]
            take_profit_fraction=tuple(float(params[f"exit_tp{k}_fraction"]) for k in range(3)),  # type: ignore[arg-type]
            trailing_stop_pct=float(params["exit_trailing_stop_pct"]),
            trade_fraction=float(params["trade_fraction"]),
        )


class Simulator:
    """One run of docs/engine.md over arrays of bars and signals."""

    def __init__(
        self,
        open_: np.ndarray,
        high: np.ndarray,
        low: np.ndarray,
        close: np.ndarray,
        flags: np.ndarray,
        stop_frac: np.ndarray,
        risk: Risk,
        config: EngineConfig,
    ) -> None:
        self.open, self.high, self.low, self.close = open_, high, low, close
        self.flags = [int(flag) for flag in flags]
        self.stop_frac = stop_frac
        self.risk = risk
        self.fill_at_close = config.fill == "close"
        self.fee_rate = config.fee_bps / 1e4
        self.slippage = config.slippage_bps / 1e4
        self.allow_short = config.direction == "long_short"
        self.min_reserve = config.min_reserve
        self.cash = config.init_cash
        self.position: Position | None = None
        self.trades: list[Trade] = []

    # -- prices and cash --------------------------------------------------------------------------------

    def buy_price(self, price: float) -> float:
        return price * (1.0 + self.slippage)

    def sell_price(self, price: float) -> float:
        return price * (1.0 - self.slippage)

    def enter(self, bar: int, side: int, price: float, signal_bar: int) -> None:
        invest = min(self.risk.trade_fraction * self.cash, (1.0 - self.min_reserve) * self.cash)
        if invest <= 0.0:  # nothing to invest (the doc is silent; no position can be opened)
            return
        fill = self.buy_price(price) if side > 0 else self.sell_price(price)
        size = invest / (fill * (1.0 + self.fee_rate))
        fee = self.fee_rate * size * fill
        if side > 0:
            self.cash -= size * fill + fee
        else:
            self.cash += size * fill - fee
        self.position = Position(
            side=side,
            entry_bar=bar,
            entry_price=fill,
            initial_size=size,
            size=size,
            entry_fee=fee,
            strategy_stop_frac=float(self.stop_frac[signal_bar]),
            trailing_reference=fill,
        )

    def exit_part(self, quantity: float, price: float) -> None:
        """Close ``quantity`` of the position at ``price`` (before slippage)."""
        position = self.position
        assert position is not None
        fill = self.sell_price(price) if position.side > 0 else self.buy_price(price)
        fee = self.fee_rate * quantity * fill
        if position.side > 0:
            self.cash += quantity * fill - fee
        else:
            self.cash -= quantity * fill + fee
        position.size -= quantity
        position.exit_fills.append(ExitFill(quantity, fill, fee))

    def book_trade(self, exit_bar: int, reason: str, mark_price: float | None = None) -> None:
        """Record the position as a trade and go flat. ``mark_price``: still open, marked without costs."""
        position = self.position
        assert position is not None
        exit_value = sum(fill.quantity * fill.price for fill in position.exit_fills)
        if mark_price is not None:
            exit_value += position.size * mark_price
        fees = position.entry_fee + sum(fill.fee for fill in position.exit_fills)
        cost = position.initial_size * position.entry_price
        pnl = position.side * (exit_value - cost) - fees
        self.trades.append(
            Trade(
                entry_bar=position.entry_bar,
                exit_bar=exit_bar,
                side="long" if position.side > 0 else "short",
                entry_price=position.entry_price,
                exit_price=exit_value / position.initial_size,
                size=position.initial_size,
                pnl=pnl,
                return_pct=100.0 * pnl / cost,
                fees=fees,
                reason=reason,
                exit_fills=len(position.exit_fills),
            )
        )
        self.position = None

    # -- the steps of one bar ---------------------------------------------------------------------------

    def execute_signal(self, bar: int, signal: int, price: float, signal_bar: int) -> None:
        """Steps 1 and 3: exit on the position's exit flag, then enter when flat."""
        position = self.position
        if position is not None:
            exit_flag = LONG_EXIT if position.side > 0 else SHORT_EXIT
            if signal & exit_flag:
                self.exit_part(position.size, price)
                self.book_trade(bar, "signal")
        if self.position is None:
            if signal & LONG_ENTRY:
                self.enter(bar, +1, price, signal_bar)
            elif self.allow_short and signal & SHORT_ENTRY:
                self.enter(bar, -1, price, signal_bar)

    def stop_level(self, position: Position) -> tuple[float, str] | None:
        """The tightest active stop and its reason; on an exact tie the first listed is kept."""
        side = position.side
        candidates: list[tuple[float, str]] = []
        if self.risk.stop_loss_pct > 0.0:
            candidates.append(
                (position.entry_price * (1.0 - side * self.risk.stop_loss_pct / 100.0), "stop_loss")
            )
        frac = position.strategy_stop_frac
        if math.isfinite(frac) and frac > 0.0:  # NaN means none; a non-positive distance is no stop either
            candidates.append((position.entry_price * (1.0 - side * frac), "stop_loss"))
        if self.risk.trailing_stop_pct > 0.0:
            level = position.trailing_reference * (1.0 - side * self.risk.trailing_stop_pct / 100.0)
            candidates.append((level, "trailing_stop"))
        if not candidates:
            return None
        tightest = candidates[0]
        for candidate in candidates[1:]:
            # Tighter: closer to the price, i.e. higher for a long and lower for a short.
            if (candidate[0] > tightest[0]) if side > 0 else (candidate[0] < tightest[0]):
                tightest = candidate
        return tightest

    def intrabar_exits(self, bar: int) -> bool:
        """Step 2; True when anything filled."""
        position = self.position
        assert position is not None
        bar_open, bar_high, bar_low = self.open[bar], self.high[bar], self.low[bar]
        long = position.side > 0

        stop = self.stop_level(position)
        if stop is not None:
            level, reason = stop
            opens_through = bar_open <= level if long else bar_open >= level
            touched = bar_low <= level if long else bar_high >= level
            if opens_through or touched:
                self.exit_part(position.size, bar_open if opens_through else level)
                self.book_trade(bar, reason)
                return True

        filled_any = False
        while position.tiers_filled < 3:
            tier = position.tiers_filled
            pct = self.risk.take_profit_pct[tier]
            if pct <= 0.0:  # an off tier switches off the later ones too
                break
            target = position.entry_price * (1.0 + position.side * pct / 100.0)
            opens_beyond = bar_open >= target if long else bar_open <= target
            reached = bar_high >= target if long else bar_low <= target
            if not (opens_beyond or reached):
                break  # tiers fill in order: a later tier waits for this one
            quantity = min(self.risk.take_profit_fraction[tier] * position.initial_size, position.size)
            if position.size - quantity <= DUST * position.initial_size:
                quantity = position.size
            self.exit_part(quantity, bar_open if opens_beyond else target)
            position.tiers_filled += 1
            filled_any = True
            if position.size <= 0.0:
                self.book_trade(bar, f"take_profit_{tier}")
                return True

        # Still open: this bar's extreme joins the trailing reference for the next bars.
        if long:
            position.trailing_reference = max(position.trailing_reference, bar_high)
        else:
            position.trailing_reference = min(position.trailing_reference, bar_low)
        return filled_any

    def run(self) -> tuple[np.ndarray, np.ndarray]:
        n = len(self.close)
        equity = np.empty(n)
        in_market = np.zeros(n, dtype=bool)
        for bar in range(n):
            if not self.fill_at_close and bar > 0:
                self.execute_signal(bar, self.flags[bar - 1], self.open[bar], bar - 1)
            exited_intrabar = False
            if self.position is not None:
                exited_intrabar = self.intrabar_exits(bar)
            if self.fill_at_close and not exited_intrabar:
                self.execute_signal(bar, self.flags[bar], self.close[bar], bar)
            position = self.position
            if position is None:
                equity[bar] = self.cash
            else:
                equity[bar] = self.cash + position.side * position.size * self.close[bar]
                in_market[bar] = True
        if self.position is not None:
            self.book_trade(n - 1, "open", mark_price=self.close[n - 1])
        return equity, in_market


# --------------------------------------------------------------------------------------------------------
# KPIs, from the equity curve and the trade list
# --------------------------------------------------------------------------------------------------------


def _mean_or_nan(values: list[float]) -> float:
    return float(np.mean(values)) if values else math.nan


def _longest_run(flags: list[bool], value: bool) -> int:
    return max((len(list(run)) for key, run in itertools.groupby(flags) if key == value), default=0)


def kpis_from_run(
    ts: np.ndarray, equity: np.ndarray, in_market: np.ndarray, trades: list[Trade], init_cash: float
) -> dict[str, float]:
    """Every KPI of docs/engine.md, computed from the whole run.

    A trade wins when ``pnl > 0`` (the doc's win rate); every other trade counts as a loss, so wins and
    losses always add up to the trade count.
    """
    n = len(equity)
    curve = pd.Series(equity, index=pd.to_datetime(ts, utc=True))
    years = (int(ts[-1]) - int(ts[0])) / YEAR_NS
    growth = equity[-1] / init_cash
    kpis: dict[str, float] = {}
    kpis["return_pct"] = 100.0 * (growth - 1.0)
    if years > 0 and growth > 0:
        with np.errstate(over="ignore"):  # a big gain over a short span annualises to inf
            kpis["cagr_pct"] = 100.0 * float(np.power(growth, 1.0 / years) - 1.0)
    else:
        kpis["cagr_pct"] = math.nan

    # Per-bar returns, the first bar against the initial cash.
    previous = curve.shift(1).fillna(init_cash)
    returns = (curve / previous - 1.0).to_numpy()
    bars_per_year = (n - 1) / years if years > 0 else math.nan
    annualiser = math.sqrt(bars_per_year)
    std = float(np.std(returns, ddof=1)) if n > 1 else math.nan
    kpis["sharpe"] = float(np.mean(returns)) / std * annualiser if std > 0 else math.nan
    downside = math.sqrt(float(np.mean(np.minimum(returns, 0.0) ** 2)))
    kpis["sortino"] = float(np.mean(returns)) / downside * annualiser if downside > 0 else math.nan

    # Drawdown: falls from the running peak of the equity at the closes.
    running_peak = curve.cummax()
    max_drawdown = float((1.0 - curve / running_peak).max())
    kpis["max_drawdown_pct"] = 100.0 * max_drawdown
    kpis["calmar"] = kpis["cagr_pct"] / kpis["max_drawdown_pct"] if max_drawdown > 0 else math.nan

    pnls = [trade.pnl for trade in trades]
    wins = [trade.pnl > 0.0 for trade in trades]
    win_returns = [trade.return_pct for trade in trades if trade.pnl > 0.0]
    loss_returns = [trade.return_pct for trade in trades if not trade.pnl > 0.0]
    gross_profit = sum(p for p in pnls if p > 0.0)
    gross_loss = -sum(p for p in pnls if not p > 0.0)
    kpis["win_rate_pct"] = 100.0 * sum(wins) / len(trades) if trades else math.nan
    if not trades:
        kpis["profit_factor"] = math.nan
    elif gross_loss > 0.0:
        kpis["profit_factor"] = gross_profit / gross_loss
    else:
        kpis["profit_factor"] = math.inf if gross_profit > 0.0 else math.nan  # 0 / 0 is undefined
    kpis["trades"] = float(len(trades))
    kpis["avg_win_pct"] = _mean_or_nan(win_returns)
    kpis["avg_loss_pct"] = _mean_or_nan(loss_returns)
    kpis["expectancy_pct"] = _mean_or_nan([trade.return_pct for trade in trades])
    kpis["exposure_pct"] = 100.0 * float(np.count_nonzero(in_market)) / n
    kpis["max_consecutive_wins"] = float(_longest_run(wins, True))
    kpis["max_consecutive_losses"] = float(_longest_run(wins, False))

    # Worst day: the equity at each UTC day's last close against the previous day's (the initial cash
    # before the first day).
    day_closes = curve.groupby(np.asarray(ts) // DAY_NS).last().to_numpy()
    day_changes = day_closes / np.concatenate([[init_cash], day_closes[:-1]]) - 1.0
    kpis["worst_day_pct"] = 100.0 * float(day_changes.min())
    return {name: kpis[name] for name in KPI_NAMES}


def simulate(
    ts: np.ndarray,
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    flags: np.ndarray,
    stop_frac: np.ndarray,
    params: Mapping[str, float],
    config: EngineConfig,
) -> ReferenceResult:
    """Simulate ``flags``/``stop_frac`` over the bars under ``config`` and the risk entries of ``params``."""
    simulator = Simulator(open_, high, low, close, flags, stop_frac, Risk.from_params(params), config)
    equity, in_market = simulator.run()
    kpis = kpis_from_run(ts, equity, in_market, simulator.trades, config.init_cash)
    return ReferenceResult(
        trades=simulator.trades, equity=equity, in_market=in_market, kpis=kpis, init_cash=config.init_cash
    )


# --------------------------------------------------------------------------------------------------------
# Signals
# --------------------------------------------------------------------------------------------------------


def _ema(values: pd.Series, span: float) -> pd.Series:
    """EMA seeded with the first value (pandas ``adjust=False``)."""
    return values.ewm(span=span, adjust=False).mean()


def wilder_rsi(close: np.ndarray, period: int) -> np.ndarray:
    """Wilder's RSI: the first averages are plain means of the first ``period`` changes, then smoothing by
    ``1 / period``. NaN until ``period`` changes have been seen; 100 with no loss (50 with no move at all)."""
    changes = np.diff(close)
    gains = np.where(changes > 0, changes, 0.0)
    losses = np.where(changes < 0, -changes, 0.0)
    out = np.full(len(close), np.nan)
    if len(changes) < period:
        return out
    average_gain = float(np.mean(gains[:period]))
    average_loss = float(np.mean(losses[:period]))
    for i in range(period, len(close)):  # out[i] uses changes up to close[i]
        if i > period:
            average_gain = (average_gain * (period - 1) + gains[i - 1]) / period
            average_loss = (average_loss * (period - 1) + losses[i - 1]) / period
        if average_loss == 0.0:
            out[i] = 100.0 if average_gain > 0.0 else 50.0
        else:
            out[i] = 100.0 - 100.0 / (1.0 + average_gain / average_loss)
    return out


def wilder_atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int) -> np.ndarray:
    """Wilder's ATR: the mean of the first ``period`` true ranges (the first bar's is high - low), then
    smoothing by ``1 / period``; NaN for the first ``period - 1`` bars."""
    previous_close = np.concatenate([[np.nan], close[:-1]])
    true_range = np.nanmax(
        np.vstack([high - low, np.abs(high - previous_close), np.abs(low - previous_close)]), axis=0
    )
    out = np.full(len(close), np.nan)
    if len(close) < period:
        return out
    level = float(np.mean(true_range[:period]))
    out[period - 1] = level
    for i in range(period, len(close)):
        level = (level * (period - 1) + true_range[i]) / period
        out[i] = level
    return out


def _crossings(spread: pd.Series, previous: pd.Series, active: np.ndarray) -> np.ndarray:
    """LONG_ENTRY|SHORT_EXIT where the spread turns positive, LONG_EXIT|SHORT_ENTRY where it turns
    negative (``previous``: the spread at the bar before)."""
    up = active & (spread > 0).to_numpy() & (previous <= 0).to_numpy()
    down = active & (spread < 0).to_numpy() & (previous >= 0).to_numpy()
    flags = np.zeros(len(spread), dtype=np.int8)
    flags[up] = LONG_ENTRY | SHORT_EXIT
    flags[down] = LONG_EXIT | SHORT_ENTRY
    return flags


def ema_cross_signals(bars: pd.DataFrame, params: Mapping[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """Fast EMA crossing the slow EMA of the close, both seeded with the first close; crosses count from
    bar ``ema_slow`` on (before it the slow EMA is still warming up)."""
    close = bars["close"].reset_index(drop=True)
    spread = _ema(close, params["ema_fast"]) - _ema(close, params["ema_slow"])
    active = np.arange(len(close)) >= int(params["ema_slow"])
    flags = _crossings(spread, spread.shift(1), active)
    return flags, np.full(len(close), np.nan)


def rsi_reversion_signals(bars: pd.DataFrame, params: Mapping[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """Long entry / short exit below ``oversold``, long exit / short entry above ``overbought``."""
    rsi = wilder_rsi(bars["close"].to_numpy(), int(params["rsi_period"]))
    flags = np.zeros(len(rsi), dtype=np.int8)
    with np.errstate(invalid="ignore"):
        flags[rsi < params["oversold"]] = LONG_ENTRY | SHORT_EXIT
        flags[rsi > params["overbought"]] = LONG_EXIT | SHORT_ENTRY
    return flags, np.full(len(rsi), np.nan)


def donchian_breakout_signals(
    bars: pd.DataFrame, params: Mapping[str, float]
) -> tuple[np.ndarray, np.ndarray]:
    """Entry on a close beyond the channel of the previous ``channel`` bars, exit on a close beyond the
    opposite side of the previous ``exit_channel`` bars; the stop is ``atr_stop`` ATRs, as a fraction of
    the signal bar's close."""
    high, low, close = (bars[name].reset_index(drop=True) for name in ("high", "low", "close"))

    def channel(length: int) -> tuple[pd.Series, pd.Series]:
        # Over bars t-length .. t-1: the close of bar t can break out of it.
        return high.rolling(length).max().shift(1), low.rolling(length).min().shift(1)

    upper, lower = channel(int(params["channel"]))
    exit_upper, exit_lower = channel(int(params["exit_channel"]))
    long_entry = (close > upper).to_numpy()
    short_entry = (close < lower).to_numpy() & ~long_entry
    long_exit = (close < exit_lower).to_numpy()
    short_exit = (close > exit_upper).to_numpy() & ~long_exit
    flags = (
        long_entry * LONG_ENTRY + short_entry * SHORT_ENTRY + long_exit * LONG_EXIT + short_exit * SHORT_EXIT
    ).astype(np.int8)
    atr = wilder_atr(high.to_numpy(), low.to_numpy(), close.to_numpy(), int(params["atr_period"]))
    return flags, params["atr_stop"] * atr / close.to_numpy()


def mtf_ema_signals(bars: pd.DataFrame, params: Mapping[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """A fast EMA of the ``fast_tf_minutes`` closes against a slow EMA of the ``slow_tf_minutes`` closes.

    A higher-timeframe bar of ``m`` minutes covers ``[k·m, (k+1)·m)`` minutes since the epoch; its close is
    the close of its last base bar and becomes visible at that bar's close. A base bar starting at ``ts``
    ends at ``ts + step``, ``step`` being the smallest timestamp step seen so far (unknown on the first bar).
    Crosses of the spread between consecutive bars count once more than ``ema_slow`` slow closes were seen.
    """
    ts = np.asarray(pd.DatetimeIndex(bars.index).as_unit("ns").asi8, dtype=np.int64)
    close = bars["close"].reset_index(drop=True)
    steps = pd.Series(np.diff(ts, prepend=ts[0]).astype(float))
    smallest_step = steps.where(steps > 0).cummin().to_numpy()  # NaN until a step has been seen
    known = ~np.isnan(smallest_step)
    bar_end = ts + np.where(known, smallest_step, 0).astype(np.int64)

    def higher_timeframe(minutes: float, span: float) -> tuple[pd.Series, np.ndarray]:
        bucket = int(minutes) * MINUTE_NS
        closes_here = known & (bar_end // bucket != ts // bucket)
        ema = _ema(close[closes_here], span)  # indexed by the bars where each close becomes visible
        return ema.reindex(close.index).ffill(), closes_here

    fast, _ = higher_timeframe(params["fast_tf_minutes"], params["ema_fast"])
    slow, slow_closes_here = higher_timeframe(params["slow_tf_minutes"], params["ema_slow"])
    spread = fast - slow  # NaN until both timeframes have a close
    previous = spread.shift(1).fillna(0.0)
    active = spread.notna().to_numpy() & (np.cumsum(slow_closes_here) > int(params["ema_slow"]))
    return _crossings(spread, previous, active), np.full(len(close), np.nan)


SIGNALS: dict[str, Callable[[pd.DataFrame, Mapping[str, float]], tuple[np.ndarray, np.ndarray]]] = {
    "ema_cross": ema_cross_signals,
    "rsi_reversion": rsi_reversion_signals,
    "donchian_breakout": donchian_breakout_signals,
    "mtf_ema": mtf_ema_signals,
}


def reference_signals(
    strategy: str, bars: pd.DataFrame, params: Mapping[str, float]
) -> tuple[np.ndarray, np.ndarray]:
    """``(flags, stop_frac)`` of ``strategy`` over ``bars``, from its documented rule."""
    return SIGNALS[strategy](bars, params)


def run_reference(
    bars: pd.DataFrame, strategy: str, params: Mapping[str, float], config: EngineConfig
) -> ReferenceResult:
    """The reference signals of ``strategy`` simulated by the reference engine."""
    flags, stop_frac = reference_signals(strategy, bars, params)
    ts = np.asarray(pd.DatetimeIndex(bars.index).as_unit("ns").asi8, dtype=np.int64)
    columns = (bars[name].to_numpy(np.float64) for name in ("open", "high", "low", "close"))
    return simulate(ts, *columns, flags, stop_frac, params, config)


# --------------------------------------------------------------------------------------------------------
# Test data
# --------------------------------------------------------------------------------------------------------

# Bar spacing per strategy: mtf_ema aggregates 5-minute bars; the others run on hourly or daily bars
# (``B``: weekdays only, so the observed bars per year differ from the calendar's).
BAR_FREQUENCIES = {"mtf_ema": ("5min",), "default": ("1h", "1D", "B")}


def random_walk_bars(
    seed: int,
    n: int,
    freq: str = "1D",
    volatility: float = 0.01,
    gaps: int = 3,
    start_offset: int = 0,
    start: str = "2024-01-01",
) -> pd.DataFrame:
    """Internally consistent OHLCV bars: each bar opens near the previous close and ``gaps`` random bars
    open 2-12 % away from it (through most stop and target levels); high/low wrap open and close.

    ``start_offset`` shifts the first bar by that many bar steps (so higher-timeframe buckets start
    part-way)."""
    rng = np.random.default_rng(seed)
    open_gap = rng.normal(0.0, volatility * 0.2, n)
    if gaps:
        where = rng.choice(n, size=min(gaps, n), replace=False)
        open_gap[where] = rng.choice([-1.0, 1.0], len(where)) * rng.uniform(0.02, 0.12, len(where))
    body = rng.normal(0.0, volatility, n)
    close = np.empty(n)
    open_ = np.empty(n)
    previous_close = 100.0
    for i in range(n):
        open_[i] = previous_close * math.exp(open_gap[i])
        close[i] = open_[i] * math.exp(body[i])
        previous_close = close[i]
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, volatility * 0.6, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, volatility * 0.6, n)))
    if freq == "B":
        index = pd.bdate_range(start, periods=n + start_offset, tz="UTC")[start_offset:]
    else:
        first = pd.Timestamp(start, tz="UTC") + start_offset * pd.Timedelta(freq)
        index = pd.date_range(first, periods=n, freq=freq)
    volume = rng.uniform(100.0, 1000.0, n)
    frame = {"open": open_, "high": high, "low": low, "close": close, "volume": volume}
    return pd.DataFrame(frame, index=pd.DatetimeIndex(index, name="timestamp"))


@st.composite
def strategy_bars(draw: st.DrawFn, strategy: str, min_bars: int = 60, max_bars: int = 400) -> pd.DataFrame:
    """Random-walk bars at a spacing that suits ``strategy``."""
    freqs = BAR_FREQUENCIES.get(strategy, BAR_FREQUENCIES["default"])
    return random_walk_bars(
        seed=draw(st.integers(0, 2**32 - 1)),
        n=draw(st.integers(min_bars, max_bars)),
        freq=draw(st.sampled_from(freqs)),
        volatility=draw(st.sampled_from([0.004, 0.01, 0.02])),
        gaps=draw(st.integers(0, 8)),
        start_offset=draw(st.integers(0, 287)),
    )


def _grid(low: float, high: float, step: float) -> st.SearchStrategy[float]:
    """Floats on a grid in ``[low, high]`` (grid values keep tier fractions free of borderline sums)."""
    return st.integers(round(low / step), round(high / step)).map(lambda k: round(k * step, 10))


def _off_or(values: st.SearchStrategy[float]) -> st.SearchStrategy[float]:
    return st.one_of(st.just(0.0), values)


@st.composite
def own_params(draw: st.DrawFn, strategy: str) -> dict[str, float]:
    """A strategy's own parameters, inside its ``Param`` bounds and constraints, in ranges short enough to
    trade within a few hundred bars."""
    cls = get_strategy(strategy)
    if strategy == "ema_cross":
        fast = draw(st.integers(2, 25))
        values = {"ema_fast": fast, "ema_slow": draw(st.integers(fast + 1, 60))}
    elif strategy == "rsi_reversion":
        values = {
            "rsi_period": draw(st.integers(2, 25)),
            "oversold": draw(_grid(5.0, 50.0, 0.5)),
            "overbought": draw(_grid(50.0, 95.0, 0.5)),
        }
    elif strategy == "donchian_breakout":
        channel = draw(st.integers(5, 60))
        values = {
            "channel": channel,
            "exit_channel": draw(st.integers(2, channel)),
            "atr_period": draw(st.integers(2, 40)),
            "atr_stop": draw(_grid(0.5, 10.0, 0.1)),
        }
    elif strategy == "mtf_ema":
        choices = {param.name: param.choices for param in cls.params}
        values = {
            "fast_tf_minutes": draw(st.sampled_from(choices["fast_tf_minutes"])),
            "slow_tf_minutes": draw(st.sampled_from(choices["slow_tf_minutes"][:2])),
            "ema_fast": draw(st.integers(2, 20)),
            "ema_slow": draw(st.integers(2, 8)),
        }
    else:  # a strategy added later: anything inside the bounds
        values = {}
        for param in cls.params:
            if param.kind == "choice":
                values[param.name] = draw(st.sampled_from(param.choices))
            elif param.kind == "int":
                values[param.name] = draw(st.integers(int(param.low), int(param.high)))
            else:
                values[param.name] = draw(st.floats(param.low, param.high))
    values = {name: float(value) for name, value in values.items()}
    row = np.array([[values[name] for name in cls.param_names()]])
    assume(bool(cls.feasible(row)[0]))
    for param in cls.params:
        param.coerce(values[param.name], "own_params")
    return values


@st.composite
def risk_params(draw: st.DrawFn) -> dict[str, float]:
    """The shared risk parameters: each exit on or off; targets mostly within reach of a few hundred bars,
    tier fractions on a 0.05 grid or whole."""
    fraction = st.one_of(st.just(1.0), _grid(0.05, 1.0, 0.05))
    target = st.one_of(_grid(0.3, 6.0, 0.01), _grid(6.0, 40.0, 0.01))
    values = {
        "stop_loss_pct": draw(_off_or(_grid(0.3, 15.0, 0.01))),
        "exit_tp0_pct": draw(_off_or(target)),
        "exit_tp0_fraction": draw(fraction),
        "exit_tp1_pct": draw(_off_or(target)),
        "exit_tp1_fraction": draw(fraction),
        "exit_tp2_pct": draw(_off_or(target)),
        "exit_tp2_fraction": draw(fraction),
        "exit_trailing_stop_pct": draw(_off_or(_grid(0.5, 15.0, 0.01))),
        "trade_fraction": draw(st.one_of(st.just(1.0), _grid(0.01, 1.0, 0.01))),
    }
    for param in RISK_PARAMS:
        param.coerce(values[param.name], "risk_params")
    return values


@st.composite
def engine_configs(draw: st.DrawFn, fill: str, direction: str) -> EngineConfig:
    """Fees, slippage, initial cash and reserve for a given fill and direction."""
    return EngineConfig(
        fill=fill,  # type: ignore[arg-type]
        direction=direction,  # type: ignore[arg-type]
        fee_bps=draw(_off_or(_grid(0.5, 50.0, 0.5))),
        slippage_bps=draw(_off_or(_grid(0.5, 30.0, 0.5))),
        init_cash=draw(st.sampled_from([1_000.0, 10_000.0, 123_456.78])),
        min_reserve=draw(_off_or(_grid(0.05, 0.5, 0.05))),
    )
