"""Writing ``config/constants.py``: the whole file, rendered deterministically from the spec's template."""

from __future__ import annotations

import textwrap
from pathlib import Path

from gitops._constants import LiveConstants, inspect_constants
from gitops._constants_spec import SECTIONS
from gitops._literal_format import LINE_LENGTH, format_assignment
from gitops._problems import display_name
from tradeloop import Provenance, atomic_write_text
from tradeloop.errors import StateFileError

__all__ = ["render_constants", "save_constants"]

_DOCSTRING = '''"""Live parameters and optimizer guardrails of the trading bot.

Written only by tradeloop's ``gitops`` package and changed through pull requests. tradeloop reads this
file with ``ast`` and never runs it, so it holds only literal assignments; ``tradeloop state check``
validates it.
"""'''


def render_constants(constants: LiveConstants) -> str:
    """The full text of ``config/constants.py`` for ``constants``: stable order, comments, provenance."""
    values = constants.constants()
    parts = [_DOCSTRING, _provenance_header(constants.provenance)]
    parts.append("from __future__ import annotations\n\nfrom typing import Final")
    for section in SECTIONS:
        blocks = [_comment(f"{section.title}\n{'-' * len(section.title)}")]
        blocks += [
            _comment(spec.comment)
            + "\n"
            + format_assignment(f"{spec.name}: {spec.annotation}", values[spec.name])
            for spec in section.constants
        ]
        parts.append("\n\n".join(blocks))
    return "\n\n".join(parts) + "\n"


def save_constants(path: Path, constants: LiveConstants, provenance: Provenance) -> LiveConstants:
    """Write ``constants`` to ``path`` with a new provenance, atomically, after validating the result.

    The rendered text is read back with the same reader as every other read; a file that would not read
    back as exactly ``constants`` is never written.

    Returns
    -------
    LiveConstants
        ``constants`` carrying ``provenance``: what a later :func:`load_constants` returns.

    Raises
    ------
    tradeloop.errors.StateFileError
        ``constants`` holds a value the reader would reject (the message names it).
    """
    path = Path(path)
    name = display_name(path)
    updated = constants.with_provenance(provenance)
    try:
        text = render_constants(updated)
    except TypeError as exc:
        raise StateFileError(
            f"refusing to write {name}: {exc}; constants hold only numbers, strings, bools and dicts"
        ) from exc
    parsed, problems = inspect_constants(text, name)
    if problems:
        raise StateFileError(f"refusing to write an invalid {name}: {problems[0]}")
    if parsed != updated:
        raise StateFileError(
            f"refusing to write {name}: the rendered file reads back differently from the constants given; "
            "pass plain numbers, strings and bools"
        )
    atomic_write_text(path, text)
    return updated


def _provenance_header(provenance: Provenance) -> str:
    lines = (
        "Written by tradeloop (gitops.save_constants); change it through a pull request.\n"
        f"run id:     {_printable(provenance.run_id)}\n"
        f"git sha:    {_printable(provenance.git_sha)}\n"
        f"written at: {_printable(provenance.written_at)}"
    )
    return _comment(lines)


def _printable(text: str) -> str:
    """A provenance value safe inside a comment: no line breaks or control characters."""
    return text if text.isprintable() else repr(text)


def _comment(text: str) -> str:
    width = LINE_LENGTH - 2
    lines = [wrapped for line in text.splitlines() for wrapped in textwrap.wrap(line, width) or [""]]
    return "\n".join(f"# {line}".rstrip() for line in lines)
