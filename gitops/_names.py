"""Name patterns shared by both state files: strategies, symbols, regimes, parameters and timeframes.

The feature flags schema repeats ``ROLLOUT_KEY`` as a literal; a test keeps the two in step.
"""

from __future__ import annotations

import re

__all__ = [
    "PARAMETER",
    "REGIME",
    "REGIMES",
    "ROLLOUT_KEY",
    "STRATEGY",
    "SYMBOL",
    "TIMEFRAME",
    "matches",
    "rollout_key",
]

STRATEGY = r"[a-z][a-z0-9_]*"
SYMBOL = r"[A-Za-z0-9][A-Za-z0-9._-]*"
REGIME = r"[a-z][a-z0-9_]*"
PARAMETER = r"[a-z][a-z0-9_]*"
# The regime detector's labels (backtest_matrix.regimes.REGIME_LABELS, kept in step by a test): gitops
# reads them without loading the detector.
REGIMES = ("bull", "bear", "sideways", "high_vol")
TIMEFRAME = r"[1-9][0-9]*[mhdw]"
ROLLOUT_KEY = f"^{STRATEGY}/{SYMBOL}$"


def matches(pattern: str, value: object) -> bool:
    """Whether ``value`` is a string matching ``pattern`` in full."""
    return isinstance(value, str) and re.fullmatch(pattern, value) is not None


def rollout_key(strategy: str, symbol: str) -> str:
    """The ``feature_flags.json`` rollouts key of a strategy on a symbol: ``"<strategy>/<symbol>"``."""
    return f"{strategy}/{symbol}"
