"""Strategies: one file each, registered on import. Adding a file here adds a strategy.

Each defines a :class:`Strategy` subclass with a named parameter space (type, hard bounds, default and the
largest step per cycle) and a numba signal kernel.
"""

from __future__ import annotations

import importlib
import pkgutil

from backtest_matrix.strategies._base import (
    Below,
    Param,
    Strategy,
    get_strategy,
    strategy_names,
    unknown_name_message,
)
from backtest_matrix.strategies._risk import RISK_PARAMS

__all__ = [
    "RISK_PARAMS",
    "Below",
    "Param",
    "Strategy",
    "get_strategy",
    "strategy_names",
    "unknown_name_message",
]


def _import_all() -> None:
    for module in pkgutil.iter_modules(__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"{__name__}.{module.name}")


_import_all()
