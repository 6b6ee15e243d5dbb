"""Shared inputs of the search tests: the embedded S&P 500 bars and the live ema_cross parameters."""

from __future__ import annotations

from functools import cache

import pandas as pd

from backtest_matrix import load_bars

LIVE = {"ema_fast": 12, "ema_slow": 26, "exit_tp0_pct": 4.0, "stop_loss_pct": 2.0, "trade_fraction": 0.1}


@cache
def sp500() -> pd.DataFrame:
    return load_bars("sp500").bars
