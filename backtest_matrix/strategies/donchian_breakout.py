"""``donchian_breakout``: enter on a close beyond the N-bar channel, exit on the shorter opposite channel,
with an ATR stop."""

from __future__ import annotations

import numpy as np
from numba import njit

from backtest_matrix.engine._indicators_nb import atr_nb
from backtest_matrix.engine._signals import LONG_ENTRY, LONG_EXIT, SHORT_ENTRY, SHORT_EXIT, SIGNALS_SIGNATURE
from backtest_matrix.strategies._base import Below, Param, Strategy


@njit(SIGNALS_SIGNATURE, cache=True)
def donchian_breakout_signals_nb(
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
    """Channels use the bars before ``t`` (not ``t`` itself), so a close can break out of them."""
    entry_n = int(params[0])
    exit_n = int(params[1])
    ranges = atr_nb(high, low, close, int(params[2]))
    multiple = params[3]
    for t in range(close.shape[0]):
        signal = 0
        if t >= entry_n:
            upper = high[t - entry_n]
            lower = low[t - entry_n]
            for i in range(t - entry_n + 1, t):
                upper = max(upper, high[i])
                lower = min(lower, low[i])
            if close[t] > upper:
                signal |= LONG_ENTRY
            elif close[t] < lower:
                signal |= SHORT_ENTRY
        if t >= exit_n:
            exit_upper = high[t - exit_n]
            exit_lower = low[t - exit_n]
            for i in range(t - exit_n + 1, t):
                exit_upper = max(exit_upper, high[i])
                exit_lower = min(exit_lower, low[i])
            if close[t] < exit_lower:
                signal |= LONG_EXIT
            elif close[t] > exit_upper:
                signal |= SHORT_EXIT
        flags[t] = signal
        stop_frac[t] = multiple * ranges[t] / close[t]


class DonchianBreakout(Strategy):
    name = "donchian_breakout"
    description = "Donchian channel breakout with an ATR stop."
    params = (
        Param("channel", "int", 5, 300, 20, doc="Entry channel length, in bars."),
        Param("exit_channel", "int", 2, 300, 10, doc="Exit channel length, in bars; below channel."),
        Param("atr_period", "int", 2, 100, 14, doc="ATR look-back, in bars."),
        Param("atr_stop", "float", 0.5, 10.0, 2.0, doc="Stop distance in ATRs from the entry."),
    )
    constraints = (Below("exit_channel", "channel", or_equal=True),)
    signals_nb = donchian_breakout_signals_nb
