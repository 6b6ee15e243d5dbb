"""Each gate passes on a good input and fails on a planted failing one; thresholds come from the constants."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from gitops import load_constants
from tradeloop.errors import ValidationError
from validation import GateInputs, Thresholds, evaluate_gates


@pytest.fixture
def thresholds(repo_root: Path) -> Thresholds:
    constants = load_constants(repo_root / "config" / "constants.py")
    return Thresholds.from_constants(constants.guardrails, capital_usd=100.0)


GOOD = GateInputs(
    trades=60,
    delta_sharpe=0.4,
    holdout_p=0.01,
    stepm_t=3.0,
    stepm_critical=2.1,
    sharpe_diff_ci_low=0.1,
    risk_params_changed=("stop_loss_pct",),
    dsr=0.97,
    pbo=0.2,
    max_drawdown_pct=6.0,
    win_rate_pct=55.0,
    worst_day_pct=-2.0,
    fold_sharpe_cv=0.7,
    max_fold_drawdown_pct=9.0,
    walk_forward_gain=0.3,
    spa_search_p=0.01,
)

# gate name -> a field of GOOD set to a value that must fail it (with the real constants)
PLANTED = {
    "min_trades": ("trades", 29),
    "effect_size": ("delta_sharpe", 0.049),
    "holdout_sharpe_test": ("holdout_p", 0.05),
    "stepm_superior": ("stepm_t", 2.1),
    "risk_change_confidence": ("sharpe_diff_ci_low", 0.0),
    "max_drawdown": ("max_drawdown_pct", 8.01),
    "win_rate": ("win_rate_pct", 39.9),
    "worst_daily_loss": ("worst_day_pct", -5.01),  # 5.01 USD on 100 USD
    "deflated_sharpe": ("dsr", 0.9499),
    "pbo": ("pbo", 0.51),
    "fold_stability": ("fold_sharpe_cv", 1.51),
    "catastrophic_fold": ("max_fold_drawdown_pct", 16.01),
    "walk_forward_gain": ("walk_forward_gain", -0.01),
}
INFO = ("spa_search",)


def test_thresholds_are_read_from_the_constants(thresholds: Thresholds) -> None:
    assert (thresholds.min_trades, thresholds.confidence_level, thresholds.max_drawdown_pct) == (
        30,
        0.95,
        8.0,
    )
    assert (thresholds.min_sharpe_improvement, thresholds.min_deflated_sharpe, thresholds.max_pbo) == (
        0.05,
        0.95,
        0.5,
    )
    assert thresholds.alpha == pytest.approx(0.05)


def test_every_gate_passes_on_a_good_candidate(thresholds: Thresholds) -> None:
    gates = evaluate_gates(GOOD, thresholds)
    assert [gate.name for gate in gates] == [*PLANTED, *INFO]
    failed = [gate.name for gate in gates if not gate.passed]
    assert failed == []
    assert [gate.name for gate in gates if not gate.gating] == list(INFO)


def test_each_gate_names_the_bars_it_is_measured_on(thresholds: Thresholds) -> None:
    bars = {gate.name: gate.bars for gate in evaluate_gates(GOOD, thresholds)}
    holdout = {"min_trades", "effect_size", "holdout_sharpe_test", "stepm_superior", "risk_change_confidence",
               "max_drawdown", "win_rate", "worst_daily_loss"}  # fmt: skip
    assert {name for name, where in bars.items() if where == "holdout"} == holdout
    assert {name for name, where in bars.items() if where == "search"} == {
        "deflated_sharpe",
        "pbo",
        "spa_search",
    }
    assert {name for name, where in bars.items() if where == "walk-forward"} == {
        "fold_stability", "catastrophic_fold", "walk_forward_gain"
    }  # fmt: skip


def test_without_a_search_record_only_the_holdout_gates_decide(thresholds: Thresholds) -> None:
    alone = dataclasses.replace(GOOD, search_record=False, dsr=None, pbo=None, fold_sharpe_cv=9.0)
    gates = evaluate_gates(alone, thresholds)
    gating = {gate.name for gate in gates if gate.gating}
    assert gating == {gate.name for gate in gates if gate.bars == "holdout"}
    assert all(gate.passed for gate in gates if gate.gating)
    assert all(
        "holdout alone" in gate.detail
        for gate in gates
        if gate.bars != "holdout" and gate.name != "spa_search"
    )


@pytest.mark.parametrize("gate_name", list(PLANTED))
def test_each_gate_fails_on_its_planted_failure_and_only_it(thresholds: Thresholds, gate_name: str) -> None:
    field, value = PLANTED[gate_name]
    changes: dict[str, Any] = {field: value}
    gates = evaluate_gates(dataclasses.replace(GOOD, **changes), thresholds)
    failed = [gate for gate in gates if not gate.passed]
    assert [gate.name for gate in failed] == [gate_name]
    assert failed[0].gating


def test_the_confidence_gate_gates_only_risk_parameter_changes(thresholds: Thresholds) -> None:
    no_risk = dataclasses.replace(GOOD, risk_params_changed=(), sharpe_diff_ci_low=-0.1)
    gate = {g.name: g for g in evaluate_gates(no_risk, thresholds)}["risk_change_confidence"]
    assert not gate.passed and not gate.gating and "no risk parameter" in gate.detail
    risky = dataclasses.replace(GOOD, risk_params_changed=("trade_fraction",), sharpe_diff_ci_low=-0.1)
    gate = {g.name: g for g in evaluate_gates(risky, thresholds)}["risk_change_confidence"]
    assert not gate.passed and gate.gating and "trade_fraction" in gate.detail


def test_catastrophic_fold_is_twice_the_drawdown_limit(thresholds: Thresholds) -> None:
    def gate(drawdown: float) -> bool:
        inputs = dataclasses.replace(GOOD, max_fold_drawdown_pct=drawdown)
        return {g.name: g for g in evaluate_gates(inputs, thresholds)}["catastrophic_fold"].passed

    assert gate(16.0) and not gate(16.5) and not gate(40.0)
    # A fold may breach the plain 8% limit without being catastrophic.
    assert gate(12.0)


def test_daily_loss_is_converted_to_usd_with_the_capital(thresholds: Thresholds) -> None:
    inputs = dataclasses.replace(GOOD, worst_day_pct=-2.0)
    small = {g.name: g for g in evaluate_gates(inputs, thresholds)}["worst_daily_loss"]
    assert small.figure == pytest.approx(2.0) and small.passed and small.unit == "USD"
    large = {g.name: g for g in evaluate_gates(inputs, dataclasses.replace(thresholds, capital_usd=1000.0))}
    assert large["worst_daily_loss"].figure == pytest.approx(20.0) and not large["worst_daily_loss"].passed
    gaining = dataclasses.replace(GOOD, worst_day_pct=0.5)  # every day gains: no loss at all
    assert {g.name: g for g in evaluate_gates(gaining, thresholds)}["worst_daily_loss"].figure == 0.0


def test_a_figure_that_could_not_be_computed_fails(thresholds: Thresholds) -> None:
    for field in ("dsr", "pbo", "fold_sharpe_cv", "holdout_p", "stepm_t", "walk_forward_gain"):
        missing: dict[str, Any] = {field: None}
        gates = evaluate_gates(dataclasses.replace(GOOD, **missing), thresholds)
        failed = [gate for gate in gates if not gate.passed]
        assert len(failed) == 1 and failed[0].figure is None and "not computed" in failed[0].detail
    nan = evaluate_gates(dataclasses.replace(GOOD, delta_sharpe=float("nan")), thresholds)
    assert [gate.name for gate in nan if not gate.passed] == ["effect_size"]


def test_gate_records_carry_contract_fields(thresholds: Thresholds) -> None:
    record = evaluate_gates(GOOD, thresholds)[0].as_dict()
    assert set(record) == {"name", "figure", "threshold", "op", "unit", "passed", "gating", "detail", "bars"}
    assert record["op"] in {">=", "<=", "<", ">"}


def test_missing_constants_are_named() -> None:
    with pytest.raises(ValidationError, match=r"MAX_PBO.*config/constants\.py"):
        Thresholds.from_constants({"MIN_TRADES": 30})
    with pytest.raises(ValidationError, match="CONFIDENCE_LEVEL must be in"):
        Thresholds.from_constants(
            {
                "MIN_TRADES": 30, "CONFIDENCE_LEVEL": 1.5, "MIN_SHARPE_IMPROVEMENT": 0.05,
                "MIN_DEFLATED_SHARPE": 0.95, "MAX_FOLD_SHARPE_CV": 1.5, "MAX_PBO": 0.5,
                "MAX_DRAWDOWN_PCT": 8.0, "MIN_WIN_RATE_PCT": 40.0, "MAX_DAILY_LOSS_USD": 5.0,
                "BOOTSTRAP_BLOCK_LENGTH": 10, "BOOTSTRAP_REPLICATIONS": 2000, "FEE_BPS": 10.0,
                "SLIPPAGE_BPS": 5.0,
            }
        )  # fmt: skip


def test_each_earlier_look_at_the_holdout_halves_the_level(thresholds: Thresholds) -> None:
    assert thresholds.for_look(None) is thresholds and thresholds.for_look(0) is thresholds
    assert [thresholds.for_look(k).alpha for k in range(4)] == [0.05, 0.025, 0.0125, 0.00625]
    # geometric spending: any number of looks together spend at most 2α (the union bound)
    assert sum(thresholds.for_look(k).alpha for k in range(31)) < 2 * thresholds.alpha
    assert thresholds.for_look(1000).alpha == pytest.approx(0.05 / 2**30)
    lucky = dataclasses.replace(GOOD, holdout_p=0.03)
    holdout_test = {gate.name: gate for gate in evaluate_gates(lucky, thresholds)}["holdout_sharpe_test"]
    assert holdout_test.passed
    again = {gate.name: gate for gate in evaluate_gates(lucky, thresholds.for_look(1))}["holdout_sharpe_test"]
    assert not again.passed and again.threshold == 0.025
    with pytest.raises(ValidationError, match="earlier_looks must be ≥ 0"):
        thresholds.for_look(-1)
