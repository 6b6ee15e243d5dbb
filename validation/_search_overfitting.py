"""In-sample overfitting of the whole search: Deflated Sharpe and PBO over every configuration it tried.

Both are computed on the **search bars** (the bars before the holdout boundary), because they ask about the
search itself, not about the proposal's out-of-sample evidence (the holdout test does that):

* **DSR** asks whether the search's selection — its best configuration, the one the proposal steps towards
  within the caps — has a true Sharpe ratio above what the best of ``N`` tries would show by luck. The
  selection universe is what the search could select: the configurations that met its hard constraints
  (``MIN_TRADES``, drawdown, win rate). **V** is the variance of the per-bar Sharpe ratios of **all** of
  them (not of a selected top), and **N** the number of clusters of correlated configurations in a uniform
  sample of at most ``sample_size`` (2,000) of them, so that near-copies of one parameter set count once
  (López de Prado's advice). The raw count of configurations tried (Stage A's prescreen rows and every
  Stage B trial) is reported beside it. Configurations that break a hard constraint can never be selected;
  counting a churning set's Sharpe of −40 in V would inflate the benchmark with trials that play no part
  in the maximum.
* **PBO** runs CSCV on the same unselected sample (no baseline column): a selected set, such as the top of
  a ranking, is biased towards overfitting by its selection alone.
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

__all__ = ["SAMPLE_SIZE", "SearchOverfitting", "check_record_bars", "search_overfitting"]

#: At most this many tried configurations are re-backtested to count clusters and run CSCV.
SAMPLE_SIZE = 2000


@dataclass(frozen=True)
class SearchOverfitting:
    """DSR of the search's selection and PBO of the search (per-bar Sharpe ratios).

    Attributes
    ----------
    configurations
        Every configuration the search evaluated (the raw count of trials).
    feasible
        How many met the hard constraints: the selection universe.
    sampled
        How many feasible ones were re-backtested (a uniform sample) for N and PBO.
    n_effective
        Clusters of correlated configurations in the sample: the DSR's N.
    sharpe_variance
        V, the variance of all feasible configurations' per-bar Sharpe ratios.
    selected_sharpe, proposal_sharpe
        Per-bar Sharpe ratio of the search's best feasible configuration and of the proposal.
    expected_max_sharpe
        SR₀ = E[max of N Sharpe ratios with variance V] (per bar).
    dsr
        Probability that the selection's true Sharpe exceeds SR₀.
    pbo
        CSCV result on the sample.
    """

    configurations: int
    feasible: int
    sampled: int
    n_effective: int
    sharpe_variance: float
    selected_sharpe: float
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
            "feasible": self.feasible,
            "sampled": self.sampled,
            "n_effective": self.n_effective,
            "sharpe_variance_annualised": self.sharpe_variance * self.bars_per_year,
            "selected_sharpe": self.selected_sharpe * scale,
            "proposal_sharpe": self.proposal_sharpe * scale,
            "expected_max_sharpe": self.expected_max_sharpe * scale,
            "dsr": self.dsr,
            "pbo": self.pbo.pbo,
            "pbo_prob_oos_loss": self.pbo.prob_oos_loss,
            "pbo_degradation_slope": self.pbo.degradation_slope,
        }

    @property
    def counted(self) -> str:
        """How N and V were counted, in words (for the verdict)."""
        return (
            f"N = {self.n_effective} clusters of correlated configurations in a uniform sample of "
            f"{self.sampled:,} of the {self.feasible:,} that met the hard constraints, of "
            f"{self.configurations:,} tried; V from all {self.feasible:,}"
        )


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
    """DSR of the search's selection and PBO of its selection process (module doc).

    Raises
    ------
    ValidationError
        The record covers other bars, or fewer than two configurations met the hard constraints.

    References
    ----------
    Bailey, D. H., & López de Prado, M. (2014). The deflated Sharpe ratio: correcting for selection bias,
    backtest overfitting and non-normality. Journal of Portfolio Management, 40(5), 94-107.
    Bailey, D. H., Borwein, J. M., López de Prado, M., & Zhu, Q. J. (2017). The probability of backtest
    overfitting. Journal of Computational Finance, 20(4), 39-69.
    López de Prado, M., & Lewis, M. J. (2019). Detection of false investment strategies using unsupervised
    learning methods. Quantitative Finance, 19(9), 1555-1565.
    """
    check_record_bars(record, search_bars)
    feasible = np.flatnonzero(record.feasible)
    if len(feasible) < 2:
        raise ValidationError(
            f"search record: {len(feasible)} of {len(record)} tried configurations met the hard constraints; "
            "the DSR and PBO need at least 2 the search could select from"
        )
    rows = record.sample(sample_size, seed)
    sample = returns_matrix(search_bars, strategy, record.rows(rows), config=config)
    sharpes = record.per_bar_sharpes[feasible]
    best = int(feasible[int(np.argmax(sharpes))])
    selected, own = (
        sharpe_stats(column)
        for column in returns_matrix(search_bars, strategy, [*record.rows([best]), proposal], config=config).T
    )
    n_effective = effective_number_of_trials(sample)
    variance = float(np.var(sharpes, ddof=1))
    return SearchOverfitting(
        configurations=len(record),
        feasible=len(feasible),
        sampled=len(rows),
        n_effective=n_effective,
        sharpe_variance=variance,
        selected_sharpe=selected.sharpe,
        proposal_sharpe=own.sharpe,
        expected_max_sharpe=expected_max_sharpe(n_effective, variance),
        dsr=deflated_sharpe_ratio(selected, n_trials=n_effective, sharpe_variance=variance),
        pbo=probability_of_backtest_overfitting(sample, S=pbo_blocks),
        bars_per_year=float(periods_per_year(pd.DatetimeIndex(search_bars.index).as_unit("ns").asi8)),
        sample_returns=sample,
    )


def check_record_bars(record: SearchRecord, search_bars: pd.DataFrame) -> None:
    """Refuse a record of another search: its bars must be the proposal's search bars."""
    expected = (record.bars.get("start"), record.bars.get("end"), record.bars.get("bars"))
    found = (search_bars.index[0].isoformat(), search_bars.index[-1].isoformat(), len(search_bars))
    if expected != found:
        raise ValidationError(
            f"search record: it covers {expected[2]} bars from {expected[0]} to {expected[1]}, but the "
            f"proposal's search bars are {found[2]} from {found[0]} to {found[1]}; the record belongs to "
            "another search; re-run `tradeloop propose`"
        )
