"""``sharpe``: the engine's annualised Sharpe ratio of per-bar equity returns (maximise)."""

from __future__ import annotations

from optimizer.objectives._base import Objective, register

OBJECTIVE = register(
    Objective("sharpe", "maximize", lambda k: k["sharpe"], ("sharpe",), "annualised Sharpe ratio")
)
