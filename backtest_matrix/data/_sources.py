"""The source registry: which spec strings name which source, and each source's defaults."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from backtest_matrix.data._arch_sources import ARCH_SOURCES
from backtest_matrix.data._files import FILE_SUFFIXES
from backtest_matrix.data._report import QualityConfig
from tradeloop.errors import DataSourceError

__all__ = [
    "GENERATED_KINDS",
    "SourceInfo",
    "SourceSpec",
    "default_quality_config",
    "list_sources",
    "resolve_source",
]

SourceKind = Literal["arch", "synthetic", "reverting", "file"]
#: Sources generated from a seed (length, seed and start are options).
GENERATED_KINDS: tuple[SourceKind, ...] = ("synthetic", "reverting")


@dataclass(frozen=True)
class SourceInfo:
    """A built-in source, as ``tradeloop data list`` shows it.

    Attributes
    ----------
    name
        The spec string that selects it.
    description
        What the data is.
    calendar
        ``"weekdays"`` (markets closed at weekends) or ``"24/7"``.
    timeframe
        The native bar timeframe (``"1d"``), or the range a generated source offers.
    """

    name: str
    description: str
    calendar: str
    timeframe: str


_BUILT_IN = (
    SourceInfo(
        "sp500",
        "S&P 500 index, real daily OHLCV 1999-01-04..2018-12-31 (5,031 bars), shipped with arch",
        "weekdays",
        "1d",
    ),
    SourceInfo(
        "nasdaq",
        "NASDAQ Composite index, real daily OHLCV 1999-01-04..2018-12-31 (5,031 bars), shipped with arch",
        "weekdays",
        "1d",
    ),
    SourceInfo(
        "synthetic",
        "seeded GARCH(1,1) series switching between bull, bear, sideways and high-vol regimes "
        "(default 1h, 365 days from 2024-01-01 UTC; set timeframe, days or bars, seed, start)",
        "24/7",
        "any (1m…1d)",
    ),
    SourceInfo(
        "reverting",
        "seeded mean-reverting market: a random-walk fair value plus an Ornstein-Uhlenbeck deviation "
        "(23-bar half-life, 1.2 % deep), where band strategies have a known edge (default 15m, 365 days "
        "from 2024-01-01 UTC; set timeframe, days or bars, seed, start)",
        "24/7",
        "any (1m…1d)",
    ),
)


def list_sources() -> list[SourceInfo]:
    """The built-in sources (files are sources too: any path ending in .csv, .parquet or .pq)."""
    return list(_BUILT_IN)


@dataclass(frozen=True)
class SourceSpec:
    """A resolved source spec: its kind, its canonical name and, for files, the path."""

    kind: SourceKind
    name: str
    path: Path | None = None


def resolve_source(source: str) -> SourceSpec:
    """Resolve a spec string: ``sp500``, ``nasdaq``, ``synthetic``, ``reverting`` (any case) or a file path.

    Raises
    ------
    DataSourceError
        For anything else, with "Did you mean ...?" and the list of sources.
    """
    text = str(source).strip()
    name = text.lower()
    if name in ARCH_SOURCES:
        return SourceSpec("arch", name)
    if name in ("synthetic", "reverting"):
        return SourceSpec("synthetic" if name == "synthetic" else "reverting", name)
    path = Path(text)
    if path.suffix.lower() in FILE_SUFFIXES:
        return SourceSpec("file", text, path)
    names = [info.name for info in _BUILT_IN]
    close = difflib.get_close_matches(name, names, n=2, cutoff=0.5)
    hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    if path.suffix:
        hint = f" Files must end in {', '.join(FILE_SUFFIXES)} (got {path.suffix!r}).{hint}"
    raise DataSourceError(
        f"unknown data source {text!r}.{hint} Sources: {', '.join(names)}, or a path to a "
        f"{' / '.join(FILE_SUFFIXES)} file"
    )


def default_quality_config(source: str) -> QualityConfig:
    """The quality thresholds a source is checked with by default.

    The arch sources use the ``weekdays`` calendar and tolerate 4 missing weekday bars in a row (exchange
    holidays, and the closure after 2001-09-11); synthetic series and files use ``24/7`` with no missing bar.
    """
    if resolve_source(source).kind == "arch":
        return QualityConfig(calendar="weekdays", max_missing_bars=4)
    return QualityConfig()
