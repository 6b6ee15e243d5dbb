"""Helpers shared by the state-file readers: display names, value rendering, suggestions, file reading."""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from tradeloop.errors import StateFileError

__all__ = [
    "did_you_mean",
    "display_name",
    "raise_problems",
    "read_state_text",
    "restore_hint",
    "show_json_value",
]

_MAX_SHOWN = 80


def display_name(path: Path) -> str:
    """The name messages use for a state file: ``config/constants.py`` or ``feature_flags.json``."""
    path = Path(path)
    if path.parent.name == "config":
        return f"config/{path.name}"
    return path.name


def restore_hint(name: str) -> str:
    return f"restore it with `git checkout -- {name}`"


def show_json_value(value: Any) -> str:
    """A value as JSON text, shortened for a one-line message."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """``" Did you mean X?"`` for the closest known name, or ``""`` when none is close."""
    matches = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" Did you mean {matches[0]}?" if matches else ""


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
