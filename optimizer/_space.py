"""The search space of one optimisation cycle, by cadence.

========  =====================================  ==========================================  =============
cadence   parameters searched                    range around the current value              bars used
========  =====================================  ==========================================  =============
``6h``    risk parameters only                   ± the per-cycle cap                         last 365 bars
``daily`` strategy and risk parameters           ± 2 × the per-cycle cap                     last 3 years
``weekly`` strategy and risk parameters          the full hard bounds                        all bars
========  =====================================  ==========================================  =============

The per-cycle cap of a parameter is ``min(max_delta, max_step_pct / 100)`` × its current value, or × its
hard range when the current value is 0 (the same scale as :func:`optimizer._proposal.step_cap`). Every
range is intersected with the hard bounds; integers are rounded inwards; a ``choice`` parameter searches
the choices inside the range. A parameter whose range holds a single value is fixed at its current value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import pandas as pd

from backtest_matrix.strategies import Param, Strategy
from optimizer._proposal import step_cap
from tradeloop._schema import did_you_mean
from tradeloop.errors import OptimizerError

__all__ = [
    "CADENCE_WINDOWS",
    "Cadence",
    "Dimension",
    "SearchSpace",
    "cadence_window",
    "current_values",
    "search_space",
]

Cadence = Literal["6h", "daily", "weekly"]
CADENCES: tuple[str, ...] = get_args(Cadence)

#: How much history each cadence optimises on: ("bars", n) = the last n bars, ("days", n) = the last n
#: calendar days, None = everything.
CADENCE_WINDOWS: dict[str, tuple[str, int] | None] = {
    "6h": ("bars", 365),
    "daily": ("days", 1096),
    "weekly": None,
}
_RANGE_MULTIPLIER = {"6h": 1.0, "daily": 2.0}


@dataclass(frozen=True)
class Dimension:
    """One searched parameter: inclusive bounds, integer or not, or a set of choices (ascending)."""

    name: str
    low: float
    high: float
    is_int: bool = False
    choices: tuple[float, ...] = ()

    def from_unit(self, unit: Any) -> Any:
        """Map uniform ``[0, 1)`` samples (array) into the dimension's values, vectorised."""
        import numpy as np

        unit = np.asarray(unit, dtype=np.float64)
        if self.choices:
            index = np.minimum((unit * len(self.choices)).astype(np.int64), len(self.choices) - 1)
            return np.asarray(self.choices)[index]
        if self.is_int:
            span = self.high - self.low + 1.0
            return np.minimum(np.floor(self.low + unit * span), self.high)
        return self.low + unit * (self.high - self.low)


@dataclass(frozen=True)
class SearchSpace:
    """The dimensions searched, the parameters held fixed, and the cadence they were derived for."""

    strategy: str
    cadence: str
    dimensions: tuple[Dimension, ...]
    fixed: Mapping[str, float] = field(default_factory=dict)

    @property
    def names(self) -> list[str]:
        return [dimension.name for dimension in self.dimensions]

    def full_params(self, searched: Mapping[str, float]) -> dict[str, float]:
        """The fixed parameters overlaid with the searched ``searched`` values (all as floats)."""
        return {**dict(self.fixed), **{name: float(value) for name, value in searched.items()}}

    def as_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "cadence": self.cadence,
            "dimensions": [
                {"name": d.name, "low": d.low, "high": d.high, "is_int": d.is_int, "choices": list(d.choices)}
                for d in self.dimensions
            ],
            "fixed": dict(self.fixed),
        }


def current_values(
    strategy_cls: type[Strategy], current_params: Mapping[str, Any] | None
) -> dict[str, float]:
    """The resolved current parameters (defaults filled in); a ``timeframe`` key is ignored."""
    values = {k: v for k, v in (current_params or {}).items() if k != "timeframe"}
    return strategy_cls.resolve(values, where=f"current parameters of {strategy_cls.name}")


def search_space(
    strategy_cls: type[Strategy],
    current_params: Mapping[str, Any] | None,
    cadence: str,
    *,
    max_delta: float = 0.2,
) -> SearchSpace:
    """The space searched this cycle for ``strategy_cls`` around ``current_params`` (see the module doc)."""
    _check_cadence(cadence)
    if not 0.0 < max_delta <= 1.0:
        raise OptimizerError(f"max_delta must be within (0, 1], got {max_delta!r}; use e.g. 0.2 (= ±20%)")
    current = current_values(strategy_cls, current_params)
    own = set(strategy_cls.param_names())
    dimensions: list[Dimension] = []
    fixed: dict[str, float] = {}
    for param in strategy_cls.space():
        searched = not (cadence == "6h" and param.name in own)
        dimension = _dimension(param, current[param.name], cadence, max_delta) if searched else None
        if dimension is None:
            fixed[param.name] = current[param.name]
        else:
            dimensions.append(dimension)
    return SearchSpace(strategy_cls.name, cadence, tuple(dimensions), fixed)


def _dimension(param: Param, current: float, cadence: str, max_delta: float) -> Dimension | None:
    if cadence == "weekly":
        low, high = param.low, param.high
    else:
        delta = min(max_delta, param.max_step_pct / 100.0) * _RANGE_MULTIPLIER[cadence]
        cap = step_cap(current, param.low, param.high, delta)
        low, high = max(param.low, current - cap), min(param.high, current + cap)
    if param.kind == "choice":
        choices = tuple(c for c in param.choices if low <= c <= high)
        return Dimension(param.name, choices[0], choices[-1], choices=choices) if len(choices) > 1 else None
    if param.kind == "int":
        low, high = float(math.ceil(low)), float(math.floor(high))
    if not high > low:
        return None
    return Dimension(param.name, low, high, is_int=param.kind == "int")


def _check_cadence(cadence: str) -> None:
    if cadence not in CADENCES:
        raise OptimizerError(
            f"--cadence {cadence!r} is not a cadence.{did_you_mean(cadence, CADENCES)} Use one of "
            f"{', '.join(CADENCES)}"
        )


def cadence_window(bars: pd.DataFrame, cadence: str) -> pd.DataFrame:
    """The tail of ``bars`` the cadence optimises on (:data:`CADENCE_WINDOWS`)."""
    _check_cadence(cadence)
    window = CADENCE_WINDOWS[cadence]
    if window is None or bars.empty:
        return bars
    unit, size = window
    if unit == "bars":
        return bars.iloc[-size:]
    start = pd.DatetimeIndex(bars.index)[-1] - pd.Timedelta(days=size)
    return bars.loc[bars.index > start]
