"""``load_bars``: one entry point from a source spec to checked, normalised bars."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from backtest_matrix.data._arch_sources import arch_version, load_arch
from backtest_matrix.data._cache import cache_key, file_sha256, read_cached_bars, write_cached_bars
from backtest_matrix.data._files import read_bars_file
from backtest_matrix.data._frame import RawBars, infer_timeframe, normalise_bars
from backtest_matrix.data._quality import check_bars
from backtest_matrix.data._report import QualityConfig, QualityReport
from backtest_matrix.data._resample import check_resample_target, resample_ohlcv
from backtest_matrix.data._reverting import generate_reverting
from backtest_matrix.data._sources import GENERATED_KINDS, SourceSpec, default_quality_config, resolve_source
from backtest_matrix.data._synthetic import (
    DEFAULT_SYNTHETIC_TIMEFRAME,
    generate_synthetic,
    synthetic_bar_count,
)
from backtest_matrix.data._timeframe import format_timeframe, parse_timeframe
from backtest_matrix.data._timestamps import TimestampUnit
from tradeloop import data_hash
from tradeloop.errors import DataQualityError, DataSourceError

__all__ = ["LoadedBars", "load_bars"]

ARCH_TIMEFRAME = pd.Timedelta(days=1)
#: The timeframe a generated source has when none is asked for.
GENERATED_TIMEFRAMES = {"synthetic": DEFAULT_SYNTHETIC_TIMEFRAME, "reverting": "15m"}


@dataclass(frozen=True)
class LoadedBars:
    """Bars loaded from a source, with their provenance and quality report.

    Attributes
    ----------
    bars
        Sorted, de-duplicated bars at :attr:`timeframe` (UTC index ``timestamp``, float64 OHLCV).
    source
        The source spec as given.
    timeframe
        The timeframe of :attr:`bars` (canonical, e.g. ``"1h"``).
    data_hash
        :func:`tradeloop.data_hash` of :attr:`bars`.
    report
        The quality report on the bars as loaded, at :attr:`native_timeframe`.
    native_timeframe
        The source's own timeframe, before any resampling.
    from_cache
        Whether the bars came from the cache.
    """

    bars: pd.DataFrame
    source: str
    timeframe: str
    data_hash: str
    report: QualityReport
    native_timeframe: str
    from_cache: bool = False


@dataclass(frozen=True)
class _Request:
    spec: SourceSpec
    source: str
    target: pd.Timedelta | None
    days: float | None
    bars: int | None
    seed: int
    start: str | None
    columns: dict[str, str]
    timestamp_column: str | None
    unit: TimestampUnit
    tz: str


def load_bars(
    source: str,
    *,
    timeframe: str | None = None,
    days: float | None = None,
    bars: int | None = None,
    seed: int = 0,
    start: str | None = None,
    columns: Mapping[str, str] | None = None,
    timestamp_column: str | None = None,
    unit: TimestampUnit = "auto",
    tz: str = "UTC",
    cache_dir: Path | None = None,
    check: bool = True,
    quality: QualityConfig | None = None,
) -> LoadedBars:
    """Load bars from a source, check their quality, sort them and resample them.

    The steps: load the bars as the source has them (or take them from the cache), run
    :func:`check_bars` on them in source order, raise if ``check`` and there are errors, sort by time
    keeping the first of any duplicated timestamp, and resample to ``timeframe`` when it is higher than the
    source's own.

    Parameters
    ----------
    source
        ``"sp500"``, ``"nasdaq"`` (real daily bars, 1999-2018), ``"synthetic"``, or a path ending in
        ``.csv``, ``.parquet`` or ``.pq``.
    timeframe
        The bar timeframe wanted. Synthetic series are generated at it (default ``1h``); other sources are
        resampled to it when it is a higher multiple of their own (``1d`` for arch; a file's is inferred from
        its most frequent spacing). Lower than the source's is an error.
    days
        Synthetic: the length in days (default 365). Other sources: keep only the last ``days`` days.
    bars
        Synthetic only: the length in bars, instead of ``days``.
    seed
        Synthetic only: the generator's seed (ignored by other sources).
    start
        Synthetic only: the first timestamp (default 2024-01-01 00:00 UTC).
    columns, timestamp_column, unit, tz
        Files only: see :func:`read_bars_file` and :func:`parse_timestamps`.
    cache_dir
        Where to cache loaded bars as Parquet; None disables the cache.
    check
        Raise :class:`DataQualityError` when the quality report has errors. ``False`` returns the bars and
        the report anyway (for ``tradeloop data check``).
    quality
        Quality thresholds; default :func:`default_quality_config` of the source.

    Returns
    -------
    LoadedBars

    Raises
    ------
    DataSourceError
        Unknown source, missing or malformed file, or options that do not fit the source.
    DataQualityError
        With ``check=True``, when the bars fail a quality check; ``findings`` holds the errors.
    """
    request = _request(source, timeframe, days, bars, seed, start, columns, timestamp_column, unit, tz)
    try:
        raw, from_cache = _raw_bars(request, cache_dir)
    except MemoryError:
        raise DataSourceError(
            f"{source}: ran out of memory while loading it, not a fault of the data; raise the memory limit "
            "(ulimit -v, the runner's memory) or load fewer days (--days)"
        ) from None
    native = _native_timeframe(request, raw)
    report = check_bars(
        raw.frame,
        source=source,
        timeframe=native,
        config=quality or default_quality_config(source),
        rows=raw.rows,
    )
    if check and report.errors:
        raise DataQualityError(_failure_message(source, report), report.errors)
    result = normalise_bars(raw.frame)
    target = request.target or native
    if target != native:
        result = resample_ohlcv(result, target, source_timeframe=native)
    return LoadedBars(
        bars=result,
        source=source,
        timeframe=format_timeframe(target),
        data_hash=data_hash(result),
        report=report,
        native_timeframe=format_timeframe(native),
        from_cache=from_cache,
    )


def _request(
    source: str,
    timeframe: str | None,
    days: float | None,
    bars: int | None,
    seed: int,
    start: str | None,
    columns: Mapping[str, str] | None,
    timestamp_column: str | None,
    unit: TimestampUnit,
    tz: str,
) -> _Request:
    """Resolve the source and refuse options that do not apply to it."""
    spec = resolve_source(source)
    if days is not None and not (math.isfinite(days) and days > 0):
        raise DataSourceError(f"{source}: days must be a number > 0, got {days}")
    if bars is not None and (isinstance(bars, bool) or not isinstance(bars, int) or bars < 1):
        raise DataSourceError(f"{source}: bars must be a whole number >= 1, got {bars!r}")
    not_applicable = {
        "bars": (bars is not None, "generated", "use days= to keep the last N days"),
        "start": (start is not None, "generated", "drop it"),
        "columns": (bool(columns), "file", "drop it"),
        "timestamp_column": (timestamp_column is not None, "file", "drop it"),
        "unit": (unit != "auto", "file", "drop it"),
        "tz": (tz != "UTC", "file", "drop it"),
    }
    for option, (given, kind, fix) in not_applicable.items():
        applies = spec.kind in GENERATED_KINDS if kind == "generated" else spec.kind == kind
        if given and not applies:
            what = (
                "generated series (synthetic, reverting)" if kind == "generated" else "files (.csv, .parquet)"
            )
            raise DataSourceError(f"{source}: option {option} applies to {what} only; {fix}")
    target = parse_timeframe(timeframe) if timeframe is not None else None
    return _Request(
        spec, source, target, days, bars, seed, start, dict(columns or {}), timestamp_column, unit, tz
    )


def _raw_bars(request: _Request, cache_dir: Path | None) -> tuple[RawBars, bool]:
    """The bars as loaded, from the cache when possible."""
    parts = _cache_parts(request)
    key = cache_key(parts)
    if cache_dir is not None:
        cached = read_cached_bars(cache_dir, key)
        if cached is not None:
            return cached, True
    raw = _load_raw(request)
    if cache_dir is not None:
        write_cached_bars(cache_dir, key, raw)
    return raw, False


def _synthetic_timeframe(request: _Request) -> pd.Timedelta:
    return request.target or parse_timeframe(GENERATED_TIMEFRAMES[request.spec.kind])


def _cache_parts(request: _Request) -> dict[str, Any]:
    spec = request.spec
    if spec.kind in GENERATED_KINDS:
        step = _synthetic_timeframe(request)
        count = synthetic_bar_count(step, days=request.days, bars=request.bars)
        params = {
            "timeframe": format_timeframe(step),
            "bars": count,
            "seed": request.seed,
            "start": request.start,
        }
        return {"kind": spec.kind, "params": params}
    if spec.kind == "arch":
        return {"kind": "arch", "params": {"name": spec.name, "days": request.days}, "arch": arch_version()}
    assert spec.path is not None
    if not spec.path.is_file():
        return {"kind": "file", "missing": str(spec.path)}  # read_bars_file raises the clear error
    params = {
        "format": spec.path.suffix.lower(),
        "columns": request.columns,
        "timestamp_column": request.timestamp_column,
        "unit": request.unit,
        "tz": request.tz,
        "days": request.days,
    }
    return {"kind": "file", "params": params, "file_sha256": file_sha256(spec.path)}


def _load_raw(request: _Request) -> RawBars:
    spec = request.spec
    if spec.kind == "synthetic":
        series = generate_synthetic(
            timeframe=format_timeframe(_synthetic_timeframe(request)),
            days=request.days,
            bars=request.bars,
            seed=request.seed,
            start=request.start,
        )
        return RawBars.numbered(series.bars)
    if spec.kind == "reverting":
        step = _synthetic_timeframe(request)
        count = synthetic_bar_count(step, days=request.days, bars=request.bars)
        frame = generate_reverting(
            bars=count, timeframe=format_timeframe(step), seed=request.seed, start=request.start
        )
        return RawBars.numbered(frame)
    if spec.kind == "arch":
        raw = load_arch(spec.name)
    else:
        assert spec.path is not None
        raw = read_bars_file(
            spec.path,
            where=request.source,
            columns=request.columns,
            timestamp_column=request.timestamp_column,
            unit=request.unit,
            tz=request.tz,
        )
    return raw if request.days is None else raw.last_days(request.days)


def _native_timeframe(request: _Request, raw: RawBars) -> pd.Timedelta:
    """The source's own timeframe; checked against the requested one."""
    kind = request.spec.kind
    if kind in GENERATED_KINDS:
        return _synthetic_timeframe(request)
    native = ARCH_TIMEFRAME if kind == "arch" else infer_timeframe(pd.DatetimeIndex(raw.frame.index))
    if native is None:
        if request.target is None:
            raise DataSourceError(
                f"{request.source}: cannot infer the timeframe from fewer than two distinct timestamps; "
                "pass timeframe= (CLI: --timeframe)"
            )
        return request.target
    if request.target is not None:
        check_resample_target(native, request.target, request.source)
    return native


def _failure_message(source: str, report: QualityReport) -> str:
    first = report.errors[0]
    return (
        f"{source}: the bars failed the quality checks: {report.summary()}. First: {first.message}. "
        f"Fix: {first.fix}. `tradeloop data check {source}` with the same loading options (--map, --days, "
        "...) lists every finding."
    )
