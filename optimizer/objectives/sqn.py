"""``sqn``: Van Tharp's System Quality Number, √min(N, 100) × mean / std of the per-trade returns.

The engine's KPIs carry the trade count N, the win rate p, the mean winning return W, the mean losing
return L and the expectancy E = p·W + (1 − p)·L, but not the per-trade standard deviation. It is taken from
the two-point distribution that puts every win at W and every loss at L::

    σ² = p (1 − p) (W − L)²        (population variance of that distribution)

This is the between-group part of the true variance; the spread of wins among themselves and of losses
among themselves is ignored, so σ is a lower bound and, for a positive expectancy, this SQN is an upper
bound of the SQN computed from the trade list (a test checks this on real trades). It is cheap enough to
rank 250,000 sweep rows; use the trade list of a single backtest where the exact figure matters. N is
capped at 100 as Tharp recommends, so that long histories do not win on trade count alone.

References
----------
Van K. Tharp, *The Definitive Guide to Position Sizing*, IITM, 2008, ch. 2 (System Quality Number).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from optimizer.objectives._base import Objective, register

TRADE_CAP = 100


def two_point_sqn(kpis: Mapping[str, np.ndarray]) -> np.ndarray:
    trades = kpis["trades"]
    win = kpis["win_rate_pct"] / 100.0
    spread = kpis["avg_win_pct"] - kpis["avg_loss_pct"]
    std = np.sqrt(win * (1.0 - win)) * np.abs(spread)
    sqn = np.sqrt(np.minimum(trades, TRADE_CAP)) * kpis["expectancy_pct"] / std
    return np.where((trades >= 2) & (std > 0), sqn, np.nan)


OBJECTIVE = register(
    Objective(
        "sqn",
        "maximize",
        two_point_sqn,
        ("trades", "win_rate_pct", "avg_win_pct", "avg_loss_pct", "expectancy_pct"),
        "System Quality Number, two-point per-trade std",
    )
)
