"""The fast version of benchmarks/validation_calibration.py: the whole decision (search included) on fresh
markets never passes a position-size-only change or the live parameters themselves."""

from __future__ import annotations

from pathlib import Path

import pytest

from gitops import load_constants
from validation import SCENARIOS, Thresholds, run_scenario

REPO_ROOT = Path(__file__).resolve().parents[2]


def _thresholds() -> Thresholds:
    constants = load_constants(REPO_ROOT / "config" / "constants.py")
    return Thresholds.from_constants(constants.guardrails, capital_usd=constants.trading_capital_usd)


@pytest.mark.parametrize("name", ["leverage only", "identical to live"])
def test_the_decision_never_passes_a_change_without_skill(name: str) -> None:
    scenario = next(s for s in SCENARIOS if s.name == name)
    result = run_scenario(scenario, 2, _thresholds(), seed=11, bars=12_000)
    assert result.proposals == 2  # the changes were validated, not skipped
    assert result.passes == 0 and result.false_passes == 0
    assert all(abs(truth) < 0.05 for truth in result.true_improvements)  # no real improvement to find
    assert result.upper_bound == pytest.approx(1 - 0.05 ** (1 / 2))  # Clopper–Pearson with 0 of 2


def test_a_lucky_third_look_at_a_random_walk_no_longer_passes() -> None:
    """Market 38 of the repeated-looks null: its third look passed at α before looks were counted (the one
    false pass in 60 of the first calibration); at α / 4 after two earlier looks it fails."""
    from dataclasses import replace

    from validation._calibration import LOOK_STEP, Budget, _look, generate_reverting

    scenario = next(s for s in SCENARIOS if s.name == "random walk, 3 looks")
    thresholds = replace(_thresholds(), fee_bps=0.0, slippage_bps=0.0)  # the scenario runs without costs
    budget = Budget(bars=24_000)
    step = int(LOOK_STEP * budget.bars)
    market = generate_reverting(bars=budget.bars + 2 * step, deviation_pct=0.0, seed=38)
    third = market.iloc[2 * step : 2 * step + budget.bars]
    assert _look(scenario, third, 38, thresholds, budget, earlier_looks=0).passed
    counted = _look(scenario, third, 38, thresholds, budget, earlier_looks=2)
    assert counted.proposed and not counted.passed and counted.true_improvement < 0
