"""Markdown building blocks for PR bodies: safe cells, numbers, tables, and truncation to a size limit.

A body is a list of :class:`Block` objects. A block has head lines (a heading, a table header) that stay
whenever the block stays, rows that may be cut from the end, and tail lines (a closing ``</details>``).
:func:`fit_blocks` trims rows from the lowest-priority blocks first, then drops whole blocks, and never
cuts inside a line, so a table keeps its header and whole rows and every ``<details>`` stays closed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

__all__ = [
    "ESSENTIAL",
    "SIGNIFICANT_DIGITS",
    "Block",
    "cell",
    "fit_blocks",
    "fmt_count",
    "fmt_date",
    "fmt_delta",
    "fmt_number",
    "fmt_sig",
    "fmt_value",
    "round_figures",
    "table",
    "text",
]

ESSENTIAL = 1_000
#: Figures (KPIs, statistics, gate figures) are shown to this many significant digits.
SIGNIFICANT_DIGITS = 3
_MAX_CELL = 300
_MAX_TEXT = 2_000
_BLOCK_SEPARATOR = "\n\n"
_SCIENTIFIC_BELOW = 1e-3
_ISO_DATE = re.compile(r"(\d{4}-\d{2}-\d{2})(?:[T ][0-9:.]+(?:Z|[+-]\d{2}:?\d{2})?)?")
# A decimal number standing alone in free text (not part of a version, a date or an identifier).
_FREE_FIGURE = re.compile(r"(?<![\w.])-?\d+\.\d+(?:e[+-]?\d+)?(?![\w.])")


@dataclass
class Block:
    """A part of the body; see the module docstring. ``priority`` >= :data:`ESSENTIAL` is never trimmed."""

    head: list[str]
    rows: list[str] = field(default_factory=list)
    tail: list[str] = field(default_factory=list)
    priority: int = ESSENTIAL
    name: str = ""
    omitted: int = 0

    def render(self) -> str:
        if not self.omitted:
            return "\n".join(self.head + self.rows + self.tail)
        head = self.head
        if not self.rows:  # no row left: no table header either, and no doubled blank line
            head = [line for line in head if not line.startswith("|")]
            while head and not head[-1].strip():
                head = head[:-1]
        # A blank line first: a line right under a table would be read as one more table row.
        note = f"_… {self.omitted} {'row' if self.omitted == 1 else 'rows'} left out._"
        return "\n".join([*head, *self.rows, "", note, *self.tail])


def text(value: object, limit: int = _MAX_TEXT) -> str:
    """Free text made safe for a body: clipped, and unable to open an HTML comment."""
    shown = str(value).replace("<!--", "&lt;!--").replace("-->", "--&gt;")
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


def cell(value: object) -> str:
    """Text safe inside a table cell: one line, pipes escaped, clipped."""
    one_line = " ".join(text(value, _MAX_CELL).split())
    return one_line.replace("|", "\\|")


def table(header: Sequence[str], align: str, rows: Iterable[Sequence[object]]) -> tuple[list[str], list[str]]:
    """A GitHub table: (header and separator lines, row lines); ``align``: one of l, r, c per column."""
    marks = {"l": ":--", "r": "--:", "c": ":-:"}
    head = [
        "| " + " | ".join(cell(name) for name in header) + " |",
        "|" + "|".join(marks[a] for a in align) + "|",
    ]
    return head, ["| " + " | ".join(cell(value) for value in row) + " |" for row in rows]


def _finite(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def fmt_sig(value: object, digits: int = SIGNIFICANT_DIGITS, *, sign: bool = False) -> str:
    """A figure to ``digits`` significant digits: ``0.0734``, ``7.06``, ``12.9``, ``1,230``, ``2.87e-7``.

    Trailing zeros are dropped from a figure the rounding did not change (``0.5``, ``20``) and kept where it
    did (0.99996 reads ``1.00``, not a certain ``1``); magnitudes below 0.001 are written in scientific
    notation; ``sign`` adds ``+`` to a positive figure. ``n/a`` for None, NaN or a non-number, ``∞`` for
    infinity.
    """
    if isinstance(value, float) and math.isinf(value):
        return ("+" if sign and value > 0 else "") + ("∞" if value > 0 else "-∞")
    number = _finite(value)
    if number is None:
        return "n/a"
    prefix = "+" if sign and number > 0 else ""
    if number == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(number)))
    if abs(number) < _SCIENTIFIC_BELOW:
        mantissa, exponent = f"{number:.{digits - 1}e}".split("e")  # the format carries the round-up
        exact = _same(float(f"{mantissa}e{exponent}"), number)
        return f"{prefix}{_strip_zeros(mantissa) if exact else mantissa}e{int(exponent)}"
    decimals = digits - 1 - magnitude
    rounded = round(number, decimals)
    if abs(rounded) >= 10 ** (magnitude + 1):  # 9.996 rounds up to 10.0: one decimal fewer
        decimals -= 1
    shown = f"{rounded:,.{max(decimals, 0)}f}"
    return prefix + (_strip_zeros(shown) if _same(rounded, number) else shown)


def _same(rounded: float, number: float) -> bool:
    """Whether rounding left ``number`` as it was, up to float noise (7.1 - 7.9 is -0.8000000000000007)."""
    return math.isclose(rounded, number, rel_tol=1e-9)


def _strip_zeros(shown: str) -> str:
    return shown.rstrip("0").rstrip(".") if "." in shown else shown


def fmt_count(value: object) -> str:
    """A count (trades, bars, configurations) as a whole number: ``1,004``, even when stored as ``1004.0``."""
    number = _finite(value)
    return "n/a" if number is None else f"{round(number):,}"


def fmt_date(value: object) -> str:
    """The date of an ISO time stamp (``2024-09-30T18:00:00+00:00`` → ``2024-09-30``); else a cell."""
    shown = cell(value)
    match = _ISO_DATE.fullmatch(shown)
    return match.group(1) if match else shown


def round_figures(free_text: str, digits: int = SIGNIFICANT_DIGITS) -> str:
    """``free_text`` with every stand-alone decimal figure rounded to ``digits`` significant digits.

    Texts written upstream (rationales, gate details) carry figures such as ``76.1562``; a reviewer reads
    ``76.2``. Integers, dates and identifiers are left alone.
    """
    return _FREE_FIGURE.sub(lambda match: fmt_sig(float(match.group()), digits).replace(",", ""), free_text)


def fmt_number(value: object, digits: int = SIGNIFICANT_DIGITS) -> str:
    """A figure to ``digits`` significant digits (:func:`fmt_sig`); integers exact (``2,263``)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return fmt_sig(value, digits)


