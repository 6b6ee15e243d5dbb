"""An ensemble weights proposal for one symbol: new weights of its live strategies from the search bars.

**Expected returns** blend the two sources of :func:`~optimizer._ensemble.expected_returns` with equal
weight: each strategy's mean per-bar return over the search bars of the current regime (the detector's
label on the last search bar; all bars when that regime has too few), and Grinold's ``IC × volatility``
with the *recent information coefficient* of :func:`recent_ic`, the rank correlation between a strategy's
mean return over ``ic_lookback`` bars and its mean over the next ``ic_lookback`` bars, on the last
``ic_bars`` search bars (does recent performance persist?). The method, the bounds and the turnover cap
come from ``config/constants.py`` (``ENSEMBLE_METHOD``, ``ENSEMBLE_MIN_WEIGHT`` / ``ENSEMBLE_MAX_WEIGHT``,
``ENSEMBLE_MAX_TURNOVER``): the proposal moves at most the cap from the weights in force. When no strategy
has a positive expected return, max-Sharpe falls back to risk parity (a negative Sharpe ratio is
"maximised" by the most volatile mix).

Nothing here reads the holdout: the caller judges the proposal there (``tradeloop.loop.propose_weights``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from optimizer._ensemble import EnsembleMethod, ensemble_weights, expected_returns, information_coefficient

__all__ = ["EnsembleSettings", "EnsembleTarget", "ensemble_target", "recent_ic"]

_DIGITS = 4


@dataclass(frozen=True)
class EnsembleSettings:
    """The ensemble constants of ``config/constants.py`` and the lengths the expected returns use."""

    method: EnsembleMethod = "max_sharpe"
    min_weight: float = 0.05
    max_weight: float = 0.40
    max_turnover: float = 0.20
    ic_bars: int = 1000
    ic_lookback: int = 20
    min_regime_bars: int = 30


@dataclass(frozen=True)
class EnsembleTarget:
    """The weights proposed for one symbol's live strategies, from the search bars only.

    Attributes
    ----------
    before, after
        Weights in force and proposed (strategy → share, each summing to 1).
    target
        The uncapped optimum; ``after`` is the step towards it that ``max_turnover`` allows.
    turnover
        ``½ Σ |after − before|``.
    regime
        The regime the expected returns were conditioned on (``None`` without a label).
    expected, ic
        Expected per-bar return and recent information coefficient by strategy.
    """

    method: str
    before: Mapping[str, float]
    after: Mapping[str, float]
    target: Mapping[str, float]
    turnover: float
    regime: str | None
    expected: Mapping[str, float]
    ic: Mapping[str, float]

    @property
    def changed(self) -> bool:
        return any(abs(self.after[name] - self.before.get(name, 0.0)) > 1e-9 for name in self.after)

    def to_dict(self) -> dict[str, Any]:
        return {
            key: (dict(value) if isinstance(value, Mapping) else value) for key, value in asdict(self).items()
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n"


def recent_ic(returns: pd.Series, *, bars: int, lookback: int) -> float:
    """Rank IC of each ``lookback``-bar mean return against the next ``lookback`` bars' mean, on
    non-overlapping blocks of the last ``bars`` bars: does a strategy's recent performance persist?"""
    block_means = returns.iloc[-bars:].groupby(np.arange(min(bars, len(returns))) // lookback).mean()
    value = information_coefficient(block_means.iloc[:-1].reset_index(drop=True),
                                    block_means.iloc[1:].reset_index(drop=True))  # fmt: skip
    return 0.0 if math.isnan(value) else value


def ensemble_target(
    returns: pd.DataFrame,
    labels: pd.Series | None,
    before: Mapping[str, float],
    settings: EnsembleSettings,
) -> EnsembleTarget:
    """The bounded, turnover-capped weights for the strategies in the columns of ``returns`` (search bars).

    Raises
    ------
    tradeloop.errors.OptimizerError
        The bounds cannot hold for this many strategies (the message says how many they allow).
    """
    last = labels.iloc[-1] if labels is not None and len(labels) else None
    regime = last if isinstance(last, str) else None
    ic = {
        str(n): recent_ic(returns[n], bars=settings.ic_bars, lookback=settings.ic_lookback) for n in returns
    }
    conditional = expected_returns(
        returns, labels=labels, regime=regime, min_regime_bars=settings.min_regime_bars
    )
    grinold = expected_returns(
        returns, labels=labels, regime=regime, ic=ic, min_regime_bars=settings.min_regime_bars
    )
    mu = 0.5 * conditional + 0.5 * grinold
    method = settings.method
    if method == "max_sharpe" and not (mu > 0).any():
        # With no positive expected return, maximising a negative Sharpe ratio favours the most volatile
        # strategies; spreading the risk is the sane answer.
        method = "risk_parity"
    # A hair under the cap, so that the weights rounded to 4 decimals stay within it.
    cap = max(settings.max_turnover - len(before) * 10.0**-_DIGITS, 0.0)
    found = ensemble_weights(
        returns, method, mu=mu, min_weight=settings.min_weight, max_weight=settings.max_weight,
        current=before, max_turnover=cap,
    )  # fmt: skip
    after = _rounded(found.weights, settings)
    return EnsembleTarget(
        method, dict(before), after, _rounded(found.target, settings),
        round(_turnover(before, after), _DIGITS), regime, {str(n): float(v) for n, v in mu.items()}, ic,
    )  # fmt: skip


def _turnover(before: Mapping[str, float], after: Mapping[str, float]) -> float:
    return 0.5 * sum(abs(after[name] - before.get(name, 0.0)) for name in after)


def _rounded(weights: Mapping[str, float], settings: EnsembleSettings) -> dict[str, float]:
    """Weights at 4 decimals that still sum to 1 within their bounds (the weight with the most room in the
    needed direction absorbs the rounding)."""
    rounded = {name: round(float(value), _DIGITS) for name, value in weights.items()}
    residual = round(1.0 - sum(rounded.values()), _DIGITS)
    if residual:

        def room(name: str) -> float:
            value = rounded[name]
            return settings.max_weight - value if residual > 0 else value - settings.min_weight

        roomiest = max(rounded, key=room)
        rounded[roomiest] = round(rounded[roomiest] + residual, _DIGITS)
    return rounded
