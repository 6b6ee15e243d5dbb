"""Indicator kernels shared by the strategies: plain functions over NumPy arrays, jitted as ``*_nb``.

Each is causal: the value at ``t`` uses bars ``<= t`` only. The plain-Python versions stay importable so
they can be tested without numba.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["atr", "atr_nb", "ema", "ema_alpha", "ema_nb", "rsi", "rsi_nb"]


def ema_alpha(span: float) -> float:
    """Smoothing factor of an EMA with the given span: ``2 / (span + 1)``, as pandas ``ewm(span=)``."""
    return 2.0 / (span + 1.0)


def ema(values: np.ndarray, span: float) -> np.ndarray:
    """EMA seeded with the first value, as pandas ``ewm(span=span, adjust=False).mean()``."""
    alpha = 2.0 / (span + 1.0)
    out = np.empty(values.shape[0])
    if values.shape[0] == 0:
        return out
    level = values[0]
    out[0] = level
    for i in range(1, values.shape[0]):
        level = level + alpha * (values[i] - level)
        out[i] = level
    return out


def rsi(close: np.ndarray, period: int) -> np.ndarray:
    """Wilder's RSI (smoothing ``1 / period``); NaN until ``period`` changes have been seen."""
    n = close.shape[0]
    out = np.full(n, np.nan)
    avg_gain = 0.0
    avg_loss = 0.0
    for i in range(1, n):
        change = close[i] - close[i - 1]
        gain = change if change > 0.0 else 0.0
        loss = -change if change < 0.0 else 0.0
        if i <= period:
            avg_gain += gain / period
            avg_loss += loss / period
            if i < period:
                continue
        else:
            avg_gain += (gain - avg_gain) / period
            avg_loss += (loss - avg_loss) / period
        if avg_loss == 0.0:
            out[i] = 100.0 if avg_gain > 0.0 else 50.0
        else:
            out[i] = 100.0 - 100.0 / (1.0 + avg_gain / avg_loss)
    return out


def atr(high: np.ndarray, low: np.ndarray, close: np.ndarray, period: int) -> np.ndarray:
    """Wilder's average true range; NaN for the first ``period - 1`` bars."""
    n = close.shape[0]
    out = np.full(n, np.nan)
    total = 0.0
    level = 0.0
    for i in range(n):
        true_range = high[i] - low[i]
        if i > 0:
            true_range = max(true_range, abs(high[i] - close[i - 1]), abs(low[i] - close[i - 1]))
        if i < period:
            total += true_range
            if i == period - 1:
                level = total / period
                out[i] = level
        else:
            level += (true_range - level) / period
            out[i] = level
    return out


ema_nb = njit(cache=True)(ema)
rsi_nb = njit(cache=True)(rsi)
atr_nb = njit(cache=True)(atr)
