"""``return_dd``: total return in % minus ``DRAWDOWN_PENALTY`` × the maximum drawdown in % (maximise).

With a penalty of 2, a strategy that made 30 % with a 10 % drawdown scores 10, one that made 20 % with a
4 % drawdown scores 12: a point of drawdown costs two points of return.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from optimizer.objectives._base import Objective, register

DRAWDOWN_PENALTY = 2.0


def return_with_drawdown_penalty(kpis: Mapping[str, np.ndarray]) -> np.ndarray:
    return kpis["return_pct"] - DRAWDOWN_PENALTY * kpis["max_drawdown_pct"]


OBJECTIVE = register(
    Objective(
        "return_dd",
        "maximize",
        return_with_drawdown_penalty,
        ("return_pct", "max_drawdown_pct"),
        f"return_pct - {DRAWDOWN_PENALTY:g} x max_drawdown_pct",
    )
)
