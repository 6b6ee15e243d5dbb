"""One matrix cell: slice the window, backtest one parameter set, tag regimes, build the result record.

The record is contract 1 of the design (docs/matrix.md lists every field). Regime figures come from the
per-bar labels of the *whole* series (:func:`regime_labels`, from the indicator cache), sliced to the window:
a short window has no warm-up of its own, and the labels are causal, so slicing them is exact.

``regime_kpis`` restricts the backtest's per-bar returns (equity over the previous bar's equity, the first
bar against the initial cash) to the bars of each regime: ``return_pct`` compounds them, ``sharpe`` is their
mean over their standard deviation (ddof 1) times the square root of the window's bars per year, and
``max_drawdown_pct`` is the deepest fall of the compounded curve of those bars from its running peak
(starting at 1). With a single regime in the window these equal the engine's own KPIs.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from backtest_matrix.data import LoadedBars, load_bars
from backtest_matrix.engine import EngineConfig, backtest, periods_per_year
from backtest_matrix.matrix._indicator_cache import IndicatorCache, regime_labels
from backtest_matrix.matrix._plan import window_slice
from backtest_matrix.regimes import REGIME_LABELS
from tradeloop.errors import DataError

__all__ = [
    "EQUITY_POINTS",
    "CellTask",
    "RunInfo",
    "downsample",
    "failed_record",
    "prepare_cell",
    "regime_kpis",
    "run_cell",
    "window_regime",
]

#: The most points of the equity curve kept in a record (live and base sets only).
EQUITY_POINTS = 120
_EQUITY_SETS = frozenset({"live", "base"})


@dataclass(frozen=True)
class RunInfo:
    """What every record of a shard run shares."""

    run_id: str
    git_sha: str
    config_hash: str
    engine_version: str
    seed: int
    shard: str
    fee_bps: float = 0.0
    slippage_bps: float = 0.0
    cache_dir: str | None = None
    indicator_cache: bool = True


@dataclass(frozen=True)
class CellTask:
    """One cell as the runner hands it to a worker (plain, picklable values)."""

    cell_hash: str
    strategy: str
    symbol: str
    source: str
    timeframe: str
    window: str
    window_days: int | None
    param_set: str
    params: Mapping[str, float]
    data_hash: str
    window_start: str
    window_end: str
    bars: int
    fault: str | None = field(default=None, compare=False)


@lru_cache(maxsize=16)
def _bars(source: str, timeframe: str, cache_dir: str | None) -> LoadedBars:
    """The bars of a (source, timeframe), loaded once per worker process."""
    return load_bars(source, timeframe=timeframe, cache_dir=None if cache_dir is None else Path(cache_dir))


@lru_cache(maxsize=4)
def _indicator_cache(cache_dir: str | None) -> IndicatorCache:
    return IndicatorCache(None if cache_dir is None else Path(cache_dir) / "indicators")


def _regimes(data: LoadedBars, info: RunInfo) -> pd.DataFrame:
    """Per-bar regime labels from the indicator cache (or, for the benchmark's baseline, computed again)."""
    cache = _indicator_cache(info.cache_dir if info.indicator_cache else None)
    return regime_labels(data.bars, data.data_hash, cache)


def base_record(task: CellTask, info: RunInfo) -> dict[str, Any]:
    """The fields of a record that do not depend on the backtest."""
    return {
        "cell_hash": task.cell_hash,
        "run_id": info.run_id,
        "git_sha": info.git_sha,
        "config_hash": info.config_hash,
        "data_hash": task.data_hash,
        "engine_version": info.engine_version,
        "strategy": task.strategy,
        "symbol": task.symbol,
        "timeframe": task.timeframe,
        "window": task.window,
        "source": task.source,
        "param_set": task.param_set,
        "params": dict(task.params),
        "seed": info.seed,
        "window_start": task.window_start,
        "window_end": task.window_end,
        "bars": task.bars,
        "shard": info.shard,
    }


def failed_record(
    task: CellTask, info: RunInfo, status: str, reason: str, elapsed_s: float
) -> dict[str, Any]:
    """The record of a cell that did not finish: ``status`` ``error`` or ``timeout`` with its reason."""
    return {
        **base_record(task, info),
        "regime": None,
        "regime_confidence": None,
        "kpis": {},
        "regime_kpis": {},
        "status": status,
        "error": reason,
        "elapsed_s": round(elapsed_s, 6),
    }


def prepare_cell(task: CellTask, info: RunInfo) -> None:
    """Load the cell's bars and regime labels into this process's memo (the runner's setup phase)."""
    data = _bars(task.source, task.timeframe, info.cache_dir)
    if info.indicator_cache:
        _regimes(data, info)


def run_cell(task: CellTask, info: RunInfo) -> dict[str, Any]:
    """Backtest one cell and return its ``ok`` record (exceptions propagate to the caller)."""
    started = time.perf_counter()
    data = _bars(task.source, task.timeframe, info.cache_dir)
    if data.data_hash != task.data_hash:
        raise DataError(
            f"{task.source} ({task.timeframe}): the data hash is {data.data_hash}, but the plan was "
            f"made for {task.data_hash}; the data changed since planning, re-plan and re-run the shard"
        )
    labels = _regimes(data, info)
    window = window_slice(pd.DatetimeIndex(data.bars.index), task.window_days)
    bars = data.bars.iloc[window]
    config = EngineConfig(fee_bps=info.fee_bps, slippage_bps=info.slippage_bps)
    result = backtest(bars, task.strategy, task.params, config=config)
    codes = labels["code"].to_numpy()[window]
    confidence = labels["confidence"].to_numpy()[window]
    regime, regime_confidence = window_regime(codes, confidence)
    returns = result.returns.to_numpy(np.float64)
    ts = pd.DatetimeIndex(bars.index).as_unit("ns").asi8
    record = {
        **base_record(task, info),
        "regime": regime,
        "regime_confidence": regime_confidence,
        "kpis": dict(result.kpis),
        "regime_kpis": regime_kpis(returns, codes, periods_per_year(ts)),
        "status": "ok",
        "error": None,
    }
    if task.param_set in _EQUITY_SETS:
        record["equity"] = downsample(result.equity.to_numpy(np.float64))
    record["elapsed_s"] = round(time.perf_counter() - started, 6)
    return record


def window_regime(
    codes: npt.NDArray[np.int8], confidence: npt.NDArray[np.float64]
) -> tuple[str | None, float]:
    """The majority regime of a window and its confidence, as :func:`classify_window` computes them.

    Confidence = the regime's share of the labelled bars × the mean confidence of its bars. Ties go to
    the earlier label of ``REGIME_LABELS``. ``(None, 0.0)`` when no bar is labelled.
    """
    labelled = codes >= 0
    if not labelled.any():
        return None, 0.0
    counts = np.bincount(codes[labelled], minlength=len(REGIME_LABELS))
    winner = int(np.argmax(counts))
    share = counts[winner] / labelled.sum()
    return REGIME_LABELS[winner], float(np.clip(share * confidence[codes == winner].mean(), 0.0, 1.0))


def regime_kpis(
    returns: npt.NDArray[np.float64], codes: npt.NDArray[np.int8], bars_per_year: float
) -> dict[str, dict[str, float | int]]:
    """Per regime present in the window: bars, return_pct, sharpe and max_drawdown_pct of its bars."""
    result: dict[str, dict[str, float | int]] = {}
    for code, name in enumerate(REGIME_LABELS):
        picked = returns[codes == code]
        if picked.size == 0:
            continue
        curve = np.cumprod(1.0 + picked)
        peaks = np.maximum.accumulate(np.concatenate(([1.0], curve)))[1:]
        std = float(np.std(picked, ddof=1)) if picked.size > 1 else math.nan
        annual = math.sqrt(bars_per_year) if bars_per_year > 0 else math.nan
        result[name] = {
            "bars": int(picked.size),
            "return_pct": float(100.0 * (curve[-1] - 1.0)),
            "sharpe": float(picked.mean() / std * annual) if std > 0 else math.nan,
            "max_drawdown_pct": float(100.0 * np.max(1.0 - curve / peaks)),
        }
    return result


def downsample(values: npt.NDArray[np.float64], points: int = EQUITY_POINTS) -> list[float]:
    """At most ``points`` evenly spaced values, always keeping the first and the last."""
    if values.size <= points:
        return [float(v) for v in values]
    positions = np.unique(np.round(np.linspace(0, values.size - 1, points)).astype(np.int64))
    return [float(v) for v in values[positions]]
