"""The bar-by-bar simulation kernel of the single backtest, and the reference for the sweep's row kernel.

One call simulates one parameter combination over all bars, in one pass, with O(1) state: the position,
its stops and targets, and the KPI accumulators. With ``record`` it also writes the trade list and the
per-bar equity. The sweep runs ``_simulate_row_nb.simulate_row_nb``, which gives the same KPIs bit for bit
(both run a bar's orders through ``_orders_nb``). docs/engine.md states the semantics.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from backtest_matrix.engine._layout import CFG_INIT_CASH, CFG_PERIODS_PER_YEAR, CFG_YEARS
from backtest_matrix.engine._orders_nb import (
    NO_TRADES,
    R_OPEN,
    R_STOP,
    TradeStats,
    bar_statistics,
    close_trade,
    orders_at_bar,
    run_rules,
    touched,
    trail_stop,
)
from backtest_matrix.engine._signals import LONG_ENTRY, LONG_EXIT, SHORT_ENTRY, SHORT_EXIT

__all__ = ["simulate_nb", "write_kpis"]


@njit(cache=True)
def simulate_nb(
    new_day: np.ndarray,
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    flags: np.ndarray,
    stop_frac: np.ndarray,
    risk: np.ndarray,
    cfg: np.ndarray,
    kpis: np.ndarray,
    record: bool,
    trades: np.ndarray,
    equity_out: np.ndarray,
) -> int:
    """Simulate one combination; write its KPIs into ``kpis`` and return the number of trades.

    ``new_day[t]`` is True when bar ``t`` starts a new UTC day (see :func:`day_starts`). ``risk`` holds
    the risk parameters in ``RISK_NAMES`` order and ``cfg`` the run configuration. With ``record``,
    ``equity_out`` (the equity at each close) is filled. The trades are written into ``trades`` (rows of
    ``TRADE_FIELDS``) as far as it has rows: give it ``len(close)`` rows for all of them (a trade can
    open and close within one bar), or none.
    """
    n = close.shape[0]
    rules = run_rules(cfg, risk)
    fill_close, allow_short = rules[0], rules[1]
    trail = rules[7]
    init_cash = cfg[CFG_INIT_CASH]
    acc = NO_TRADES
    position = (init_cash, 0.0, 0.0, 0.0, 0.0, 0, 0.0, 0.0, math.nan, R_STOP, math.nan, 0, 0.0, 0.0, 0)

    # Equity statistics. Flat bars leave equity unchanged (a zero return), so they cost nothing here.
    prev_equity = init_cash
    peak = -math.inf  # the running peak of equity at the closes (set below when bar 0 ends flat)
    lowest_ratio = 1.0  # the lowest equity / running peak so far
    ret_sum = 0.0
    ret_sq = 0.0
    down_sq = 0.0
    bars_in_market = 0
    day_start_equity = init_cash
    worst_day = math.inf

    entry_mask = LONG_ENTRY | SHORT_ENTRY if allow_short else LONG_ENTRY
    # Flat bars skip the statistics below; their equity is the cash, which the bar that went flat already
    # counted, except for the flat bars at the start: their equity, the initial cash, is the first peak.
    if n > 0 and (not fill_close or (flags[0] & entry_mask) == 0):
        peak = init_cash
    t = 0
    while t < n:
        (cash, side, size, initial_size, entry_price, entry_bar, entry_fees, extreme, stop_level, stop_reason,
         next_target, tiers_done, exit_pnl, exit_value, exit_fills) = position  # fmt: skip
        if side == 0.0:
            # Fast path: skip flat bars on which no entry acts; equity and all statistics stand still.
            while t < n:
                acting = flags[t] if fill_close else (flags[t - 1] if t > 0 else 0)
                if (acting & entry_mask) != 0:
                    break
                if record:
                    equity_out[t] = cash
                if new_day[t]:
                    worst_day = min(worst_day, prev_equity / day_start_equity - 1.0)
                    day_start_equity = prev_equity
                t += 1
            if t == n:
                break
        else:
            # Fast path: bars in a position that no signal, stop or target touches; a tight loop of its own
            # (as the flat one) so that the compiler keeps its state in registers.
            exit_mask = LONG_EXIT if side > 0.0 else SHORT_EXIT
            while t < n:
                acting = flags[t] if fill_close else (flags[t - 1] if t > 0 else 0)
                if (acting & exit_mask) != 0 or touched(
                    side, open_[t], high[t], low[t], stop_level, next_target
                ):
                    break
                extreme, stop_level, stop_reason = trail_stop(
                    side, high[t], low[t], trail, extreme, stop_level, stop_reason
                )
                equity = cash + side * size * close[t]
                bars_in_market += 1
                if record:
                    equity_out[t] = equity
                day_start_equity, worst_day, ret_sum, ret_sq, down_sq, peak, lowest_ratio = bar_statistics(
                    equity, prev_equity, new_day[t], day_start_equity, worst_day, ret_sum, ret_sq, down_sq,
                    peak, lowest_ratio,
                )  # fmt: skip
                prev_equity = equity
                t += 1
            position = (cash, side, size, initial_size, entry_price, entry_bar, entry_fees, extreme,
                        stop_level, stop_reason, next_target, tiers_done, exit_pnl, exit_value,
                        exit_fills)  # fmt: skip
            if t == n:
                break
        signal_bar = t if fill_close else t - 1
        signal = flags[signal_bar] if signal_bar >= 0 else 0
        signal_frac = stop_frac[signal_bar] if signal_bar >= 0 else math.nan
        position, acc = orders_at_bar(
            t, open_[t], high[t], low[t], close[t], signal, signal_frac, rules, acc, trades, position
        )
        cash, side, size = position[0], position[1], position[2]

        # Mark to market at the close and accumulate this bar's KPIs.
        equity = cash
        if side != 0.0:
            equity += side * size * close[t]
            bars_in_market += 1
        if record:
            equity_out[t] = equity
        day_start_equity, worst_day, ret_sum, ret_sq, down_sq, peak, lowest_ratio = bar_statistics(
            equity, prev_equity, new_day[t], day_start_equity, worst_day, ret_sum, ret_sq, down_sq, peak,
            lowest_ratio,
        )  # fmt: skip
        prev_equity = equity
        t += 1

    (cash, side, size, initial_size, entry_price, entry_bar, entry_fees, extreme, stop_level, stop_reason,
     next_target, tiers_done, exit_pnl, exit_value, exit_fills) = position  # fmt: skip
    if side != 0.0:  # still open at the end: a trade marked at the last close, without exit costs
        value = exit_value + size * close[n - 1]
        pnl = exit_pnl + side * size * (close[n - 1] - entry_price) - entry_fees
        acc = close_trade(
            acc, trades, entry_bar, n - 1, side, entry_price, initial_size, value, pnl,
            entry_fees + exit_value * rules[2], R_OPEN, exit_fills,
        )  # fmt: skip
    if n > 0:
        worst_day = min(worst_day, prev_equity / day_start_equity - 1.0)
    max_dd = 1.0 - lowest_ratio
    write_kpis(
        kpis, acc, n, cfg[CFG_YEARS], init_cash, prev_equity, max_dd, ret_sum, ret_sq, down_sq,
        bars_in_market, cfg[CFG_PERIODS_PER_YEAR], worst_day,
    )  # fmt: skip
    return int(acc[0])


@njit(cache=True)
def write_kpis(
    kpis: np.ndarray, acc: TradeStats, n: int, years: float, init_cash: float, final_equity: float,
    max_dd: float, ret_sum: float, ret_sq: float, down_sq: float, bars_in_market: int,
    periods_per_year: float, worst_day: float,
) -> None:  # fmt: skip
    """Turn the accumulators into the KPI vector (``KPI_NAMES`` order). Undefined figures are NaN."""
    trades, wins, gross_profit, gross_loss, sum_win, sum_loss, sum_ret, _, max_wins, max_losses = acc
    losses = trades - wins
    growth = final_equity / init_cash
    kpis[0] = 100.0 * (growth - 1.0)
    kpis[1] = 100.0 * (growth ** (1.0 / years) - 1.0) if years > 0.0 and growth > 0.0 else math.nan
    mean = ret_sum / n if n > 0 else math.nan
    # Sum of squares around the mean, from raw sums; per-bar returns are small, so nothing cancels badly.
    centred = max(ret_sq - ret_sum * mean, 0.0) if n > 0 else math.nan
    std = math.sqrt(centred / (n - 1)) if n > 1 else math.nan
    annual = math.sqrt(periods_per_year)
    kpis[2] = mean / std * annual if std > 0.0 else math.nan
    downside = math.sqrt(down_sq / n) if n > 0 else math.nan
    kpis[3] = mean / downside * annual if downside > 0.0 else math.nan
    kpis[5] = 100.0 * max_dd
    kpis[4] = kpis[1] / kpis[5] if kpis[5] > 0.0 else math.nan
    kpis[6] = 100.0 * wins / trades if trades > 0 else math.nan
    if gross_loss > 0.0:
        kpis[7] = gross_profit / gross_loss
    else:
        kpis[7] = math.inf if gross_profit > 0.0 else math.nan
    kpis[8] = trades
    kpis[9] = sum_win / wins if wins > 0 else math.nan
    kpis[10] = sum_loss / losses if losses > 0 else math.nan
    kpis[11] = sum_ret / trades if trades > 0 else math.nan
    kpis[12] = 100.0 * bars_in_market / n if n > 0 else math.nan
    kpis[13] = max_wins
    kpis[14] = max_losses
    kpis[15] = 100.0 * worst_day
