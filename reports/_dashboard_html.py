"""HTML pieces of the dashboard's panels: the panel itself, tables, links and time ranges.

Every text goes through :func:`html.escape` here, once: PR titles, branch names, commit subjects and
reasons come from git and the forge, and a panel never writes one into the page unescaped.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape
from typing import Any
from urllib.parse import urlsplit

import pandas as pd

__all__ = [
    "Link",
    "Panel",
    "fmt_number",
    "fmt_time",
    "rows_of",
    "safe_href",
    "slug",
    "table",
    "text",
    "time_range",
]

_SAFE_SCHEMES = ("http", "https", "file", "")
_SLUG = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class Link:
    """A table cell that links ``href`` (dropped when its scheme is not http(s) or file)."""

    text: str
    href: str | None


@dataclass(frozen=True)
class Panel:
    """One panel of the dashboard: its anchor, heading, the time range of its data, and its body.

    ``rows`` counts the records drawn (0: the panel says "no data yet").
    """

    key: str
    title: str
    start: datetime | None
    end: datetime | None
    rows: int
    body: str

    @property
    def range_text(self) -> str:
        if self.start is None or self.end is None:
            return "time range: no data yet"
        return f"time range: {fmt_time(self.start)} → {fmt_time(self.end)} (UTC)"

    def html(self) -> str:
        return (
            f'<section class="panel" id="{self.key}" data-panel="{self.key}" data-rows="{self.rows}">'
            f"<h2>{escape(self.title)}</h2>"
            f'<p class="range">{escape(self.range_text)}</p>{self.body}</section>'
        )

    def summary(self) -> dict[str, Any]:
        return {
            "key": self.key, "title": self.title, "rows": self.rows,
            "start": None if self.start is None else self.start.isoformat(),
            "end": None if self.end is None else self.end.isoformat(),
        }  # fmt: skip


def rows_of(frame: pd.DataFrame) -> Iterator[Any]:
    """The rows of ``frame`` as named tuples (their fields untyped: the columns hold mixed values)."""
    return iter(frame.itertuples())


def slug(*parts: object) -> str:
    return _SLUG.sub("-", "-".join(str(p) for p in parts).lower()).strip("-")


def fmt_time(value: Any) -> str:
    """``2025-01-02 03:04``; "—" for a missing time."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NaT:
        return "—"
    stamp = pd.Timestamp(value)
    if pd.isna(stamp):
        return "—"
    return stamp.strftime("%Y-%m-%d %H:%M")


def text(value: Any) -> str:
    """A cell's text: "" for a missing value (None, NaN), else ``str(value)``."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return str(value)


def fmt_number(value: Any, digits: int = 2, suffix: str = "") -> str:
    if value is None:
        return "—"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(number):
        return "—"
    return f"{number:,.{digits}f}{suffix}"


def time_range(*columns: Iterable[Any]) -> tuple[datetime | None, datetime | None]:
    """The earliest and latest of the times in ``columns`` (None, None when there are none)."""
    lows, highs = [], []
    for column in columns:
        values = column if isinstance(column, pd.Series) else pd.Series(list(column), dtype=object)
        stamps = pd.to_datetime(values, utc=True).dropna()
        if not stamps.empty:
            lows.append(stamps.min())
            highs.append(stamps.max())
    if not lows:
        return None, None
    return min(lows).to_pydatetime(), max(highs).to_pydatetime()


def safe_href(href: str | None) -> str | None:
    """``href`` when it is an http(s) or file URL or a relative path; None otherwise (``javascript:``...)."""
    if not href:
        return None
    try:
        scheme = urlsplit(href).scheme.lower()
    except ValueError:
        return None
    return href if scheme in _SAFE_SCHEMES else None


def _cell(value: str | Link) -> str:
    if isinstance(value, Link):
        href = safe_href(value.href)
        if href is None:
            return f"<td>{escape(value.text)}</td>"
        return f'<td><a href="{escape(href, quote=True)}">{escape(value.text)}</a></td>'
    return f"<td>{escape(value)}</td>"


def table(headers: Sequence[str], rows: Sequence[Sequence[str | Link]], *, css_class: str = "") -> str:
    """A table of escaped text (and links); ``css_class`` names it for the tests and the page's style."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(_cell(c) for c in row) + "</tr>" for row in rows)
    attribute = f' class="{escape(css_class, quote=True)}"' if css_class else ""
    # A long table scrolls inside its own box, so that the charts below it stay in sight.
    content = f"<table{attribute}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    return f'<div class="scroll">{content}</div>'
