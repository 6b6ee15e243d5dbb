"""backtest_matrix.matrix: the nightly backtest matrix (so far: its append-only, kill-safe result log)."""

from __future__ import annotations

from backtest_matrix.matrix._log import ResultLog, ResultLogSummary

__all__ = ["ResultLog", "ResultLogSummary"]
