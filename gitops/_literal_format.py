"""Pretty-printing Python literals the way ``ruff format`` lays them out.

A container stays on one line when that line fits in :data:`LINE_LENGTH`; otherwise it is split one item
per line with a trailing comma, and each item is laid out by the same rule at its own indentation.
Strings use double quotes. The output is therefore stable under ``ruff format``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["LINE_LENGTH", "format_assignment", "format_lines", "format_literal"]

LINE_LENGTH = 110
_INDENT = 4


def format_assignment(target: str, value: Any) -> str:
    """``target`` (e.g. ``"LIVE_PARAMS: Final"``) ``= value``, split over lines where needed."""
    return "\n".join(_lines(value, indent=0, head=f"{target} = ", tail=""))


def format_lines(value: Any, *, indent: int, head: str, tail: str) -> list[str]:
    """``value`` laid out at ``indent`` spaces, after ``head`` and before ``tail`` on its first/last line.

    Used to splice a literal into an existing file: ``head`` is the text before it on its line (e.g.
    ``'"ema_fast": '``), ``tail`` the text after it (e.g. ``","``).
    """
    return _lines(value, indent=indent, head=head, tail=tail)


def format_literal(value: Any) -> str:
    """The one-line source text of a literal: ``None``, bools, numbers, strings, dicts, lists, tuples."""
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{format_literal(k)}: {format_literal(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(format_literal(item) for item in value) + "]"
    if isinstance(value, tuple):
        inner = ", ".join(format_literal(item) for item in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    raise TypeError(f"cannot write {type(value).__name__} {value!r} as a literal")


def _string(text: str) -> str:
    """Double quotes unless the text holds a double quote (then Python's own choice, like ruff)."""
    if '"' in text:
        return repr(text)
    if "'" in text:
        return repr(text)  # repr already picks double quotes here
    return '"' + repr(text)[1:-1] + '"'


def _lines(value: Any, *, indent: int, head: str, tail: str) -> list[str]:
    pad = " " * indent
    flat = f"{pad}{head}{format_literal(value)}{tail}"
    if len(flat) <= LINE_LENGTH or not isinstance(value, Mapping | list | tuple) or not value:
        return [flat]
    opening, closing = "{}" if isinstance(value, Mapping) else "[]" if isinstance(value, list) else "()"
    lines = [f"{pad}{head}{opening}"]
    if isinstance(value, Mapping):
        for key, item in value.items():
            lines += _lines(item, indent=indent + _INDENT, head=f"{format_literal(key)}: ", tail=",")
    else:
        for item in value:
            lines += _lines(item, indent=indent + _INDENT, head="", tail=",")
    lines.append(f"{pad}{closing}{tail}")
    return lines
