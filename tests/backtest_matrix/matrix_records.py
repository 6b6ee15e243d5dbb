"""Realistic matrix result records (contract 1): real backtests on seeded synthetic bars, for merge tests."""

from __future__ import annotations

from functools import cache
from typing import Any

import numpy as np
import pandas as pd

from backtest_matrix.data import generate_synthetic
from backtest_matrix.engine import backtest, periods_per_year
from backtest_matrix.matrix import cell_hash, regime_kpis
from backtest_matrix.regimes import REGIME_LABELS, detect_regimes
from backtest_matrix.strategies import get_strategy
from tradeloop import data_hash

ENGINE = "test-engine"
WINDOW_DAYS = {"90d": 90, "full": None}


@cache
def _bars(seed: int, days: int) -> tuple[pd.DataFrame, np.ndarray]:
    bars = generate_synthetic(timeframe="1d", days=days, seed=seed).bars
    codes = detect_regimes(bars).labels.cat.codes.to_numpy()
    return bars, codes


@cache
def _run(strategy: str, params_json: str, seed: int, days: int, window: str) -> dict[str, Any]:
    import json

    bars, codes = _bars(seed, days)
    size = WINDOW_DAYS[window]
    start = 0 if size is None else len(bars) - size
    result = backtest(bars.iloc[start:], strategy, json.loads(params_json))
    returns = result.returns.to_numpy(np.float64)
    ts = pd.DatetimeIndex(bars.index[start:]).as_unit("ns").asi8
    window_codes = codes[start:]
    labelled = window_codes[window_codes >= 0]
    regime = REGIME_LABELS[int(np.bincount(labelled).argmax())] if labelled.size else None
    equity = result.equity.to_numpy(np.float64)
    picks = np.unique(np.round(np.linspace(0, equity.size - 1, min(120, equity.size))).astype(int))
    return {
        "params": result.params,
        "kpis": dict(result.kpis),
        "regime_kpis": regime_kpis(returns, window_codes, periods_per_year(ts)),
        "regime": regime,
        "equity": [float(v) for v in equity[picks]],
        "window_start": bars.index[start].isoformat(),
        "window_end": bars.index[-1].isoformat(),
        "bars": len(bars) - start,
        "data_hash": data_hash(bars),
    }


def make_record(
    *,
    strategy: str = "ema_cross",
    symbol: str = "BTC",
    window: str = "90d",
    param_set: str = "live",
    params: dict[str, float] | None = None,
    run_id: str = "20240101T000000Z-night000",
    seed: int = 3,
    days: int = 400,
    status: str = "ok",
    error: str | None = None,
    shard: str = "1/1",
) -> dict[str, Any]:
    """One contract-1 record: a real backtest of ``strategy`` on a synthetic daily series of ``days`` days."""
    import json

    resolved = get_strategy(strategy).resolve(params or {})
    run = _run(strategy, json.dumps(resolved, sort_keys=True), seed, days, window)
    key = cell_hash(
        strategy=strategy, symbol=symbol, timeframe="1d", window=window, params=run["params"],
        data_hash=run["data_hash"], engine_version=ENGINE,
    )  # fmt: skip
    record: dict[str, Any] = {
        "cell_hash": key,
        "run_id": run_id,
        "git_sha": "abc1234",
        "config_hash": "cfg0",
        "data_hash": run["data_hash"],
        "engine_version": ENGINE,
        "strategy": strategy,
        "symbol": symbol,
        "timeframe": "1d",
        "window": window,
        "source": "synthetic",
        "param_set": param_set,
        "params": run["params"],
        "seed": 7,
        "window_start": run["window_start"],
        "window_end": run["window_end"],
        "bars": run["bars"],
        "regime": run["regime"],
        "regime_confidence": 0.6,
        "kpis": run["kpis"],
        "regime_kpis": run["regime_kpis"],
        "status": "ok",
        "error": None,
        "elapsed_s": 0.01,
        "shard": shard,
    }
    if param_set in ("live", "base"):
        record["equity"] = run["equity"]
    if status != "ok":
        record.update(status=status, error=error or "killed after 60 s timeout", kpis={}, regime_kpis={})
        record.pop("equity", None)
    return record


def matrix_records(run_id: str = "20240101T000000Z-night000", days: int = 400) -> list[dict[str, Any]]:
    """A small matrix: 2 strategies × 2 symbols × 2 windows × (live, n01), all ``ok``."""
    records = []
    for strategy, tweak in (("ema_cross", {"ema_fast": 14.0}), ("rsi_reversion", {"rsi_period": 16.0})):
        for symbol, seed in (("BTC", 3), ("ETH", 4)):
            for window in ("90d", "full"):
                for param_set, params in (("live", {}), ("n01", tweak)):
                    records.append(make_record(strategy=strategy, symbol=symbol, window=window,
                                               param_set=param_set, params=params, run_id=run_id,
                                               seed=seed, days=days))  # fmt: skip
    return records
