"""Checks of options that run before any work starts, shared by the calls (and commands) that take them.

A bad option must be refused in the first second, naming the option, the value and the fix, not after the
matrix has run or Stage A has searched for a minute.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from tradeloop._schema import did_you_mean
from tradeloop.errors import OptimizerError, SettingsError, WriteError

__all__ = [
    "check_optimizer_options",
    "check_options_first",
    "check_out_dir",
    "check_out_file",
    "check_positive_seconds",
    "check_storage",
]


def check_out_file(path: Path, option: str) -> None:
    """``path`` can be written as a file: it is not a directory, and no part of its folder is a file."""
    if path.is_dir():
        raise WriteError(f"{option} {str(path)!r} is a directory; name a file, e.g. {path / 'proposal.json'}")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise WriteError(f"{option} {str(path)!r}: {str(parent)!r} is a file, not a directory")
            return


def check_out_dir(path: Path, option: str) -> None:
    """``path`` can be a directory: it is one already, or nothing in its way is a file, and the nearest folder
    that exists is writable. Nothing is created (the command creates it once its other inputs are valid)."""
    for candidate in (path, *path.parents):
        if candidate.exists():
            if not candidate.is_dir():
                raise WriteError(f"{option} {str(path)!r}: {str(candidate)!r} is a file, not a directory")
            if not os.access(candidate, os.W_OK | os.X_OK):
                raise WriteError(
                    f"{option} {str(path)!r}: {str(candidate)!r} is not writable; choose a writable place"
                )
            return


def check_positive_seconds(value: float | None, option: str, fix: str = "leave it out for none") -> None:
    """``value`` is None or a finite number of seconds > 0."""
    if value is not None and not (math.isfinite(value) and value > 0):
        raise SettingsError(f"{option} must be a number of seconds > 0, got {value!r}; {fix}")


def check_optimizer_options(
    *, cadence: str | None = None, objective: str | None = None, sampler: str | None = None
) -> None:
    """The cadence, objective and sampler names are known (imports the optimizer's registries only)."""
    from optimizer import CADENCE_HOURS, SAMPLERS
    from optimizer.objectives import get_objective

    if objective is not None:
        get_objective(objective)  # its own message suggests the closest name
    choices = {"--cadence": (cadence, list(CADENCE_HOURS)), "--sampler": (sampler, list(SAMPLERS))}
    for option, (value, known) in choices.items():
        if value is not None and value not in known:
            raise OptimizerError(
                f"{option} {value!r} is unknown.{did_you_mean(value, known)} Use one of {', '.join(known)}"
            )


def check_storage(url: str) -> None:
    """Open the Optuna storage at ``url`` once, so that a damaged or unreachable one stops the command now."""
    from optimizer import make_storage

    storage = make_storage(url)
    engine = getattr(storage, "engine", None)
    if engine is not None:
        engine.dispose()


def check_options_first(out: Path, objective: str, sampler: str, storage: str) -> None:
    """``propose``'s options that no earlier check covers: the output file, the names, the storage."""
    check_out_file(out, "--out")
    check_optimizer_options(objective=objective, sampler=sampler)
    check_storage(storage)
