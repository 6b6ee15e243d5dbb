"""Pluggable objectives, one file each, registered on import. Adding a file here adds an objective."""

from __future__ import annotations

import importlib
import pkgutil

from optimizer.objectives._base import Direction, Objective, get_objective, objective_names, register

__all__ = ["Direction", "Objective", "get_objective", "objective_names", "register"]


def _import_all() -> None:
    for module in pkgutil.iter_modules(__path__):
        if not module.name.startswith("_"):
            importlib.import_module(f"{__name__}.{module.name}")


_import_all()
