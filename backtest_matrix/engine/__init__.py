"""The backtest engine: numba kernels (``_*_nb.py``) and the pandas wrappers that call them.

See docs/engine.md for the exact fill, stop and sizing semantics.
"""

from __future__ import annotations

from backtest_matrix.engine._backtest import (
    BacktestResult,
    EngineConfig,
    backtest,
    bar_arrays,
    periods_per_year,
    sweep,
)
from backtest_matrix.engine._layout import EXIT_REASONS, KPI_NAMES, RISK_NAMES, TRADE_FIELDS
from backtest_matrix.engine._signals import LONG_ENTRY, LONG_EXIT, SHORT_ENTRY, SHORT_EXIT

__all__ = [
    "EXIT_REASONS",
    "KPI_NAMES",
    "LONG_ENTRY",
    "LONG_EXIT",
    "RISK_NAMES",
    "SHORT_ENTRY",
    "SHORT_EXIT",
    "TRADE_FIELDS",
    "BacktestResult",
    "EngineConfig",
    "backtest",
    "bar_arrays",
    "periods_per_year",
    "sweep",
]
