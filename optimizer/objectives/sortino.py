"""``sortino``: the engine's annualised Sortino ratio (downside deviation over all bars; maximise)."""

from __future__ import annotations

from optimizer.objectives._base import Objective, register

OBJECTIVE = register(
    Objective("sortino", "maximize", lambda k: k["sortino"], ("sortino",), "annualised Sortino ratio")
)
