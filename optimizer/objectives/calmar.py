"""``calmar``: CAGR in % over the maximum drawdown in % (the engine's ``calmar`` KPI; maximise)."""

from __future__ import annotations

from optimizer.objectives._base import Objective, register

OBJECTIVE = register(
    Objective("calmar", "maximize", lambda k: k["calmar"], ("calmar",), "CAGR / max drawdown")
)
