"""Helpers shared by the state-file readers: display names, value rendering, suggestions, file reading."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tradeloop._schema import did_you_mean, show_json_value
from tradeloop.errors import StateFileError

__all__ = [
    "did_you_mean",
    "display_name",
    "raise_problems",
    "read_state_text",
    "restore_hint",
    "show_json_value",
]


def display_name(path: Path) -> str:
    """The name messages use for a state file: ``config/constants.py`` or ``feature_flags.json``."""
    path = Path(path)
    if path.parent.name == "config":
        return f"config/{path.name}"
    return path.name


def restore_hint(name: str) -> str:
    return f"restore it with `git checkout -- {name}`"


def read_state_text(path: Path) -> str:
    """Read a state file as UTF-8, turning every failure into a :class:`StateFileError`."""
    path = Path(path)
    name = display_name(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise StateFileError(
            f"{name}: not found at {path}; {restore_hint(name)} or point --repo / TRADELOOP_REPO at the "
            "repository that holds the live state"
        ) from None
    except IsADirectoryError:
        raise StateFileError(
            f"{name}: {path} is a directory, not the state file; remove it and {restore_hint(name)}"
        ) from None
    except OSError as exc:
        raise StateFileError(f"{name}: cannot read {path}: {exc.strerror}; check its permissions") from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StateFileError(
            f"{name}: not valid UTF-8 (byte {exc.start} is {data[exc.start]:#04x}); {restore_hint(name)}"
        ) from exc


def raise_problems(problems: Sequence[str]) -> None:
    """Raise the first problem as a :class:`StateFileError`, saying how many more there are."""
    if not problems:
        return
    more = len(problems) - 1
    suffix = f" (and {more} more; `tradeloop state check` lists them all)" if more else ""
    raise StateFileError(problems[0] + suffix)
