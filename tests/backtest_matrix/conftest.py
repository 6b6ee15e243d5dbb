"""Helpers for the data-layer tests: small, clean daily bars that a test then spoils on purpose."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest


def clean_daily_frame(days: int = 120, start: str = "2024-01-01") -> pd.DataFrame:
    """Daily 24/7 bars with a ``timestamp`` column; row i (1-based) opens at 99 + i."""
    opens = 100.0 + np.arange(days)
    return pd.DataFrame(
        {
            "timestamp": pd.date_range(start, periods=days, freq="1D", tz="UTC"),
            "open": opens,
            "high": opens + 1.5,
            "low": opens - 1.0,
            "close": opens + 0.5,
            "volume": np.full(days, 1000.0),
        }
    )


@pytest.fixture
def write_csv(tmp_path: Path) -> Callable[..., Path]:
    """Write a frame to ``tmp_path/<name>`` without its index and return the path."""

    def write(frame: pd.DataFrame, name: str = "bars.csv") -> Path:
        path = tmp_path / name
        frame.to_csv(path, index=False)
        return path

    return write


@pytest.fixture
def daily_bars() -> Callable[..., pd.DataFrame]:
    """The :func:`clean_daily_frame` factory."""
    return clean_daily_frame