def fmt_delta(before: object, after: object, digits: int = SIGNIFICANT_DIGITS) -> str:
    """``after - before`` with its sign to ``digits`` significant digits, or ``n/a``."""
    low, high = _finite(before), _finite(after)
    if low is None or high is None:
        return "n/a"
    if isinstance(before, int) and isinstance(after, int) and not isinstance(before | after, bool):
        return f"{after - before:+,}"
    delta = high - low
    return "0" if delta == 0 else fmt_sig(delta, digits, sign=True)


def fmt_value(value: object) -> str:
    """A parameter or gate figure as written by a person: ``13``, ``2.2``, ``0.0412``."""
    number = _finite(value)
    if number is None:
        return "n/a" if value is None or isinstance(value, float) else str(value)
    if number.is_integer() and abs(number) < 1e15:
        return f"{int(number):,}"
    return f"{number:.4g}" if abs(number) < 1e-3 or abs(number) >= 1e6 else f"{number:.6g}"


def _size(blocks: Sequence[Block]) -> int:
    return sum(len(block.render()) for block in blocks) + len(_BLOCK_SEPARATOR) * max(len(blocks) - 1, 0)


def fit_blocks(blocks: list[Block], limit: int) -> tuple[list[Block], bool]:
    """Blocks whose joined text fits in ``limit`` characters, and whether anything was cut.

    Rows are cut from the end of the lowest-priority block first (ties: the later block); a block with
    no rows left is dropped whole when still too long. Essential blocks are never touched.
    """
    kept = list(blocks)
    size = _size(kept)
    if size <= limit:
        return kept, False
    order = sorted(
        (block for block in kept if block.priority < ESSENTIAL),
        key=lambda block: (block.priority, -kept.index(block)),
    )
    for block in order:
        size = _trim_rows(block, size, limit)
        if size <= limit:
            return kept, True
    for block in order:
        if size <= limit:
            break
        index = kept.index(block)
        size -= len(block.render()) + (len(_BLOCK_SEPARATOR) if len(kept) > 1 else 0)
        del kept[index]
    return kept, True


def _trim_rows(block: Block, size: int, limit: int) -> int:
    """Cut rows from the end of ``block`` until the body fits or no row is left; the new body size."""
    before = len(block.render())
    rows = block.rows
    # Drop whole rows by their lengths (+1 for the line break), then account for the note's length once.
    excess = size - limit
    cut = 0
    freed = 0
    while rows[: len(rows) - cut] and freed < excess + 64:
        freed += len(rows[len(rows) - cut - 1]) + 1
        cut += 1
    if cut:
        block.rows = rows[: len(rows) - cut]
        block.omitted += cut
    return size - before + len(block.render())
