"""backtest_matrix: market data and quality checks, the numba engine, strategies (later: the matrix runner).

- This package re-exports the data layer: :func:`load_bars` turns a source spec (``sp500``, ``nasdaq``,
  ``synthetic`` or a CSV/Parquet path) into checked bars.
- ``backtest_matrix.engine`` holds the backtest and sweep entry points, and ``backtest_matrix.strategies``
  the strategies. They are imported on demand, because loading numba takes a moment.
"""

from __future__ import annotations

from backtest_matrix.data import (
    BAR_COLUMNS,
    COMMON_TIMEFRAMES,
    LOADER_VERSION,
    REGIMES,
    Finding,
    LoadedBars,
    QualityConfig,
    QualityReport,
    RawBars,
    Regime,
    SourceInfo,
    SyntheticSeries,
    cache_key,
    cache_path,
    check_bars,
    clear_cache,
    default_quality_config,
    file_sha256,
    format_timeframe,
    generate_synthetic,
    list_sources,
    load_bars,
    parse_timeframe,
    read_bars_file,
    read_cached_bars,
    resample_ohlcv,
    resolve_source,
    write_cached_bars,
)

__all__ = [
    "BAR_COLUMNS",
    "COMMON_TIMEFRAMES",
    "LOADER_VERSION",
    "REGIMES",
    "Finding",
    "LoadedBars",
    "QualityConfig",
    "QualityReport",
    "RawBars",
    "Regime",
    "SourceInfo",
    "SyntheticSeries",
    "cache_key",
    "cache_path",
    "check_bars",
    "clear_cache",
    "default_quality_config",
    "file_sha256",
    "format_timeframe",
    "generate_synthetic",
    "list_sources",
    "load_bars",
    "parse_timeframe",
    "read_bars_file",
    "read_cached_bars",
    "resample_ohlcv",
    "resolve_source",
    "write_cached_bars",
]
