"""An ensemble weights proposal for one symbol: new weights of its live strategies from the search bars.

**Expected returns** are a prior plus Grinold's adjustment (:mod:`optimizer._ensemble`): each strategy's mean
per-bar return over the search bars of the current regime (:func:`~optimizer._ensemble.expected_returns`; the
detector's label on the last search bar, all bars when that regime has too few), plus
``alpha = volatility × IC × score`` (:func:`~optimizer._ensemble.grinold_alpha`). The *recent information
coefficient* (:func:`recent_ic`) is the rank correlation between a strategy's mean return over a
``ic_lookback``-bar block and its mean over the next block, on the non-overlapping blocks of the last
``ic_bars`` search bars (does recent performance persist?); the score is how far the latest block's mean
lies from the blocks' mean, in their standard deviations (:func:`~optimizer._ensemble.recent_score`), and the
volatility is that standard deviation. So a strategy whose recent performance persists gains expected return
when it has lately done better than usual and loses some when it has lately done worse. The method, the
bounds and the turnover cap come from ``config/constants.py`` (``ENSEMBLE_METHOD``, ``ENSEMBLE_MIN_WEIGHT`` /
``ENSEMBLE_MAX_WEIGHT``, ``ENSEMBLE_MAX_TURNOVER``): the proposal moves at most the cap from the weights in
force. When no strategy has a positive expected return, max-Sharpe falls back to risk parity (a negative
Sharpe ratio is "maximised" by the most volatile mix).

Nothing here reads the holdout: the caller judges the proposal there (``tradeloop.loop.propose_weights``).

References
----------
.. [1] Grinold, R. C., Kahn, R. N. (2000). Active Portfolio Management, 2nd ed., McGraw-Hill, ch. 10.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import pandas as pd

from optimizer._ensemble import (
    EnsembleMethod,
    block_means,
    ensemble_weights,
    expected_returns,
    grinold_alpha,
    information_coefficient,
    recent_score,
)

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
    expected
        Expected per-bar return by strategy: the regime-conditional mean plus ``alpha``.
    ic, score, alpha
        By strategy: the recent information coefficient, Grinold's score of the latest ``ic_lookback``-bar
        block and the forecast ``alpha = volatility × IC × score`` (per bar; module docstring).
    """

    method: str
    before: Mapping[str, float]
    after: Mapping[str, float]
    target: Mapping[str, float]
    turnover: float
    regime: str | None
    expected: Mapping[str, float]
    ic: Mapping[str, float]
    score: Mapping[str, float]
    alpha: Mapping[str, float]

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
    """Rank IC of each ``lookback``-bar mean return against the next ``lookback`` bars' mean, on the
    non-overlapping blocks of the last ``bars`` bars (:func:`~optimizer._ensemble.block_means`): does a
    strategy's recent performance persist? 0 when it cannot be measured (fewer than 4 blocks)."""
    means = block_means(returns, bars=bars, lookback=lookback)
    value = information_coefficient(means.iloc[:-1].reset_index(drop=True),
                                    means.iloc[1:].reset_index(drop=True))  # fmt: skip
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
    blocks = {"bars": settings.ic_bars, "lookback": settings.ic_lookback}
    ic = {str(n): recent_ic(returns[n], **blocks) for n in returns}
    score = {str(n): recent_score(returns[n], **blocks) for n in returns}
    prior = expected_returns(returns, labels=labels, regime=regime, min_regime_bars=settings.min_regime_bars)
    alpha = grinold_alpha(returns, ic=ic, **blocks)
    mu = prior + alpha
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
        score, {str(n): float(v) for n, v in alpha.items()},
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
