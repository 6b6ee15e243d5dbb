"""Paired A/B: the candidate and the baseline backtested on the same bars, compared bar by bar.

Both parameter sets run through ``backtest_matrix.engine.backtest`` with the same costs, so their per-bar
returns are aligned row by row. On the pair:

* stationary-bootstrap CIs (rows resampled jointly) of the Sharpe difference and of the mean return
  difference (:func:`validation.paired_bootstrap_ci`);
* the Ledoit & Wolf (2008) HAC test of the Sharpe difference;
* power: the minimum track record (bars) for the candidate's Sharpe to exceed the baseline's at the
  confidence level (Bailey & López de Prado's MinTRL with the baseline's Sharpe as the benchmark).

Sharpe ratios are reported annualised (per-bar Sharpe × √bars per year); the statistics run per bar.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from backtest_matrix.engine import BacktestResult, EngineConfig, backtest, periods_per_year
from backtest_matrix.strategies import Strategy
from validation._bootstrap import PairedBootstrapCI, paired_bootstrap_ci, stationary_block_length
from validation._holdout_test import is_negligible
from validation._ledoit_wolf import SharpeDiffTest, ledoit_wolf_sharpe_test
from validation._sharpe import min_track_record_length, sharpe_ratio, sharpe_stats

__all__ = ["ABResult", "bars_per_year", "paired_ab"]


@dataclass(frozen=True)
class ABResult:
    """The outcome of :func:`paired_ab`.

    Attributes
    ----------
    candidate, baseline
        The two backtests (KPIs, trades, equity).
    bars_per_year
        Periods per year used to annualise Sharpe ratios.
    sharpe_diff_ci
        Bootstrap CI of the per-bar Sharpe difference (candidate − baseline).
    mean_diff_ci
        Bootstrap CI of the per-bar mean return difference (a fraction, not %).
    ledoit_wolf
        The HAC test, or None when a series is flat (e.g. a set that never trades) or the two do not differ.
    min_track_record_bars
        Bars needed to detect the observed improvement; ``inf`` when there is none.
    """

    candidate: BacktestResult = field(repr=False)
    baseline: BacktestResult = field(repr=False)
    bars_per_year: float
    sharpe_diff_ci: PairedBootstrapCI
    mean_diff_ci: PairedBootstrapCI
    ledoit_wolf: SharpeDiffTest | None
    min_track_record_bars: float

    @property
    def candidate_returns(self) -> np.ndarray:
        return self.candidate.returns.to_numpy(np.float64)

    @property
    def baseline_returns(self) -> np.ndarray:
        return self.baseline.returns.to_numpy(np.float64)

    @property
    def candidate_sharpe(self) -> float:
        """Annualised Sharpe of the candidate's per-bar returns."""
        return sharpe_ratio(self.candidate_returns) * math.sqrt(self.bars_per_year)

    @property
    def baseline_sharpe(self) -> float:
        return sharpe_ratio(self.baseline_returns) * math.sqrt(self.bars_per_year)

    @property
    def delta_sharpe(self) -> float:
        """Annualised Sharpe of the candidate minus the baseline's: the effect size."""
        return self.candidate_sharpe - self.baseline_sharpe

    @property
    def sharpe_diff_ci_annualised(self) -> tuple[float, float]:
        scale = math.sqrt(self.bars_per_year)
        return (self.sharpe_diff_ci.low * scale, self.sharpe_diff_ci.high * scale)

    @property
    def mean_diff_ci_pct(self) -> tuple[float, float]:
        return (100.0 * self.mean_diff_ci.low, 100.0 * self.mean_diff_ci.high)


def bars_per_year(bars: pd.DataFrame) -> float:
    """Bars per year observed in ``bars`` (the engine's annualisation)."""
    return float(periods_per_year(pd.DatetimeIndex(bars.index).as_unit("ns").asi8))


def paired_ab(
    bars: pd.DataFrame,
    strategy: str | type[Strategy],
    baseline_params: Mapping[str, float],
    candidate_params: Mapping[str, float],
    *,
    config: EngineConfig | None = None,
    level: float = 0.95,
    reps: int = 2000,
    seed: int = 0,
    block_length: int | None = None,
    min_block_length: int = 1,
) -> ABResult:
    """Backtest baseline and candidate on the same bars and compare them.

    Parameters
    ----------
    bars
        The bars both run on.
    strategy
        Strategy name or class.
    baseline_params, candidate_params
        The live parameters (``params_before``) and the proposed ones (``params_after``).
    config
        Engine costs (fee, slippage) and initial cash, the same for both.
    level
        Confidence level of the CIs and of the power figure.
    reps, seed, block_length
        Bootstrap replications, seed and mean block length (None: Politis–White on the differential).
    min_block_length
        Floor of the estimated block length (BOOTSTRAP_BLOCK_LENGTH).
    """
    baseline = backtest(bars, strategy, dict(baseline_params), config=config)
    candidate = backtest(bars, strategy, dict(candidate_params), config=config)
    r_a = candidate.returns.to_numpy(np.float64)
    r_b = baseline.returns.to_numpy(np.float64)
    if block_length is None:
        block_length = max(min_block_length, stationary_block_length(r_a - r_b))
    sharpe_ci = paired_bootstrap_ci(r_a, r_b, "sharpe_diff", reps, level, seed, block_length)
    mean_ci = paired_bootstrap_ci(r_a, r_b, "mean_diff", reps, level, seed, block_length)
    flat = np.ptp(r_a) == 0.0 or np.ptp(r_b) == 0.0 or is_negligible(r_a - r_b, r_b)
    stats = sharpe_stats(r_a)
    return ABResult(
        candidate=candidate,
        baseline=baseline,
        bars_per_year=bars_per_year(bars),
        sharpe_diff_ci=sharpe_ci,
        mean_diff_ci=mean_ci,
        ledoit_wolf=None if flat else ledoit_wolf_sharpe_test(r_a, r_b),
        min_track_record_bars=min_track_record_length(
            stats.sharpe, sharpe_ratio(r_b), stats.skew, stats.kurtosis, probability=level
        ),
    )
