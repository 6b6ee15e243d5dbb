"""Market regime detection: per-bar ``bull``/``bear``/``sideways``/``high_vol`` labels from trailing
momentum, volatility and volume strength, with hysteresis, behind :func:`detect_regimes`."""

from __future__ import annotations

from backtest_matrix.regimes._detector import (
    REGIME_LABELS,
    RegimeConfig,
    RegimeDetection,
    classify_window,
    detect_regimes,
    hysteresis_nb,
    hysteresis_py,
)
from backtest_matrix.regimes._features import FeatureWindows, bars_per_day, compute_features

__all__ = [
    "REGIME_LABELS",
    "FeatureWindows",
    "RegimeConfig",
    "RegimeDetection",
    "bars_per_day",
    "classify_window",
    "compute_features",
    "detect_regimes",
    "hysteresis_nb",
    "hysteresis_py",
]
