"""Calibration of the whole decision: how often it passes when nothing real improved, and when something did.

Each repetition builds a fresh seeded market (``backtest_matrix.data.generate_reverting``), runs the real
optimizer on it (holdout, Stage A, Stage B, guardrails; small budgets) and validates its proposal with the
shipped gates. What the proposal is depends on the scenario:

* ``search`` — the optimizer's own proposal;
* ``leverage`` — the live parameters with only ``trade_fraction`` scaled by 1.2 (a position-size change);
* ``identical`` — the live parameters themselves.

The **truth** of each proposal is known: its Sharpe ratio minus the live parameters', both backtested on a
long independent stretch of the same market (another seed, :data:`TRUTH_BARS` bars). A pass is **false**
when that true improvement is at most ``MIN_SHARPE_IMPROVEMENT``: the null hypothesis of the gating test.
Null scenarios report the false-pass rate with its Monte Carlo standard error and the one-sided 95 %
Clopper–Pearson upper bound; planted scenarios report the pass rate (the power of all gates together)
against the mean true improvement. ``looks > 1`` validates the same pair again after each of ``looks − 1``
later cycles (the window moves on by :data:`LOOK_STEP` of its bars, so the holdouts overlap) and counts a
repetition as passed when any look passes: the repeated-looks error of a cycle that re-tests its holdout.
Each look is validated as the loop validates it, with the count of the earlier looks at overlapping bars
(:meth:`Thresholds.for_look`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from backtest_matrix.data import generate_reverting
from backtest_matrix.engine import EngineConfig, backtest, periods_per_year
from optimizer import Guardrails, ProposalRequest, make_proposal
from tradeloop import data_hash
from tradeloop.documents import Proposal, proposal_hash
from validation._gates import Thresholds
from validation._verdict import WalkForwardSettings, validate_proposal

__all__ = [
    "DEFAULT_BARS",
    "LOOK_STEP",
    "SCENARIOS",
    "TRUTH_BARS",
    "Budget",
    "CalibrationResult",
    "Repetition",
    "Scenario",
    "run_repetition",
    "run_scenario",
    "summarise",
]

Proposed = Literal["search", "leverage", "identical"]
TRUTH_BARS = 200_000
LOOK_STEP = 0.05
DEFAULT_BARS = 24_000
_CHURNING = {"rsi_period": 6, "oversold": 35.0, "overbought": 55.0, "trade_fraction": 0.1}
_NEAR_OPTIMAL = {"rsi_period": 10, "oversold": 30.0, "overbought": 65.0, "trade_fraction": 0.1}


@dataclass(frozen=True)
class Scenario:
    """A market, live parameters, what is proposed, and whether a pass can be right at all."""

    name: str
    kind: Literal["null", "planted"]
    live: Mapping[str, float]
    proposed: Proposed = "search"
    deviation_pct: float = 1.2
    looks: int = 1
    description: str = ""
    #: False: no fees and no slippage, in the search, the validation and the truth. On a random walk every
    #: parameter set then has a true Sharpe of about 0, so whatever the search finds is fitted noise; with
    #: costs, trading less is a real improvement there and the scenario would not be a null.
    costs: bool = True


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("random walk, real search", "null", _NEAR_OPTIMAL, deviation_pct=0.0, costs=False,
             description="no reversion and no costs: no parameter set has an edge; the optimizer searches "
             "as usual"),
    Scenario("leverage only", "null", _CHURNING, proposed="leverage",
             description="planted market; only trade_fraction moves, 0.1 -> 0.12"),
    Scenario("identical to live", "null", _CHURNING, proposed="identical",
             description="planted market; the proposal is the live parameters"),
    Scenario("near-optimal live, real search", "null", _NEAR_OPTIMAL,
             description="planted market; the live set is already near the best, so a step is search noise"),
    Scenario("random walk, 3 looks", "null", _NEAR_OPTIMAL, deviation_pct=0.0, looks=3, costs=False,
             description="as the first, validated again after two later cycles on overlapping holdouts"),
    Scenario("planted, weak", "planted", _CHURNING, deviation_pct=0.9,
             description="reversion 0.9 % deep; the live set churns into costs"),
    Scenario("planted, medium", "planted", _CHURNING, deviation_pct=1.2,
             description="reversion 1.2 % deep (the tests' planted market)"),
    Scenario("planted, strong", "planted", _CHURNING, deviation_pct=1.6,
             description="reversion 1.6 % deep"),
)  # fmt: skip


@dataclass(frozen=True)
class Repetition:
    """One market of a scenario: whether a proposal was validated, whether it passed, and its truth."""

    proposed: bool
    passed: bool
    true_improvement: float


@dataclass(frozen=True)
class CalibrationResult:
    """Pass counts of one scenario; ``false_passes`` counts passes whose true improvement is ≤ the margin."""

    scenario: Scenario
    repetitions: int
    proposals: int
    passes: int
    false_passes: int
    true_improvements: tuple[float, ...] = field(repr=False)

    @property
    def pass_rate(self) -> float:
        return self.passes / self.repetitions

    @property
    def false_pass_rate(self) -> float:
        return self.false_passes / self.repetitions

    @property
    def standard_error(self) -> float:
        """Monte Carlo standard error of the (false-)pass rate the scenario is judged by."""
        rate = self.false_pass_rate if self.scenario.kind == "null" else self.pass_rate
        return math.sqrt(rate * (1.0 - rate) / self.repetitions)

    @property
    def upper_bound(self) -> float:
        """One-sided 95 % Clopper–Pearson upper bound of the false-pass rate."""
        count, total = self.false_passes, self.repetitions
        return 1.0 if count >= total else float(stats.beta.ppf(0.95, count + 1, total - count))

    @property
    def mean_true_improvement(self) -> float:
        return float(np.nanmean(self.true_improvements)) if self.true_improvements else math.nan

    def as_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario.name,
            "kind": self.scenario.kind,
            "repetitions": self.repetitions,
            "proposals": self.proposals,
            "passes": self.passes,
            "pass_rate": self.pass_rate,
            "false_passes": self.false_passes,
            "false_pass_rate": self.false_pass_rate,
            "standard_error": self.standard_error,
            "upper_bound_95": self.upper_bound,
            "mean_true_improvement": self.mean_true_improvement,
        }


@dataclass(frozen=True)
class Budget:
    """How big each repetition is: bars of the market, the search's budget, bootstrap resamples, the
    sample of configurations for N and PBO (the defaults are the benchmark's small budgets)."""

    bars: int = DEFAULT_BARS
    prescreen_n: int = 2_000
    trials: int = 12
    reps: int = 200
    sample_size: int = 500


def summarise(scenario: Scenario, outcomes: list[Repetition], margin: float) -> CalibrationResult:
    """Count the passes, and the false ones (true improvement ≤ ``margin``), of a scenario's repetitions."""
    return CalibrationResult(
        scenario=scenario,
        repetitions=len(outcomes),
        proposals=sum(outcome.proposed for outcome in outcomes),
        passes=sum(outcome.passed for outcome in outcomes),
        false_passes=sum(outcome.passed and outcome.true_improvement <= margin for outcome in outcomes),
        true_improvements=tuple(outcome.true_improvement for outcome in outcomes if outcome.proposed),
    )


def run_repetition(
    scenario: Scenario,
    index: int,
    thresholds: Thresholds,
    *,
    seed: int = 0,
    bars: int = DEFAULT_BARS,
    budget: Budget | None = None,
) -> Repetition:
    """Repetition ``index`` of ``scenario``: its own market seed, the optimizer, validation, the truth."""
    if not scenario.costs:
        thresholds = replace(thresholds, fee_bps=0.0, slippage_bps=0.0)
    return _repetition(scenario, seed * 100_003 + index, thresholds, budget or Budget(bars=bars))


def run_scenario(
    scenario: Scenario,
    repetitions: int,
    thresholds: Thresholds,
    *,
    seed: int = 0,
    bars: int = DEFAULT_BARS,
) -> CalibrationResult:
    """Run ``repetitions`` independent markets of ``scenario`` through the optimizer and validation."""
    outcomes = [run_repetition(scenario, i, thresholds, seed=seed, bars=bars) for i in range(repetitions)]
    return summarise(scenario, outcomes, thresholds.min_sharpe_improvement)


def _repetition(scenario: Scenario, seed: int, thresholds: Thresholds, budget: Budget) -> Repetition:
    step = int(LOOK_STEP * budget.bars)
    market = generate_reverting(
        bars=budget.bars + step * (scenario.looks - 1), deviation_pct=scenario.deviation_pct, seed=seed
    )
    looks = [
        _look(scenario, market.iloc[look * step : look * step + budget.bars], seed, thresholds, budget, look)
        for look in range(scenario.looks)
    ]
    passing = [look for look in looks if look.passed]
    chosen = passing[0] if passing else looks[0]
    return Repetition(any(look.proposed for look in looks), bool(passing), chosen.true_improvement)


def _look(
    scenario: Scenario, bars: pd.DataFrame, seed: int, thresholds: Thresholds, budget: Budget,
    earlier_looks: int,
) -> Repetition:  # fmt: skip
    engine = EngineConfig(fee_bps=thresholds.fee_bps, slippage_bps=thresholds.slippage_bps)
    request = ProposalRequest(
        strategy="rsi_reversion", symbol="SIM", timeframe="15m", cadence="daily", bars=bars,
        data={"source": "calibration", "timeframe": "15m", "data_hash": data_hash(bars)},
        current=dict(scenario.live), run_id="calibration", git_sha="calibration", now=datetime.now(UTC),
        trials=budget.trials, seed=seed, storage="memory", top_k=5, prescreen_n=budget.prescreen_n,
    )  # fmt: skip
    guardrails = Guardrails(
        min_trades=thresholds.min_trades, max_drawdown_pct=thresholds.max_drawdown_pct,
        min_win_rate_pct=thresholds.min_win_rate_pct,
    )  # fmt: skip
    outcome = make_proposal(request, guardrails=guardrails, engine_config=engine)
    proposal = _proposed(outcome.proposal, scenario.proposed)
    if proposal is None:
        return Repetition(False, False, math.nan)
    verdict = validate_proposal(
        proposal, bars, thresholds, search_record=outcome.record, seed=seed, reps=budget.reps,
        settings=WalkForwardSettings(sample_size=budget.sample_size), earlier_looks=earlier_looks,
    )  # fmt: skip
    return Repetition(True, verdict.passed, _true_improvement(scenario, proposal, seed, thresholds))


def _proposed(proposal: Proposal, proposed: Proposed) -> Proposal | None:
    """The proposal validation sees: the optimizer's, or the leverage-only / identical variant of it."""
    if proposed == "search":
        return proposal if proposal.proposed else None
    if proposal.holdout is None:
        return None
    before = dict(proposal.params_before)
    after = (
        {**before, "trade_fraction": float(before["trade_fraction"]) * 1.2}
        if proposed == "leverage"
        else before
    )
    return replace(
        proposal, status="proposed", reason=None, params_after=after,
        proposal_hash=proposal_hash(proposal.strategy, proposal.symbol, proposal.timeframe, after),
    )  # fmt: skip


def _true_improvement(scenario: Scenario, proposal: Proposal, seed: int, thresholds: Thresholds) -> float:
    """Annualised Sharpe of the proposal minus the live set's on a long independent stretch of the market."""
    long_run = generate_reverting(bars=TRUTH_BARS, deviation_pct=scenario.deviation_pct, seed=seed + 10**9)
    config = EngineConfig(
        fee_bps=thresholds.fee_bps, slippage_bps=thresholds.slippage_bps, init_cash=thresholds.capital_usd
    )
    annual = math.sqrt(periods_per_year(pd.DatetimeIndex(long_run.index).as_unit("ns").asi8))
    sharpes = []
    for params in (proposal.params_after, proposal.params_before):
        returns = backtest(long_run, proposal.strategy, dict(params), config=config).returns.to_numpy()
        spread = float(np.std(returns, ddof=1))
        sharpes.append(float(np.mean(returns)) / spread * annual if spread > 0 else 0.0)
    return sharpes[0] - sharpes[1]
