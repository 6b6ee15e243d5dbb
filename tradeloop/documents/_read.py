"""Reading a JSON document file, with one clear error naming the file, the cause and the fix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tradeloop.errors import ProposalError

__all__ = ["raise_first", "read_json"]


def read_json(path: Path, *, what: str, writer: str) -> Any:
    """The JSON value in ``path`` (NaN and Infinity refused: they are not JSON).

    Raises
    ------
    tradeloop.errors.ProposalError
        The file is missing, unreadable, not UTF-8 or not JSON; the message names the file, the line and
        column, and the command that writes it.
    """
    path = Path(path)
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        raise ProposalError(
            f"{path}: cannot read the {what} (not found); write it with `{writer}` or pass the right path"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else f"not UTF-8 text: {exc.reason}"
        raise ProposalError(
            f"{path}: cannot read the {what} ({why}); write it again with `{writer}`"
        ) from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise ProposalError(
            f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            f"write it again with `{writer}`"
        ) from None
    except ValueError as exc:
        raise ProposalError(f"{path}: {exc}; write null or a number instead") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def raise_first(source: str, problems: list[str]) -> None:
    """Raise the first problem as a :class:`ProposalError` naming ``source``, saying how many more."""
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ProposalError(f"{source}: {problems[0]}{more}")
