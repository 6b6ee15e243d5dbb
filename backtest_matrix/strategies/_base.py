"""Strategy base: a named parameter space plus a numba signal kernel.

A strategy is one file in this package that defines a :class:`Strategy` subclass. Subclasses register
themselves on definition and the package imports every module in it, so adding a strategy needs no change
anywhere else.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np

from tradeloop.errors import StrategyError

__all__ = ["Below", "Param", "Strategy", "get_strategy", "strategy_names"]

ParamKind = Literal["int", "float", "choice"]
_REGISTRY: dict[str, type[Strategy]] = {}


@dataclass(frozen=True)
class Below:
    """``lower`` must stay below ``upper`` (or equal to it, with ``or_equal``)."""

    lower: str
    upper: str
    or_equal: bool = False

    def holds(self, lower: np.ndarray | float, upper: np.ndarray | float) -> np.ndarray | bool:
        return lower <= upper if self.or_equal else lower < upper

    def message(self, values: Mapping[str, float]) -> str:
        relation = "must not exceed" if self.or_equal else "must be below"
        return f"{self.lower} ({values[self.lower]:g}) {relation} {self.upper} ({values[self.upper]:g})"


@dataclass(frozen=True)
class Param:
    """One tunable parameter.

    Attributes
    ----------
    name
        The key used in ``config/constants.py``, on the CLI and in result records.
    kind
        ``int``, ``float`` or ``choice`` (one of ``choices``).
    low, high
        Hard bounds, inclusive. A proposal can never leave them.
    default
        The value used when none is given.
    max_step_pct
        The largest change allowed per optimisation cycle, in % of the current value.
    choices
        The allowed values of a ``choice`` parameter, ascending.
    decimals
        The precision a proposal writes a ``float`` parameter with (decimal places; default 2, so a
        percentage moves in steps of 0.01); integers have 0.
    """

    name: str
    kind: ParamKind
    low: float
    high: float
    default: float
    max_step_pct: float = 20.0
    choices: tuple[float, ...] = ()
    doc: str = ""
    decimals: int | None = None

    @property
    def precision(self) -> int | None:
        """Decimal places of a proposed value: 0 for an integer, ``decimals`` (default 2) for a float,
        None for a choice (its values are exact)."""
        if self.kind == "int":
            return 0
        if self.kind == "choice":
            return None
        return 2 if self.decimals is None else self.decimals

    def coerce(self, value: Any, where: str) -> float:
        """Check ``value`` against the type and bounds; return it as a float."""
        expected = {"int": "an integer", "float": "a number", "choice": f"one of {list(self.choices)}"}[
            self.kind
        ]
        if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
            raise StrategyError(f"{where}: {self.name} must be {expected}, got {value!r}")
        number = float(value)
        if not math.isfinite(number):
            raise StrategyError(f"{where}: {self.name} must be finite, got {value!r}")
        if self.kind == "int" and not number.is_integer():
            raise StrategyError(f"{where}: {self.name} must be an integer, got {value!r}; round it")
        if self.kind == "choice" and number not in self.choices:
            raise StrategyError(f"{where}: {self.name} must be one of {list(self.choices)}, got {value!r}")
        if not self.low <= number <= self.high:
            raise StrategyError(
                f"{where}: {self.name} must be within [{self.low:g}, {self.high:g}], got {value!r}"
            )
        return number


class Strategy:
    """Base class: subclasses set ``name``, ``params``, ``signals_nb`` and optionally ``constraints``."""

    name: ClassVar[str]
    description: ClassVar[str] = ""
    params: ClassVar[tuple[Param, ...]]
    #: Relations between the strategy's own parameters, checked one by one and vectorised alike.
    constraints: ClassVar[tuple[Below, ...]] = ()
    #: The numba signal kernel (see ``backtest_matrix.engine._signals``).
    signals_nb: ClassVar[Callable[..., None]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("name"):
            _REGISTRY[cls.name] = cls

    @classmethod
    def space(cls) -> tuple[Param, ...]:
        """The strategy's own parameters followed by the shared risk parameters."""
        from backtest_matrix.strategies._risk import RISK_PARAMS

        return cls.params + RISK_PARAMS

    @classmethod
    def param_names(cls) -> list[str]:
        return [param.name for param in cls.params]

    @classmethod
    def defaults(cls) -> dict[str, float]:
        return {param.name: float(param.default) for param in cls.space()}

    @classmethod
    def resolve(cls, values: Mapping[str, Any] | None = None, where: str = "") -> dict[str, float]:
        """Defaults overlaid with ``values``, each checked; unknown names get "Did you mean …?"."""
        where = where or f"strategy {cls.name}"
        by_name = {param.name: param for param in cls.space()}
        resolved = cls.defaults()
        for key, value in (values or {}).items():
            if key not in by_name:
                raise StrategyError(unknown_name_message(where, "parameter", key, by_name))
            resolved[key] = by_name[key].coerce(value, where)
        cls.check_constraints(resolved, where)
        return resolved

    @classmethod
    def check_constraints(cls, values: Mapping[str, float], where: str) -> None:
        """Raise :class:`StrategyError` when ``values`` break one of the ``constraints``."""
        for relation in cls.constraints:
            if not relation.holds(values[relation.lower], values[relation.upper]):
                raise StrategyError(f"{where}: {relation.message(values)}")

    @classmethod
    def feasible(cls, matrix: np.ndarray) -> np.ndarray:
        """Vectorised :meth:`check_constraints` over the rows of a matrix (columns in ``params`` order)."""
        column = {name: i for i, name in enumerate(cls.param_names())}
        ok = np.ones(matrix.shape[0], dtype=bool)
        for relation in cls.constraints:
            ok &= np.asarray(
                relation.holds(matrix[:, column[relation.lower]], matrix[:, column[relation.upper]])
            )
        return ok

    @classmethod
    def split(cls, values: Mapping[str, float]) -> tuple[np.ndarray, np.ndarray]:
        """Resolved values as (strategy row, risk row) arrays in kernel order."""
        from backtest_matrix.strategies._risk import RISK_PARAMS

        own = np.array([values[param.name] for param in cls.params], dtype=np.float64)
        risk = np.array([values[param.name] for param in RISK_PARAMS], dtype=np.float64)
        return own, risk


def unknown_name_message(where: str, what: str, name: str, known: Iterable[str]) -> str:
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return f"{where}: unknown {what} {name!r}.{hint} Known: {', '.join(known)}"


def strategy_names() -> list[str]:
    return sorted(_REGISTRY)


def get_strategy(name: str) -> type[Strategy]:
    """The registered strategy called ``name``; unknown names get "Did you mean …?"."""
    try:
        return _REGISTRY[name]
    except KeyError:
        raise StrategyError(unknown_name_message("--strategy", "strategy", name, _REGISTRY)) from None
