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
