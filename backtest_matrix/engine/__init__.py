"""The backtest engine: numba kernels (``_*_nb.py``) and the pandas wrappers that call them.

See docs/engine.md for the exact fill, stop and sizing semantics.
"""

from __future__ import annotations

from backtest_matrix.engine._kernel_cache import invalidate_stale_kernel_caches

invalidate_stale_kernel_caches()  # before any kernel module loads its cached machine code

# ruff: noqa: E402 - the kernel modules must load after the cache check above
from backtest_matrix.engine._backtest import (
    BacktestResult,
    EngineConfig,
    backtest,
    bar_arrays,
    day_starts,
    engine_config_array,
    periods_per_year,
    returns_matrix,
    span_years,
    sweep,
    sweep_in_chunks,
)
from backtest_matrix.engine._device import Device, cuda_problem, resolve_device
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
    "Device",
    "EngineConfig",
    "backtest",
    "bar_arrays",
    "cuda_problem",
    "day_starts",
    "engine_config_array",
    "periods_per_year",
    "resolve_device",
    "returns_matrix",
    "span_years",
    "sweep",
    "sweep_in_chunks",
]
