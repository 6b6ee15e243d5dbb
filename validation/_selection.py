"""The candidate set as a return matrix, and CPCV paths of "pick the best candidate in sample".

Each candidate parameter set is backtested on the same bars as the baseline, giving a (T × M) matrix of
per-bar returns: the input of SPA / StepM, the DSR's trial Sharpe ratios, PBO and the CPCV paths.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from backtest_matrix.engine import EngineConfig, backtest
from backtest_matrix.strategies import Strategy
from tradeloop.errors import ValidationError
from validation._sharpe import sharpe_ratios
from validation._splits import cpcv_path_count, cpcv_paths, cpcv_splits, group_bounds

__all__ = ["CpcvPaths", "candidate_returns", "cpcv_selection_paths"]


@dataclass(frozen=True)
class CpcvPaths:
    """CPCV of the selection rule: per path, the annualised OOS Sharpe of the IS-best candidates.

    Attributes
    ----------
    n_groups, n_test_groups, n_splits, n_paths
        ``N``, ``k``, ``C(N, k)`` and ``(k / N) · C(N, k)``.
    purge_bars, embargo_bars
        The purge before and the embargo after each test segment, in bars.
    path_sharpes
        Annualised Sharpe of each assembled OOS path.
    """

    n_groups: int
    n_test_groups: int
    n_splits: int
    n_paths: int
    purge_bars: int
    embargo_bars: int
    path_sharpes: tuple[float, ...]

    def as_dict(self) -> dict[str, object]:
        sharpes = np.asarray(self.path_sharpes)
        return {
            "n_groups": self.n_groups,
            "n_test_groups": self.n_test_groups,
            "splits": self.n_splits,
            "paths": self.n_paths,
            "purge_bars": self.purge_bars,
            "embargo_bars": self.embargo_bars,
            "path_sharpes": list(self.path_sharpes),
            "mean_path_sharpe": float(sharpes.mean()),
            "min_path_sharpe": float(sharpes.min()),
        }


def candidate_returns(
    bars: pd.DataFrame,
    strategy: str | type[Strategy],
    parameter_sets: Sequence[Mapping[str, float]],
    config: EngineConfig | None = None,
) -> np.ndarray:
    """(T × M) per-bar returns of every parameter set on ``bars``, one column each."""
    columns = [
        backtest(bars, strategy, dict(params), config=config).returns.to_numpy() for params in parameter_sets
    ]
    return np.column_stack(columns).astype(np.float64)


def cpcv_selection_paths(
    returns: np.ndarray,
    n_groups: int,
    n_test_groups: int,
    *,
    purge_bars: int,
    embargo_bars: int,
    bars_per_year: float,
) -> CpcvPaths:
    """CPCV paths of choosing, per split, the column with the best Sharpe on the split's training bars.

    Each split's choice is scored on its test groups; the test segments are assembled into
    ``(k / N) · C(N, k)`` full-length paths (:func:`cpcv_paths`), whose annualised Sharpe ratios show
    how the selection rule does out of sample across many histories, not one.
    """
    n_bars = returns.shape[0]
    bounds = group_bounds(n_bars, n_groups)
    splits = cpcv_splits(n_bars, n_groups, n_test_groups, purge_bars=purge_bars, embargo_bars=embargo_bars)
    short = [split.split for split in splits if len(split.train) < 3]
    if short:
        raise ValidationError(
            f"CPCV: a purge of {purge_bars} and an embargo of {embargo_bars} bars leave no training bars in "
            f"split {short[0]} of {n_bars} bars in {n_groups} groups; use fewer groups or more bars"
        )
    chosen = [int(np.argmax(sharpe_ratios(returns[split.train]))) for split in splits]
    assembly = cpcv_paths(n_groups, n_test_groups)
    sharpes = []
    for path in assembly:
        pieces = [returns[bounds[g] : bounds[g + 1], chosen[path[g]]] for g in range(n_groups)]
        sharpes.append(float(sharpe_ratios(np.concatenate(pieces))[0]) * math.sqrt(bars_per_year))
    return CpcvPaths(
        n_groups=n_groups,
        n_test_groups=n_test_groups,
        n_splits=len(splits),
        n_paths=cpcv_path_count(n_groups, n_test_groups),
        purge_bars=purge_bars,
        embargo_bars=embargo_bars,
        path_sharpes=tuple(sharpes),
    )
