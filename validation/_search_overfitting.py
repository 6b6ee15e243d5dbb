"""In-sample overfitting of the whole search: Deflated Sharpe and PBO over every configuration it tried.

Both are computed on the **search bars** (the bars before the holdout boundary), because they ask about the
search itself: how good would the best of this many tries look by luck alone (DSR), and how often does
picking the in-sample best of the tried configurations land in the bottom half out of sample (PBO)?

* **N** (trials) for the DSR is the number of clusters of correlated configurations in a uniform sample of
  at most ``sample_size`` (2,000) of the configurations the search evaluated — Stage A's prescreen rows and
  every Stage B trial — so near-copies of one parameter set count once (López de Prado's advice). The raw
  count is reported beside it.
* **V** is the variance of the per-bar Sharpe ratios of **all** evaluated configurations (the record holds
  each one's Sharpe), not of a selected top.
* **PBO** runs CSCV on the same unselected sample, without the baseline column: a selected set (the top of a
  ranking) is biased towards overfitting by its selection alone.

The proposal's own Sharpe ratio on the search bars is the one deflated.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from backtest_matrix.engine import EngineConfig, periods_per_year, returns_matrix
from backtest_matrix.strategies import Strategy
from optimizer import SearchRecord
from tradeloop.errors import ValidationError
from validation._pbo import PBOResult, probability_of_backtest_overfitting
from validation._sharpe import (
    deflated_sharpe_ratio,
    effective_number_of_trials,
    expected_max_sharpe,
    sharpe_stats,
)

__all__ = ["SAMPLE_SIZE", "SearchOverfitting", "search_overfitting"]

#: At most this many tried configurations are re-backtested to count clusters and run CSCV.
SAMPLE_SIZE = 2000


@dataclass(frozen=True)
class SearchOverfitting:
    """DSR and PBO of the search (per-bar Sharpe ratios; annualise with ``bars_per_year``).

    Attributes
    ----------
    configurations
        Every configuration the search evaluated (the raw count of trials).
    sampled
        How many of them were re-backtested (a uniform sample) for N and PBO.
    n_effective
        Clusters of correlated configurations in the sample: the DSR's N.
    sharpe_variance
        V, the variance of all configurations' per-bar Sharpe ratios.
    proposal_sharpe
        The proposal's per-bar Sharpe ratio on the search bars.
    expected_max_sharpe
        SR₀ = E[max of N Sharpe ratios with variance V] (per bar).
    dsr
        Probability that the proposal's true Sharpe exceeds SR₀.
    pbo
        CSCV result on the sample.
    """

    configurations: int
    sampled: int
    n_effective: int
    sharpe_variance: float
    proposal_sharpe: float
    expected_max_sharpe: float
    dsr: float
    pbo: PBOResult
    bars_per_year: float
    sample_returns: np.ndarray

    def as_dict(self) -> dict[str, Any]:
        scale = math.sqrt(self.bars_per_year)
        return {
            "configurations": self.configurations,
            "sampled": self.sampled,
            "n_effective": self.n_effective,
            "sharpe_variance_annualised": self.sharpe_variance * self.bars_per_year,
            "proposal_sharpe": self.proposal_sharpe * scale,
            "expected_max_sharpe": self.expected_max_sharpe * scale,
            "dsr": self.dsr,
            "pbo": self.pbo.pbo,
            "pbo_prob_oos_loss": self.pbo.prob_oos_loss,
            "pbo_degradation_slope": self.pbo.degradation_slope,
        }


def search_overfitting(
    record: SearchRecord,
    search_bars: pd.DataFrame,
    strategy: type[Strategy],
    proposal: dict[str, float],
    *,
    config: EngineConfig,
    sample_size: int = SAMPLE_SIZE,
    seed: int = 0,
    pbo_blocks: int = 16,
) -> SearchOverfitting:
    """DSR of ``proposal`` against the whole search, and PBO of the search's selection (module doc).

    References
    ----------
    Bailey, D. H., & López de Prado, M. (2014). The deflated Sharpe ratio: correcting for selection bias,
    backtest overfitting and non-normality. Journal of Portfolio Management, 40(5), 94-107.
    Bailey, D. H., Borwein, J. M., López de Prado, M., & Zhu, Q. J. (2017). The probability of backtest
    overfitting. Journal of Computational Finance, 20(4), 39-69.
    """
    _check_bars(record, search_bars)
    if len(record) < 2:
        raise ValidationError(
            f"search record: {len(record)} configuration(s); the DSR and PBO need at least 2 tried "
            "configurations; re-run `tradeloop propose` with a search budget"
        )
    rows = record.sample(sample_size, seed)
    sample = returns_matrix(search_bars, strategy, record.rows(rows), config=config)
    own = sharpe_stats(returns_matrix(search_bars, strategy, [proposal], config=config)[:, 0])
    n_effective = effective_number_of_trials(sample)
    variance = float(np.var(record.per_bar_sharpes, ddof=1))
    return SearchOverfitting(
        configurations=len(record),
        sampled=len(rows),
        n_effective=n_effective,
        sharpe_variance=variance,
        proposal_sharpe=own.sharpe,
        expected_max_sharpe=expected_max_sharpe(n_effective, variance),
        dsr=deflated_sharpe_ratio(own, n_trials=n_effective, sharpe_variance=variance),
        pbo=probability_of_backtest_overfitting(sample, S=pbo_blocks),
        bars_per_year=float(periods_per_year(pd.DatetimeIndex(search_bars.index).as_unit("ns").asi8)),
        sample_returns=sample,
    )


def _check_bars(record: SearchRecord, search_bars: pd.DataFrame) -> None:
    expected = (record.bars.get("start"), record.bars.get("end"), record.bars.get("bars"))
    found = (search_bars.index[0].isoformat(), search_bars.index[-1].isoformat(), len(search_bars))
    if expected != found:
        raise ValidationError(
            f"search record: it covers {expected[2]} bars from {expected[0]} to {expected[1]}, but the "
            f"proposal's search bars are {found[2]} from {found[0]} to {found[1]}; the record belongs to "
            "another search; re-run `tradeloop propose`"
        )
