"""Per-bar market regimes (``bull``, ``bear``, ``sideways``, ``high_vol``) with hysteresis.

Rule, per bar, from the trailing features of :func:`~backtest_matrix.regimes._features.compute_features`:

1. ``high_vol`` when the volatility (% per day) is above ``high_vol_threshold``; it takes precedence;
2. otherwise ``bull`` when the momentum (% per day) is above ``bull_threshold_pct_per_day``, ``bear`` when it
   is below ``bear_threshold_pct_per_day``, ``sideways`` in between (thresholds included).

**Hysteresis.** The raw rule's label is adopted only once it has held for ``min_dwell_bars`` consecutive
bars; until then the previous adopted regime stays in force. The first bar after the warm-up adopts its raw
label at once. ``min_dwell_bars=1`` turns hysteresis off. Everything is causal: the label and confidence of
bar ``t`` depend on bars ``<= t`` only.

**Confidence** in [0, 1] of the adopted label at each bar: the margin of the features inside that label's
region, scaled, times a volume factor. With ``g`` half the gap between the momentum thresholds, the margins
are ``bull`` ``(m - bull) / g``; ``bear`` ``(bear - m) / g``; ``sideways`` the distance to the nearer
momentum threshold over ``g``; the non-``high_vol`` labels also take the minimum with
``(v_max - v) / v_max``; ``high_vol`` ``(v - v_max) / v_max``. A margin is clipped to [0, 1] (a bar that
the adopted label does not fit, during hysteresis, has confidence 0). The volume factor is
``1 + 0.5 (min(s, 2) - 1)`` in [0.5, 1.5] for volume strength ``s``: heavy volume confirms a regime, thin
volume weakens it; the product is clipped to [0, 1].
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
from numba import njit

from backtest_matrix.regimes._features import FeatureWindows, compute_features
from tradeloop.errors import DataError

__all__ = [
    "REGIME_LABELS",
    "RegimeConfig",
    "RegimeDetection",
    "classify_window",
    "detect_regimes",
    "hysteresis_nb",
    "hysteresis_py",
]

REGIME_LABELS: tuple[str, ...] = ("bull", "bear", "sideways", "high_vol")
BULL, BEAR, SIDEWAYS, HIGH_VOL = range(4)
NO_LABEL = -1
VOLUME_WEIGHT = 0.5
VOLUME_CAP = 2.0


@dataclass(frozen=True)
class RegimeConfig:
    """Settings of :func:`detect_regimes`; validated on construction (:class:`~tradeloop.errors.DataError`).

    Attributes
    ----------
    momentum_days
        Momentum window in days (> 0).
    bull_threshold_pct_per_day, bear_threshold_pct_per_day
        Momentum (% per day) above which a bar is ``bull`` and below which it is ``bear``; bull > bear.
    volatility_days
        Volatility window in days (> 0; at least 2 bars).
    high_vol_threshold
        Volatility in **% per day** (std of bar log returns × sqrt(bars per day) × 100) above which a bar is
        ``high_vol``. The default 5 %/day is about 95 % annualised over 365 days (5 × sqrt(365)).
    volume_days
        Trailing window in days of the mean volume that volume strength divides by (> 0).
    min_dwell_bars
        Consecutive bars a new raw label must hold before it is adopted (>= 1; 1 = no hysteresis). None
        means one day of bars (``round(bars per day)``, at least 1).
    """

    momentum_days: float = 7.0
    bull_threshold_pct_per_day: float = 1.0
    bear_threshold_pct_per_day: float = -1.0
    volatility_days: float = 20.0
    high_vol_threshold: float = 5.0
    volume_days: float = 20.0
    min_dwell_bars: int | None = None

    def __post_init__(self) -> None:
        for name in ("momentum_days", "volatility_days", "volume_days", "high_vol_threshold"):
            _require_positive(name, getattr(self, name))
        for name in ("bull_threshold_pct_per_day", "bear_threshold_pct_per_day"):
            _require_finite(name, getattr(self, name))
        if not self.bull_threshold_pct_per_day > self.bear_threshold_pct_per_day:
            raise DataError(
                f"RegimeConfig: bull_threshold_pct_per_day={self.bull_threshold_pct_per_day} is not above "
                f"bear_threshold_pct_per_day={self.bear_threshold_pct_per_day}; make bull > bear "
                "(defaults 1.0 and -1.0)"
            )
        dwell = self.min_dwell_bars
        if dwell is not None and (
            isinstance(dwell, bool) or not isinstance(dwell, int | np.integer) or dwell < 1
        ):
            raise DataError(
                f"RegimeConfig: min_dwell_bars={dwell!r} is not an integer >= 1; use None (one day of bars), "
                "1 (no hysteresis) or more"
            )


def _require_finite(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise DataError(f"RegimeConfig: {name}={value!r} is not a finite number; pass a float")


def _require_positive(name: str, value: object) -> None:
    _require_finite(name, value)
    assert isinstance(value, int | float)
    if not value > 0:
        raise DataError(f"RegimeConfig: {name}={value!r} must be > 0; pass a positive number")


@dataclass(frozen=True)
class RegimeDetection:
    """The result of :func:`detect_regimes`.

    Attributes
    ----------
    labels
        Categorical series (categories :data:`REGIME_LABELS`) on the bars' index, after hysteresis; missing
        (NaN) during the warm-up.
    confidence
        Float series in [0, 1] on the bars' index; NaN during the warm-up.
    raw_labels
        The labels before hysteresis (same form as ``labels``).
    features
        The per-bar ``momentum``, ``volatility`` and ``volume_strength`` (see ``compute_features``).
    config
        The configuration used.
    windows
        Bars per day and the window lengths in bars; ``windows.warmup`` is the count of unlabelled bars.
    min_dwell_bars
        The hysteresis length actually used (``config.min_dwell_bars`` or one day of bars).
    """

    labels: pd.Series
    confidence: pd.Series
    raw_labels: pd.Series
    features: pd.DataFrame
    config: RegimeConfig
    windows: FeatureWindows
    min_dwell_bars: int

    def segments(self) -> pd.DataFrame:
        """Runs of equal consecutive labels, covering every bar of the index exactly once.

        Returns
        -------
        pandas.DataFrame
            One row per run, in time order, with columns ``start`` and ``end`` (first and last timestamp,
            both included), ``bars`` (count), ``regime`` (categorical; missing for the warm-up run) and
            ``mean_confidence`` (NaN for the warm-up run).
        """
        codes = self.labels.cat.codes.to_numpy()
        index = self.labels.index
        if len(codes) == 0:
            starts = np.array([], dtype=np.int64)
        else:
            starts = np.flatnonzero(np.concatenate(([True], codes[1:] != codes[:-1])))
        ends = np.append(starts[1:], len(codes)) - 1
        sums = np.add.reduceat(np.nan_to_num(self.confidence.to_numpy()), starts) if len(starts) else starts
        counts = ends - starts + 1
        mean_confidence = np.where(codes[starts] >= 0, sums / np.maximum(counts, 1), np.nan)
        regime = pd.Categorical.from_codes(codes[starts], categories=pd.Index(REGIME_LABELS))
        return pd.DataFrame(
            {
                "start": index[starts],
                "end": index[ends],
                "bars": counts.astype(np.int64),
                "regime": regime,
                "mean_confidence": mean_confidence.astype(np.float64),
            }
        )


def detect_regimes(bars: pd.DataFrame, config: RegimeConfig | None = None) -> RegimeDetection:
    """Label every bar as ``bull``, ``bear``, ``sideways`` or ``high_vol`` (see the module docstring).

    Parameters
    ----------
    bars
        Bars with a sorted DatetimeIndex and the columns ``open high low close volume``.
    config
        Thresholds and windows; default :class:`RegimeConfig()`.

    Returns
    -------
    RegimeDetection
        Labels, confidence, raw labels, features and segments.

    Raises
    ------
    DataError
        On malformed bars, windows shorter than their minimum in bars, or fewer bars than the warm-up + 1.
    """
    config = RegimeConfig() if config is None else config
    if not isinstance(config, RegimeConfig):
        raise DataError(f"regimes: config is a {type(config).__name__}; pass a RegimeConfig")
    features, windows = compute_features(
        bars, config.momentum_days, config.volatility_days, config.volume_days
    )
    momentum = features["momentum"].to_numpy()
    volatility = features["volatility"].to_numpy()
    raw = _raw_codes(momentum, volatility, config)
    dwell = (
        config.min_dwell_bars if config.min_dwell_bars is not None else max(1, round(windows.bars_per_day))
    )
    adopted = hysteresis_nb(raw, dwell)
    confidence = _confidence(adopted, features, config)
    return RegimeDetection(
        labels=_categorical(adopted, bars.index),
        confidence=pd.Series(confidence, index=bars.index, name="confidence"),
        raw_labels=_categorical(raw, bars.index),
        features=features,
        config=config,
        windows=windows,
        min_dwell_bars=int(dwell),
    )


def classify_window(
    bars: pd.DataFrame,
    config: RegimeConfig | None = None,
    *,
    method: Literal["majority", "last"] = "majority",
) -> tuple[str, float]:
    """One regime and confidence for a whole window of bars.

    Parameters
    ----------
    bars
        The window (it must be longer than the warm-up: bars before it are not used).
    config
        As for :func:`detect_regimes`.
    method
        ``"majority"`` (default): the most frequent label among the labelled bars (ties go to the earlier
        label of :data:`REGIME_LABELS`); confidence = its share of labelled bars × the mean confidence of its
        bars. ``"last"``: the label and confidence of the last bar (the regime in force at the window's end).

    Returns
    -------
    tuple[str, float]
        The regime name and a confidence in [0, 1].
    """
    if method not in ("majority", "last"):
        raise DataError(f"classify_window: method={method!r} is unknown; use 'majority' or 'last'")
    detection = detect_regimes(bars, config)
    codes = detection.labels.cat.codes.to_numpy()
    confidence = detection.confidence.to_numpy()
    if method == "last":
        return REGIME_LABELS[int(codes[-1])], float(confidence[-1])
    labelled = codes >= 0
    counts = np.bincount(codes[labelled], minlength=len(REGIME_LABELS))
    winner = int(np.argmax(counts))
    chosen = codes == winner
    share = counts[winner] / labelled.sum()
    return REGIME_LABELS[winner], float(np.clip(share * confidence[chosen].mean(), 0.0, 1.0))


def _categorical(codes: npt.NDArray[np.int8], index: pd.Index) -> pd.Series:
    labels = pd.Categorical.from_codes(codes.astype(np.int64), categories=pd.Index(REGIME_LABELS))
    return pd.Series(labels, index=index, name="regime")


def _raw_codes(
    momentum: npt.NDArray[np.float64], volatility: npt.NDArray[np.float64], config: RegimeConfig
) -> npt.NDArray[np.int8]:
    """The per-bar label before hysteresis; ``NO_LABEL`` where a feature is missing."""
    codes = np.full(len(momentum), SIDEWAYS, dtype=np.int8)
    codes[momentum > config.bull_threshold_pct_per_day] = BULL
    codes[momentum < config.bear_threshold_pct_per_day] = BEAR
    codes[volatility > config.high_vol_threshold] = HIGH_VOL
    codes[np.isnan(momentum) | np.isnan(volatility)] = NO_LABEL
    return codes


def _confidence(
    adopted: npt.NDArray[np.int8], features: pd.DataFrame, config: RegimeConfig
) -> npt.NDArray[np.float64]:
    m = features["momentum"].to_numpy()
    v = features["volatility"].to_numpy()
    strength = features["volume_strength"].to_numpy()
    bull, bear, v_max = (
        config.bull_threshold_pct_per_day,
        config.bear_threshold_pct_per_day,
        config.high_vol_threshold,
    )
    calm = (v_max - v) / v_max
    half_gap = (bull - bear) / 2.0
    margins = np.stack(
        [
            np.minimum((m - bull) / half_gap, calm),
            np.minimum((bear - m) / half_gap, calm),
            np.minimum(np.minimum(bull - m, m - bear) / half_gap, calm),
            (v - v_max) / v_max,
        ]
    )
    picked = np.take_along_axis(margins, np.maximum(adopted, 0)[None, :].astype(np.intp), axis=0)[0]
    factor = 1.0 + VOLUME_WEIGHT * (np.minimum(strength, VOLUME_CAP) - 1.0)
    confidence: npt.NDArray[np.float64] = np.clip(np.clip(picked, 0.0, 1.0) * factor, 0.0, 1.0)
    confidence[adopted < 0] = np.nan
    return confidence


@njit(cache=True)
def hysteresis_nb(raw: npt.NDArray[np.int8], min_dwell: int) -> npt.NDArray[np.int8]:  # pragma: no cover
    """Adopt a raw label after ``min_dwell`` consecutive bars of it (numba twin of :func:`hysteresis_py`)."""
    out = np.empty(raw.shape[0], dtype=np.int8)
    current = -1
    candidate = -1
    run = 0
    for t in range(raw.shape[0]):
        label = raw[t]
        if label < 0:
            out[t] = -1
            candidate = -1
            run = 0
            continue
        if current < 0 or label == current:
            current = label
            candidate = -1
            run = 0
        else:
            if label == candidate:
                run += 1
            else:
                candidate = label
                run = 1
            if run >= min_dwell:
                current = label
                candidate = -1
                run = 0
        out[t] = current
    return out


def hysteresis_py(raw: npt.NDArray[np.int8], min_dwell: int) -> npt.NDArray[np.int8]:
    """Plain-Python twin of :func:`hysteresis_nb` (the reference its tests compare against).

    ``raw`` holds label codes (``-1`` = unlabelled). An unlabelled bar stays unlabelled. The first labelled
    bar adopts its label at once; after that a different label is adopted on the ``min_dwell``-th
    consecutive bar that carries it, and any interruption restarts its count.
    """
    out: list[int] = []
    current, candidate, run = -1, -1, 0
    for label in raw.tolist():
        if label < 0:
            out.append(-1)
            candidate, run = -1, 0
            continue
        if current < 0 or label == current:
            current, candidate, run = label, -1, 0
        else:
            run = run + 1 if label == candidate else 1
            candidate = label
            if run >= min_dwell:
                current, candidate, run = label, -1, 0
        out.append(current)
    return np.array(out, dtype=np.int8)
