"""The detector's regimes as a call: segments of a detection, stored in the warehouse, refreshed for every
live symbol.

:func:`refresh_regimes` is the deployment job's step: for every live symbol/timeframe it loads the symbol's
bars (its ``matrix.yaml`` source), runs the detector and stores the segments not stored yet, so that the
consumer contract (``tradeloop deploy plan``) reads the current regime, its confidence and any pending
switch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tradeloop._settings import Settings
from tradeloop.loop._common import load_source, matrix_path, pair_source

if TYPE_CHECKING:
    from backtest_matrix.regimes import RegimeDetection
    from warehouse import Warehouse

__all__ = ["RegimeRefresh", "detection_segments", "refresh_regimes", "store_segments"]


@dataclass(frozen=True)
class RegimeRefresh:
    """One symbol/timeframe refreshed: the latest regime and confidence, and the segments newly stored."""

    symbol: str
    timeframe: str
    regime: str | None
    confidence: float
    as_of: str
    stored: int

    def to_json(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol, "timeframe": self.timeframe, "regime": self.regime,
            "confidence": self.confidence, "as_of": self.as_of, "stored": self.stored,
        }  # fmt: skip


def detection_segments(detection: RegimeDetection) -> list[dict[str, Any]]:
    """Labelled segments (the warm-up is left out) with their mean features, oldest first."""
    import numpy as np
    import pandas as pd

    segments = detection.segments()
    features = detection.features
    starts = pd.DatetimeIndex(segments["start"])
    ends = pd.DatetimeIndex(segments["end"])
    regimes = segments["regime"].astype(object).tolist()
    rows: list[dict[str, Any]] = []
    for i, regime in enumerate(regimes):
        if not isinstance(regime, str):
            continue
        part = features.loc[starts[i] : ends[i]]
        strength = part["volume_strength"].to_numpy(np.float64)
        rows.append(
            {
                "start": starts[i].isoformat(),
                "end": ends[i].isoformat(),
                "bars": int(segments["bars"].iloc[i]),
                "regime": regime,
                "confidence": float(segments["mean_confidence"].iloc[i]),
                "momentum_pct_per_day": float(part["momentum"].mean()),
                "volatility_pct_per_day": float(part["volatility"].mean()),
                "volume_strength": float(np.nanmean(strength)) if np.isfinite(strength).any() else None,
            }
        )
    return rows


def store_segments(
    warehouse: Warehouse,
    segments: list[dict[str, Any]],
    symbol: str,
    timeframe: str,
    provenance: dict[str, str],
) -> tuple[str, int]:
    """Store the segments not stored yet (same symbol, timeframe, start, end and regime); return the count."""
    stored = warehouse.regime_history(symbol, timeframe)
    seen = {
        (row["window_start"].isoformat(), row["window_end"].isoformat(), row["regime"])
        for row in stored.to_dict("records")
    }
    new = [s for s in segments if (s["start"], s["end"], s["regime"]) not in seen]
    run_id = warehouse.start_run(
        "regime", git_sha=provenance["git_sha"], data_hash=provenance["data_hash"], notes=symbol
    )
    rows = [
        {
            "run_id": run_id,
            "symbol": symbol,
            "timeframe": timeframe,
            "window_start": s["start"],
            "window_end": s["end"],
            "regime": s["regime"],
            "confidence": min(max(s["confidence"], 0.0), 1.0),
            "momentum_pct_per_day": s["momentum_pct_per_day"],
            "volatility": s["volatility_pct_per_day"],
            "volume_strength": s["volume_strength"],
        }
        for s in new
    ]
    count = warehouse.add_regime_detections(rows)
    warehouse.finish_run(run_id, "ok", notes=f"{symbol} {timeframe}: {count} new segment(s)")
    return run_id, count


def refresh_regimes(settings: Settings, data: str | None = None) -> list[RegimeRefresh]:
    """Detect and store the regime of every live symbol/timeframe (``data`` overrides every source)."""
    from backtest_matrix.regimes import detect_regimes
    from gitops import load_constants
    from tradeloop import git_sha
    from warehouse import get_warehouse

    constants = load_constants(settings.constants_path)
    pairs = sorted(
        {
            (symbol, str(entry["timeframe"]))
            for symbols in constants.live_params.values()
            for symbol, entry in symbols.items()
        }
    )
    found = []
    with get_warehouse(settings.warehouse_url) as warehouse:
        for symbol, timeframe in pairs:
            loaded = load_source(
                settings, pair_source(constants, symbol, data, matrix_path(settings)), timeframe
            )
            detection = detect_regimes(loaded.bars)
            provenance = {"git_sha": git_sha(settings.repo), "data_hash": loaded.data_hash}
            _, stored = store_segments(
                warehouse, detection_segments(detection), symbol, loaded.timeframe, provenance
            )
            last = detection.labels.iloc[-1]
            found.append(
                RegimeRefresh(
                    symbol,
                    loaded.timeframe,
                    last if isinstance(last, str) else None,
                    float(detection.confidence.iloc[-1]),
                    loaded.bars.index[-1].isoformat(),
                    stored,
                )
            )
    return found
