"""The objective interface and its registry: a name, a direction and a vectorised function of KPIs."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd

from tradeloop.errors import OptimizerError

__all__ = ["Direction", "KpiColumns", "Objective", "get_objective", "objective_names", "register"]

Direction = Literal["maximize", "minimize"]
#: KPI name -> one value per combination (a sweep's KPI columns) or a single value.
KpiColumns = Mapping[str, Any]

_REGISTRY: dict[str, Objective] = {}


@dataclass(frozen=True)
class Objective:
    """A scalar figure of merit computed from the engine's KPIs.

    Attributes
    ----------
    name
        The key used on the CLI (``--objective``) and in outputs.
    direction
        ``maximize`` or ``minimize``.
    formula
        Vectorised: KPI columns (float arrays) to one value per row; NaN where undefined.
    needs
        The KPI names ``formula`` reads.
    """

    name: str
    direction: Direction
    formula: Callable[[Mapping[str, np.ndarray]], np.ndarray]
    needs: tuple[str, ...]
    description: str = ""

    def from_kpis(self, kpis: KpiColumns | pd.DataFrame) -> Any:
        """The objective of each KPI row (array in, array out; a dict of scalars gives a float).

        Non-finite results (no trades, zero variance) come back as NaN, which ranks last.
        """
        missing = [name for name in self.needs if name not in kpis]
        if missing:
            raise OptimizerError(
                f"objective {self.name}: KPI {missing[0]!r} is missing from the KPIs given "
                f"(have {sorted(map(str, kpis.keys()))}); pass the engine's KPI columns"
            )
        scalar = not isinstance(kpis, pd.DataFrame) and np.ndim(kpis[self.needs[0]]) == 0
        columns = {name: np.atleast_1d(np.asarray(kpis[name], dtype=np.float64)) for name in self.needs}
        with np.errstate(divide="ignore", invalid="ignore"):
            values = np.asarray(self.formula(columns), dtype=np.float64)
        values = np.where(np.isfinite(values), values, np.nan)
        return float(values[0]) if scalar else values

    def better(self, a: float, b: float) -> bool:
        """Whether ``a`` beats ``b`` in this objective's direction (NaN never beats anything)."""
        if np.isnan(a):
            return False
        if np.isnan(b):
            return True
        return a > b if self.direction == "maximize" else a < b

    def rank_key(self, values: np.ndarray) -> np.ndarray:
        """Sort key, ascending = best first, NaN last."""
        key = -values if self.direction == "maximize" else values.copy()
        return np.where(np.isnan(key), np.inf, key)


def register(objective: Objective) -> Objective:
    _REGISTRY[objective.name] = objective
    return objective


def objective_names() -> list[str]:
    return sorted(_REGISTRY)


def get_objective(name: str) -> Objective:
    """The registered objective called ``name``; unknown names get "Did you mean …?"."""
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, _REGISTRY, n=1, cutoff=0.5)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise OptimizerError(
            f"--objective: unknown objective {name!r}.{hint} Known: {', '.join(objective_names())}"
        ) from None
