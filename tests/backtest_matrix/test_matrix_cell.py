"""One cell: regime KPIs against references, the window regime, the indicator cache and the record."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backtest_matrix.data import load_bars
from backtest_matrix.engine import KPI_NAMES, EngineConfig, backtest, periods_per_year
from backtest_matrix.matrix import (
    CellTask,
    IndicatorCache,
    RunInfo,
    regime_kpis,
    regime_labels,
    run_cell,
    window_regime,
    window_slice,
)
from backtest_matrix.matrix._cell import downsample
from backtest_matrix.regimes import REGIME_LABELS, classify_window, detect_regimes
from tradeloop import data_hash


def reference_regime_kpis(
    returns: list[float], codes: list[int], per_year: float
) -> dict[str, dict[str, float]]:
    """Plain-Python loops over the bars of each regime."""
    result = {}
    for code, name in enumerate(REGIME_LABELS):
        picked = [r for r, c in zip(returns, codes, strict=True) if c == code]
        if not picked:
            continue
        equity, peak, deepest = 1.0, 1.0, 0.0
        for r in picked:
            equity *= 1.0 + r
            peak = max(peak, equity)
            deepest = max(deepest, 1.0 - equity / peak)
        mean = sum(picked) / len(picked)
        var = sum((r - mean) ** 2 for r in picked) / (len(picked) - 1) if len(picked) > 1 else math.nan
        sharpe = mean / math.sqrt(var) * math.sqrt(per_year) if var > 0 else math.nan
        result[name] = {"bars": len(picked), "return_pct": 100 * (equity - 1), "sharpe": sharpe,
                        "max_drawdown_pct": 100 * deepest}  # fmt: skip
    return result


def test_regime_kpis_match_a_loop_reference() -> None:
    rng = np.random.default_rng(4)
    returns = rng.normal(0.0005, 0.01, 600)
    codes = rng.integers(-1, 4, 600).astype(np.int8)
    got = regime_kpis(returns, codes, 252.0)
    expected = reference_regime_kpis(returns.tolist(), codes.tolist(), 252.0)
    assert set(got) == set(expected) == set(REGIME_LABELS)
    for name, figures in expected.items():
        assert got[name]["bars"] == figures["bars"]
        for key in ("return_pct", "sharpe", "max_drawdown_pct"):
            assert got[name][key] == pytest.approx(figures[key], rel=1e-9, abs=1e-12), (name, key)


def test_a_window_of_one_regime_has_the_engines_own_kpis() -> None:
    bars = load_bars("sp500").bars.iloc[-400:]
    result = backtest(bars, "ema_cross", {"ema_fast": 5, "ema_slow": 20}, config=EngineConfig(fee_bps=10))
    ts = pd.DatetimeIndex(bars.index).as_unit("ns").asi8
    codes = np.full(len(bars), 2, dtype=np.int8)
    figures = regime_kpis(result.returns.to_numpy(), codes, periods_per_year(ts))["sideways"]
    assert figures["bars"] == 400
    for key in ("return_pct", "sharpe", "max_drawdown_pct"):
        assert figures[key] == pytest.approx(result.kpis[key], rel=1e-9), key


def test_window_regime_is_classify_windows_majority() -> None:
    bars = load_bars("synthetic", timeframe="1d", days=500, seed=3).bars
    detection = detect_regimes(bars)
    codes = detection.labels.cat.codes.to_numpy().astype(np.int8)
    regime, confidence = window_regime(codes, detection.confidence.to_numpy())
    assert (regime, confidence) == pytest.approx(classify_window(bars))
    assert window_regime(np.full(5, -1, np.int8), np.full(5, np.nan)) == (None, 0.0)


def test_downsample_keeps_the_ends_and_at_most_120_points() -> None:
    values = np.arange(1000.0)
    points = downsample(values)
    assert len(points) == 120 and points[0] == 0.0 and points[-1] == 999.0
    assert points == sorted(points)
    assert downsample(values[:50]) == values[:50].tolist()


def test_indicator_cache_computes_once_then_reads_parquet(tmp_path: Path) -> None:
    loaded = load_bars("synthetic", timeframe="1d", days=200, seed=1)
    cache = IndicatorCache(tmp_path / "indicators")
    first = regime_labels(loaded.bars, loaded.data_hash, cache)
    assert (cache.hits, cache.misses) == (0, 1)
    files = list((tmp_path / "indicators" / "regimes").glob("*.parquet"))
    assert len(files) == 1
    assert not [p for p in files[0].parent.iterdir() if ".tmp-" in p.name]  # written atomically
    fresh = IndicatorCache(tmp_path / "indicators")  # another worker: reads the file
    second = regime_labels(loaded.bars, loaded.data_hash, fresh)
    assert (fresh.hits, fresh.misses) == (1, 0)
    pd.testing.assert_frame_equal(first, second)
    detection = detect_regimes(loaded.bars)
    assert (second["code"].to_numpy() == detection.labels.cat.codes.to_numpy()).all()
    np.testing.assert_array_equal(second["confidence"].to_numpy(), detection.confidence.to_numpy())
    other = load_bars("synthetic", timeframe="1d", days=200, seed=2)
    regime_labels(other.bars, other.data_hash, fresh)
    assert fresh.misses == 1 and len(list(files[0].parent.glob("*.parquet"))) == 2


def test_a_damaged_cache_entry_is_recomputed(tmp_path: Path) -> None:
    loaded = load_bars("synthetic", timeframe="1d", days=200, seed=1)
    regime_labels(loaded.bars, loaded.data_hash, IndicatorCache(tmp_path))
    (entry,) = (tmp_path / "regimes").glob("*.parquet")
    entry.write_bytes(b"not parquet")
    cache = IndicatorCache(tmp_path)
    labels = regime_labels(loaded.bars, loaded.data_hash, cache)
    assert cache.misses == 1 and len(labels) == 200
    assert IndicatorCache(tmp_path).get(loaded.data_hash, "regimes", {}, "v", lambda: labels) is not None


def test_a_series_too_short_for_the_detector_is_unlabelled() -> None:
    bars = load_bars("synthetic", timeframe="1d", days=100, seed=1).bars.iloc[:15]
    labels = regime_labels(bars, data_hash(bars), IndicatorCache(None))
    assert (labels["code"] == -1).all() and labels["confidence"].isna().all()


def test_run_cell_backtests_the_window_with_the_runs_costs(tmp_path: Path) -> None:
    loaded = load_bars("sp500", timeframe="1d")
    params = {"ema_fast": 8.0, "ema_slow": 30.0, "stop_loss_pct": 2.0}
    task = CellTask(
        cell_hash="h" * 32, strategy="ema_cross", symbol="SP500", source="sp500", timeframe="1d",
        window="365d", window_days=365, param_set="base", params=params, data_hash=loaded.data_hash,
        window_start="s", window_end="e", bars=0,
    )  # fmt: skip
    info = RunInfo(run_id="r", git_sha="g", config_hash="c", engine_version="v", seed=1, shard="1/1",
                   fee_bps=10.0, slippage_bps=5.0, cache_dir=str(tmp_path))  # fmt: skip
    record = run_cell(task, info)
    window = loaded.bars.iloc[window_slice(pd.DatetimeIndex(loaded.bars.index), 365)]
    expected = backtest(window, "ema_cross", params, config=EngineConfig(fee_bps=10.0, slippage_bps=5.0))
    assert record["kpis"] == pytest.approx(expected.kpis, nan_ok=True)
    assert list(record["kpis"]) == list(KPI_NAMES)
    assert record["status"] == "ok" and record["error"] is None
    assert len(record["equity"]) == 120 and record["equity"][-1] == expected.equity.iloc[-1]
    assert sum(figures["bars"] for figures in record["regime_kpis"].values()) == len(window)
    assert record["regime"] in REGIME_LABELS and 0.0 <= record["regime_confidence"] <= 1.0
    assert record["data_hash"] == data_hash(loaded.bars)
    neighbour = run_cell(CellTask(**{**task.__dict__, "param_set": "n01"}), info)
    assert "equity" not in neighbour
