"""The real daily S&P 500 and NASDAQ Composite bars that ship with ``arch`` (1999-01-04 to 2018-12-31)."""

from __future__ import annotations

import importlib
from importlib.metadata import version

from backtest_matrix.data._frame import RawBars, bars_frame

__all__ = ["ARCH_SOURCES", "arch_version", "load_arch"]

ARCH_SOURCES = ("sp500", "nasdaq")
_ARCH_COLUMNS = {"open": "Open", "high": "High", "low": "Low", "close": "Close", "volume": "Volume"}


def arch_version() -> str:
    """The installed ``arch`` version (its data is part of the cache key)."""
    return version("arch")


def load_arch(name: str) -> RawBars:
    """The daily bars of ``arch.data.<name>`` as raw bars (UTC midnight stamps; ``Adj Close`` dropped)."""
    frame = importlib.import_module(f"arch.data.{name}").load()
    columns = {field: frame[column] for field, column in _ARCH_COLUMNS.items()}
    return RawBars.numbered(bars_frame(frame.index, columns))
