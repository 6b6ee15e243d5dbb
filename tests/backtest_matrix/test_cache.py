"""The Parquet cache: hits return identical bars, content changes miss, corrupt entries are regenerated."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from backtest_matrix import (
    QualityConfig,
    RawBars,
    cache_key,
    clear_cache,
    load_bars,
    read_cached_bars,
    write_cached_bars,
)


def _entries(cache: Path) -> list[Path]:
    return sorted(cache.glob("*.parquet"))


def test_miss_then_hit_returns_identical_bars(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    miss = load_bars("synthetic", timeframe="15m", days=120, seed=5, cache_dir=cache)
    [entry] = _entries(cache)
    hit = load_bars("synthetic", timeframe="15m", days=120, seed=5, cache_dir=cache)
    assert (miss.from_cache, hit.from_cache) == (False, True)
    assert hit.data_hash == miss.data_hash
    pd.testing.assert_frame_equal(hit.bars, miss.bars)
    other = load_bars("synthetic", timeframe="15m", days=120, seed=6, cache_dir=cache)
    assert not other.from_cache
    assert len(_entries(cache)) == 2
    assert entry.stem == cache_key(
        {"kind": "synthetic", "params": {"timeframe": "15m", "bars": 11520, "seed": 5, "start": None}}
    )


def test_a_hit_is_checked_again_with_the_current_thresholds(
    daily_bars: Callable[..., pd.DataFrame], write_csv: Callable[..., Path], tmp_path: Path
) -> None:
    path = str(write_csv(daily_bars(60)))
    cache = tmp_path / "cache"
    assert not load_bars(path, cache_dir=cache, check=False).report.ok
    hit = load_bars(path, cache_dir=cache, quality=QualityConfig(min_history_days=30))
    assert hit.from_cache and hit.report.ok


def test_changing_a_csv_file_invalidates_its_entry(
    daily_bars: Callable[..., pd.DataFrame], write_csv: Callable[..., Path], tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    frame = daily_bars()
    path = str(write_csv(frame))
    first = load_bars(path, cache_dir=cache)
    assert load_bars(path, cache_dir=cache).from_cache
    frame.loc[5, "volume"] = 1234.0
    write_csv(frame)
    changed = load_bars(path, cache_dir=cache)
    assert not changed.from_cache
    assert changed.data_hash != first.data_hash
    assert changed.bars["volume"].iloc[5] == 1234.0
    assert len(_entries(cache)) == 2


def test_a_corrupt_entry_is_discarded_and_regenerated(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    original = load_bars("synthetic", timeframe="1h", days=100, cache_dir=cache)
    [entry] = _entries(cache)
    entry.write_bytes(entry.read_bytes()[: entry.stat().st_size // 2])
    regenerated = load_bars("synthetic", timeframe="1h", days=100, cache_dir=cache)
    assert not regenerated.from_cache
    assert regenerated.data_hash == original.data_hash
    assert load_bars("synthetic", timeframe="1h", days=100, cache_dir=cache).from_cache


def test_an_entry_under_the_wrong_key_is_not_trusted(tmp_path: Path) -> None:
    bars = load_bars("synthetic", timeframe="1h", days=100).bars
    write_cached_bars(tmp_path, "a" * 32, RawBars.numbered(bars))
    assert read_cached_bars(tmp_path, "a" * 32) is not None
    (tmp_path / f"{'a' * 32}.parquet").rename(tmp_path / f"{'b' * 32}.parquet")
    assert read_cached_bars(tmp_path, "b" * 32) is None
    assert not (tmp_path / f"{'b' * 32}.parquet").exists()


def test_cached_raw_bars_keep_order_duplicates_and_row_numbers(
    daily_bars: Callable[..., pd.DataFrame], tmp_path: Path
) -> None:
    frame = daily_bars().set_index("timestamp")
    shuffled = pd.concat([frame.iloc[3:], frame.iloc[:4]])
    raw = RawBars(shuffled, (pd.RangeIndex(len(shuffled)) * 2 + 7).to_numpy())
    write_cached_bars(tmp_path, "c" * 32, raw)
    cached = read_cached_bars(tmp_path, "c" * 32)
    assert cached is not None
    assert cached.frame.index.equals(raw.frame.index)
    assert cached.frame.index.has_duplicates and not cached.frame.index.is_monotonic_increasing
    assert (cached.rows == raw.rows).all()
    assert clear_cache(tmp_path) == 1
    assert read_cached_bars(tmp_path, "c" * 32) is None
