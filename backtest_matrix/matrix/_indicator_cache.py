"""Indicators computed once per (data hash, indicator, parameters) and shared as Parquet by every cell.

An entry is ``<directory>/<indicator>/<key>.parquet`` with ``key`` the first 32 hex characters of the
SHA-256 of the canonical JSON of ``{data_hash, indicator, params, version}``. ``version`` carries a hash of
the indicator's source code, so a changed detector never reads a stale entry. Entries are written
atomically (temp file, fsync, rename), so workers racing on the same entry each see either nothing or a
whole file; an unreadable entry is recomputed and replaced. Within a process, a read entry is kept in
memory, so a worker reads each entry at most once.

The matrix uses it for the regime detector's per-bar labels and confidence, which every cell of a
(source, timeframe) needs. The strategies compute their own indicators inside their numba kernels (fused
with the signal logic, see docs/engine.md), so there is nothing of theirs to share here.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable, Mapping
from dataclasses import asdict
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from backtest_matrix.engine._kernel_cache import kernel_source_hash
from backtest_matrix.regimes import RegimeConfig, detect_regimes
from tradeloop import atomic_write_bytes, canonical_json
from tradeloop.errors import DataError

__all__ = ["REGIME_INDICATOR", "IndicatorCache", "regime_labels"]

REGIME_INDICATOR = "regimes"
_REGIMES_PACKAGE = Path(__file__).resolve().parents[1] / "regimes"


class IndicatorCache:
    """A Parquet store of per-bar indicator frames, keyed by what determines them.

    Parameters
    ----------
    directory
        Root of the store (``Settings.cache_dir / "indicators"``); ``None`` turns caching off, so every
        call computes (what the benchmark compares against).

    Attributes
    ----------
    hits, misses
        Calls served from memory or disk, and calls that computed.
    """

    def __init__(self, directory: Path | None) -> None:
        self.directory = None if directory is None else Path(directory)
        self.hits = 0
        self.misses = 0
        self._memory: dict[Path, pd.DataFrame] = {}

    def path(self, data_hash: str, indicator: str, params: Mapping[str, Any], version: str) -> Path:
        """Where the entry of these inputs lives (only meaningful with a directory)."""
        payload = {"data_hash": data_hash, "indicator": indicator, "params": dict(params), "version": version}
        key = hashlib.sha256(canonical_json(payload).encode()).hexdigest()[:32]
        return Path(self.directory or ".") / indicator / f"{key}.parquet"

    def get(
        self,
        data_hash: str,
        indicator: str,
        params: Mapping[str, Any],
        version: str,
        compute: Callable[[], pd.DataFrame],
    ) -> pd.DataFrame:
        """The indicator frame of these inputs: from memory, from disk, or ``compute()`` then stored."""
        if self.directory is None:
            self.misses += 1
            return compute()
        path = self.path(data_hash, indicator, params, version)
        frame = self._memory.get(path)
        if frame is None:
            frame = _read(path)
        if frame is not None:
            self.hits += 1
        else:
            self.misses += 1
            frame = compute()
            _write(path, frame)
        self._memory[path] = frame
        return frame


def _read(path: Path) -> pd.DataFrame | None:
    if not path.is_file():
        return None
    try:
        frame: pd.DataFrame = pq.read_table(path).to_pandas()
    except Exception:  # a damaged entry (disk fault, foreign file) is recomputed and replaced
        return None
    return frame


def _write(path: Path, frame: pd.DataFrame) -> None:
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=True), buffer)
    atomic_write_bytes(path, buffer.getvalue())


@cache
def _regimes_version() -> str:
    return kernel_source_hash((_REGIMES_PACKAGE,))[:16]


def regime_labels(
    bars: pd.DataFrame, data_hash: str, cache: IndicatorCache, config: RegimeConfig | None = None
) -> pd.DataFrame:
    """Per-bar regime codes (index into ``REGIME_LABELS``, -1 = unlabelled) and confidence of ``bars``.

    Parameters
    ----------
    bars
        The whole series of a (source, timeframe); windows slice the result, so even a 30-day window
        gets labels whose trailing features reach back before it.
    data_hash
        ``tradeloop.data_hash(bars)``: the cache key of the series.
    cache
        Where to look the labels up and store them.
    config
        The detector's settings; default :class:`RegimeConfig()`.

    Returns
    -------
    pandas.DataFrame
        Columns ``code`` (int8) and ``confidence`` (float64, NaN when unlabelled) on the bars' index. A
        series too short for the detector's warm-up is all unlabelled.
    """
    config = config or RegimeConfig()

    def compute() -> pd.DataFrame:
        try:
            detection = detect_regimes(bars, config)
        except DataError:  # too short for the warm-up: nothing to label
            return pd.DataFrame(
                {"code": np.full(len(bars), -1, np.int8), "confidence": np.full(len(bars), np.nan)},
                index=bars.index,
            )
        return pd.DataFrame(
            {
                "code": detection.labels.cat.codes.to_numpy().astype(np.int8),
                "confidence": detection.confidence.to_numpy(np.float64),
            },
            index=bars.index,
        )

    return cache.get(data_hash, REGIME_INDICATOR, asdict(config), _regimes_version(), compute)
