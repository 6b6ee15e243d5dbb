"""The regime a pair trades in: the detector's stored segments, read with a switching rule.

``tradeloop regime detect --store`` keeps the detector's segments (runs of one label, after its own
hysteresis) with their mean confidence. A loadout takes over only when its regime is confirmed: the
segment's mean confidence is at least ``REGIME_SWITCH_MIN_CONFIDENCE`` and it has lasted at least
``REGIME_SWITCH_MIN_DWELL_BARS`` bars (its span in the pair's timeframe, both ends included: on a market that
closes, closed days count, so the dwell is a span of time). Until then the previous regime stays *in force*
and the switch is *pending*. The first stored segment is in force as read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

__all__ = ["PendingSwitch", "RegimeState", "regime_state", "timeframe_delta"]


@dataclass(frozen=True)
class PendingSwitch:
    """A regime the detector reports now but that is not confirmed yet."""

    regime: str
    confidence: float
    bars: int
    bars_needed: int
    min_confidence: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "regime": self.regime,
            "confidence": round(self.confidence, 4),
            "bars": self.bars,
            "bars_needed": self.bars_needed,
            "min_confidence": self.min_confidence,
        }


@dataclass(frozen=True)
class RegimeState:
    """The regime in force for a symbol/timeframe, the detector's latest reading, and a pending switch.

    Attributes
    ----------
    regime
        The regime in force (its loadout, if any, is what the bot runs).
    confidence
        The mean detector confidence of the regime's latest stored segment.
    since
        When the segment that put it in force started.
    detected
        The detector's latest label (differs from ``regime`` while a switch is pending).
    detected_at
        The end of the latest stored segment: how fresh the reading is.
    pending
        The switch waiting for confirmation, or ``None``.
    """

    regime: str
    confidence: float
    since: datetime
    detected: str
    detected_at: datetime
    pending: PendingSwitch | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "regime": self.regime,
            "confidence": round(self.confidence, 4),
            "since": self.since.isoformat(),
            "detected": self.detected,
            "detected_at": self.detected_at.isoformat(),
            "pending": None if self.pending is None else self.pending.to_dict(),
        }


def timeframe_delta(timeframe: str) -> pd.Timedelta:
    """``'15m'`` → 15 minutes, ``'1h'``, ``'1d'``, ``'1w'``."""
    minutes = {"m": 1, "h": 60, "d": 24 * 60, "w": 7 * 24 * 60}[timeframe[-1]]
    return pd.Timedelta(minutes=int(timeframe[:-1]) * minutes)


def regime_state(
    detections: pd.DataFrame, timeframe: str, *, min_confidence: float, min_dwell_bars: int
) -> RegimeState | None:
    """The regime in force after the stored ``detections`` (``Warehouse.regime_history``), or ``None``
    when nothing is stored."""
    if detections.empty:
        return None
    step = timeframe_delta(timeframe)
    rows: list[dict[str, Any]] = [
        {str(key): value for key, value in row.items()}
        for row in detections.sort_values(["window_end", "window_start"]).to_dict("records")
    ]
    in_force = rows[0]
    for row in rows[1:]:
        if row["regime"] != in_force["regime"] and _confirmed(row, step, min_confidence, min_dwell_bars):
            in_force = row
        elif row["regime"] == in_force["regime"]:
            in_force = {**row, "window_start": in_force["window_start"]}
    latest = rows[-1]
    pending = None
    if latest["regime"] != in_force["regime"]:
        pending = PendingSwitch(
            str(latest["regime"]), float(latest["confidence"]), _bars(latest, step), min_dwell_bars,
            min_confidence,
        )  # fmt: skip
    return RegimeState(
        str(in_force["regime"]), float(in_force["confidence"]), _when(in_force["window_start"]),
        str(latest["regime"]), _when(latest["window_end"]), pending,
    )  # fmt: skip


def _bars(row: dict[str, Any], step: pd.Timedelta) -> int:
    span = pd.Timestamp(row["window_end"]) - pd.Timestamp(row["window_start"])
    return int(span // step) + 1


def _confirmed(row: dict[str, Any], step: pd.Timedelta, min_confidence: float, min_dwell: int) -> bool:
    return float(row["confidence"]) >= min_confidence and _bars(row, step) >= min_dwell


def _when(value: Any) -> datetime:
    stamp = pd.Timestamp(value)
    return (stamp if stamp.tzinfo else stamp.tz_localize("UTC")).to_pydatetime()
