"""A Parquet cache of raw bars, keyed by a content hash of everything that determines them.

An entry is ``<cache_dir>/<key>.parquet``. The key is a SHA-256 over the loader version, the source kind, the
load parameters and, for files, the file's own SHA-256 (for arch sources, the arch version), so a changed file
or a new loader never hits a stale entry. Entries hold the bars as loaded (source order, duplicates kept, with
their source row numbers): the quality checks and resampling run again on every load, so a report always
reflects the current thresholds. Entries are written atomically and carry a digest of their content; an
unreadable or corrupt entry is deleted and treated as a miss.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from backtest_matrix.data._frame import BAR_COLUMNS, RawBars, bars_frame, utc_index
from tradeloop import atomic_write_bytes, canonical_json

__all__ = [
    "LOADER_VERSION",
    "cache_key",
    "cache_path",
    "clear_cache",
    "file_sha256",
    "read_cached_bars",
    "write_cached_bars",
]

# Bump whenever a change to the loaders, the generator or the entry format changes what an entry holds.
LOADER_VERSION = "2"  # 2: files mixing epoch units or repeating a header name are refused
_METADATA_KEY = b"tradeloop"
_ROW_COLUMN = "row"


def cache_key(parts: Mapping[str, Any]) -> str:
    """The cache key (32 hex characters) of a load, from JSON-able ``parts`` plus :data:`LOADER_VERSION`.

    Parameters
    ----------
    parts
        Everything that determines the loaded bars, e.g. ``{"kind": "file", "params": {...},
        "file_sha256": "..."}``.
    """
    payload = canonical_json({"loader_version": LOADER_VERSION, **parts})
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def cache_path(cache_dir: Path, key: str) -> Path:
    """Where the entry of ``key`` lives."""
    return Path(cache_dir) / f"{key}.parquet"


def file_sha256(path: Path) -> str:
    """SHA-256 (hex) of a file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _content_digest(raw: RawBars) -> str:
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(utc_index(raw.frame.index).asi8).tobytes())
    digest.update(np.ascontiguousarray(raw.rows, dtype=np.int64).tobytes())
    for name in BAR_COLUMNS:
        digest.update(np.ascontiguousarray(raw.frame[name].to_numpy(dtype=np.float64)).tobytes())
    return digest.hexdigest()


def write_cached_bars(cache_dir: Path, key: str, raw: RawBars) -> Path:
    """Store ``raw`` under ``key`` atomically; returns the entry's path."""
    frame = raw.frame.assign(**{_ROW_COLUMN: raw.rows})
    table = pa.Table.from_pandas(frame, preserve_index=True)
    stamp = json.dumps({"key": key, "digest": _content_digest(raw)}).encode()
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), _METADATA_KEY: stamp})
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    path = cache_path(cache_dir, key)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def read_cached_bars(cache_dir: Path, key: str) -> RawBars | None:
    """The entry of ``key``, or None on a miss; a corrupt entry is deleted and counts as a miss."""
    path = cache_path(cache_dir, key)
    if not path.is_file():
        return None
    try:
        return _read_entry(path, key)
    except Exception:  # any damage (truncated file, bad footer, wrong content) means: regenerate
        path.unlink(missing_ok=True)
        return None


def _read_entry(path: Path, key: str) -> RawBars:
    table = pq.read_table(path)
    stamp = json.loads((table.schema.metadata or {})[_METADATA_KEY])
    frame = table.to_pandas()
    rows = frame[_ROW_COLUMN].to_numpy(dtype=np.int64)
    raw = RawBars(bars_frame(pd.DatetimeIndex(frame.index), {n: frame[n] for n in BAR_COLUMNS}), rows)
    if stamp["key"] != key or stamp["digest"] != _content_digest(raw):
        raise ValueError(f"{path}: content does not match its key or digest")
    return raw


def clear_cache(cache_dir: Path) -> int:
    """Delete every entry in ``cache_dir`` and return how many; lock files stay, as writers may hold them."""
    directory = Path(cache_dir)
    if not directory.is_dir():
        return 0
    entries = list(directory.glob("*.parquet"))
    for path in entries:
        path.unlink(missing_ok=True)
    return len(entries)
