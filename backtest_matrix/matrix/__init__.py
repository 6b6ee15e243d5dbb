"""backtest_matrix.matrix: the nightly backtest matrix (so far: its append-only, kill-safe result log)."""

from __future__ import annotations

from backtest_matrix.matrix._log import ResultLog, ResultLogSummary
from backtest_matrix.matrix._spec import (
    DEFAULT_MATRIX_PATH,
    MatrixCell,
    MatrixSpec,
    NeighbourhoodSpec,
    WindowSpec,
    load_matrix_spec,
    parse_matrix_spec,
)

__all__ = [
    "DEFAULT_MATRIX_PATH",
    "MatrixCell",
    "MatrixSpec",
    "NeighbourhoodSpec",
    "ResultLog",
    "ResultLogSummary",
    "WindowSpec",
    "load_matrix_spec",
    "parse_matrix_spec",
]
