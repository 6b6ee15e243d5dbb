"""Market data: sources (arch's S&P 500 and NASDAQ, a seeded synthetic market, CSV/Parquet files), resampling,
a Parquet cache and quality checks, behind :func:`load_bars`."""

from __future__ import annotations

from backtest_matrix.data._cache import (
    LOADER_VERSION,
    cache_key,
    cache_path,
    clear_cache,
    file_sha256,
    read_cached_bars,
    write_cached_bars,
)
from backtest_matrix.data._files import read_bars_file
from backtest_matrix.data._frame import BAR_COLUMNS, RawBars
from backtest_matrix.data._load import LoadedBars, load_bars
from backtest_matrix.data._quality import check_bars
from backtest_matrix.data._report import Finding, QualityConfig, QualityReport
from backtest_matrix.data._resample import resample_ohlcv
from backtest_matrix.data._reverting import generate_reverting
from backtest_matrix.data._sources import SourceInfo, default_quality_config, list_sources, resolve_source
from backtest_matrix.data._synthetic import REGIMES, Regime, SyntheticSeries, generate_synthetic
from backtest_matrix.data._timeframe import COMMON_TIMEFRAMES, format_timeframe, parse_timeframe

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
    "generate_reverting",
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
