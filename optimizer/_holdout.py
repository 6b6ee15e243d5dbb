"""The holdout: the most recent bars of a cycle's window, which the search never reads.

A cycle's window (``optimizer.cadence_window``) is cut in two at the **holdout boundary**: the search
(Stage A, Stage B, warm starts, expected gains, the proposal's own KPIs) sees only the bars before it,
and validation judges the proposal against the live parameters on the bars from it on. The holdout is the
last ``ceil(fraction × bars)`` bars of the window, ``fraction`` being ``VALIDATION_HOLDOUT_FRACTION`` of
``config/constants.py``; the same fraction holds for every timeframe because the cadence window already
fixes how much history a timeframe's cycle uses.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from tradeloop.errors import OptimizerError

__all__ = ["MIN_SEARCH_BARS", "HoldoutSplit", "split_holdout"]

#: The search needs at least this many bars before the boundary (indicator warm-up plus some trades).
MIN_SEARCH_BARS = 100


@dataclass(frozen=True)
class HoldoutSplit:
    """A window cut at its holdout boundary.

    Attributes
    ----------
    search
        The bars before the boundary: everything the search may read.
    holdout
        The bars from the boundary on: what validation judges the proposal on.
    fraction
        The share of the window held out (``VALIDATION_HOLDOUT_FRACTION``).
    """

    search: pd.DataFrame
    holdout: pd.DataFrame
    fraction: float

    @property
    def boundary(self) -> pd.Timestamp:
        """The first holdout bar: the search stopped strictly before it."""
        return pd.Timestamp(self.holdout.index[0])

    def as_dict(self) -> dict[str, Any]:
        """Contract 2 ``holdout``: the fraction, the boundary and both segments' first/last bar and size."""
        return {
            "fraction": self.fraction,
            "boundary": self.boundary.isoformat(),
            "start": self.holdout.index[0].isoformat(),
            "end": self.holdout.index[-1].isoformat(),
            "bars": len(self.holdout),
            "search_start": self.search.index[0].isoformat(),
            "search_end": self.search.index[-1].isoformat(),
            "search_bars": len(self.search),
        }


def split_holdout(window: pd.DataFrame, fraction: float) -> HoldoutSplit:
    """Cut ``window`` so that its last ``ceil(fraction × len(window))`` bars are the holdout.

    Raises
    ------
    OptimizerError
        ``fraction`` outside (0, 1), or fewer than :data:`MIN_SEARCH_BARS` bars left for the search.
    """
    if not 0.0 < fraction < 1.0:
        raise OptimizerError(
            f"VALIDATION_HOLDOUT_FRACTION must be within (0, 1), got {fraction!r}; e.g. 0.25 holds out the "
            "last quarter of the cycle's bars"
        )
    held = max(1, math.ceil(fraction * len(window)))
    searched = len(window) - held
    if searched < MIN_SEARCH_BARS:
        raise OptimizerError(
            f"a holdout of {fraction:g} of {len(window)} bars leaves {searched} bars for the search, fewer "
            f"than {MIN_SEARCH_BARS}; load more history or lower VALIDATION_HOLDOUT_FRACTION"
        )
    return HoldoutSplit(window.iloc[:searched], window.iloc[searched:], fraction)
