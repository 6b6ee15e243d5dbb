"""Bounded proposals: delta caps, integer rounding, zero current values, knob choice and no-change reasons."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from optimizer import AppliedChange, ChangeBudget, bound_proposal, clip_parameters, expected_gains
from tradeloop.errors import OptimizerError

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
BOUNDS = {
    "ema_fast": (2.0, 200.0),
    "ema_slow": (3.0, 500.0),
    "stop_loss_pct": (0.0, 50.0),
    "tp": (0.0, 200.0),
}
INTS = {"ema_fast", "ema_slow"}
CURRENT = {"ema_fast": 12.0, "ema_slow": 26.0, "stop_loss_pct": 2.0, "tp": 4.0}


def propose(best: dict[str, float], gains: dict[str, float], **overrides: object):  # type: ignore[no-untyped-def]
    arguments: dict[str, object] = {
        "strategy": "ema_cross", "symbol": "SP500", "hard_bounds": BOUNDS, "int_params": INTS,
        "max_delta": 0.2, "max_knobs": 3, "expected_gain": gains, "history": [], "now": NOW,
        "cooldown_hours": 6, "change_budget": ChangeBudget(6, 168),
    }  # fmt: skip
    arguments.update(overrides)
    return bound_proposal(CURRENT, best, **arguments)  # type: ignore[arg-type]


def test_moves_are_clipped_to_the_cap_then_to_the_bounds() -> None:
    clipped = clip_parameters(
        {"a": 10.0, "b": 1.0, "c": 5.0}, {"a": 30.0, "b": 1.1, "c": 0.0},
        hard_bounds={"a": (0.0, 11.0), "b": (0.0, 5.0), "c": (0.0, 100.0)},
    )  # fmt: skip
    assert (clipped["a"].proposed, clipped["a"].binding) == (11.0, "bound")  # cap 12 -> bound 11
    assert (clipped["b"].proposed, clipped["b"].binding) == (1.1, "none")
    assert (clipped["c"].proposed, clipped["c"].binding) == (4.0, "cap")
    assert clipped["c"].delta_pct == pytest.approx(-20.0)


def test_integers_round_towards_the_current_value_so_the_cap_holds() -> None:
    clipped = clip_parameters(
        {"up": 12.0, "down": 26.0, "small": 3.0}, {"up": 40.0, "down": 3.0, "small": 9.0},
        hard_bounds={"up": (2.0, 200.0), "down": (3.0, 500.0), "small": (2.0, 10.0)},
        int_params={"up", "down", "small"},
    )  # fmt: skip
    assert clipped["up"].proposed == 14.0  # 12 * 1.2 = 14.4 -> 14, never 15
    assert clipped["down"].proposed == 21.0  # 26 * 0.8 = 20.8 -> 21, never 20
    assert clipped["small"].proposed == 3.0 and not clipped["small"].moves  # a step of 0.6 cannot move


def test_zero_current_value_moves_by_the_cap_of_the_hard_range() -> None:
    clipped = clip_parameters({"stop": 0.0}, {"stop": 30.0}, hard_bounds={"stop": (0.0, 50.0)}, max_delta=0.2)
    assert clipped["stop"].proposed == 10.0 and clipped["stop"].binding == "cap"
    assert clipped["stop"].delta_pct == pytest.approx(20.0)  # in % of the hard range


def test_knobs_are_chosen_by_expected_gain_with_ties_broken_by_name() -> None:
    best = {"ema_fast": 14.0, "ema_slow": 30.0, "stop_loss_pct": 2.4, "tp": 4.8}
    gains = {"ema_fast": 0.1, "ema_slow": 0.3, "stop_loss_pct": 0.3, "tp": 0.05}
    proposal = propose(best, gains, max_knobs=2)
    assert proposal.status == "proposed"
    assert [c.parameter for c in proposal.changes] == ["ema_slow", "stop_loss_pct"]
    assert proposal.params_after == {**CURRENT, "ema_slow": 30.0, "stop_loss_pct": 2.4}
    change = proposal.changes[0]
    assert change.as_dict()["bound"] == "[3, 500]" and change.cap_pct == 20.0 and change.expected_gain == 0.3


def test_parameters_without_gain_are_not_changed() -> None:
    proposal = propose({"ema_fast": 14.0, "tp": 4.8}, {"ema_fast": -0.2, "tp": 0.0})
    assert proposal.status == "no_change" and proposal.reason is not None
    assert proposal.reason.startswith("no gain") and proposal.params_after == CURRENT


def test_nothing_to_move_is_a_no_change() -> None:
    proposal = propose(dict(CURRENT), {})
    assert proposal.status == "no_change" and "no parameter moves" in str(proposal.reason)


def test_cooldown_refuses_within_the_hours_after_the_last_applied_change() -> None:
    recent = AppliedChange("ema_cross", "SP500", NOW - timedelta(hours=5), ("tp",))
    other_pair = AppliedChange("ema_cross", "NASDAQ", NOW - timedelta(hours=1), ("tp",))
    proposal = propose({"tp": 4.8}, {"tp": 1.0}, history=[recent, other_pair])
    assert proposal.status == "no_change" and str(proposal.reason).startswith("cooldown")
    assert "OPTIMIZER_COOLDOWN_HOURS=6" in str(proposal.reason)
    later = propose({"tp": 4.8}, {"tp": 1.0}, history=[recent], now=NOW + timedelta(hours=1, seconds=1))
    assert later.status == "proposed"


def test_change_budget_counts_changed_parameters_in_the_rolling_window() -> None:
    history = [
        AppliedChange("ema_cross", "SP500", NOW - timedelta(hours=100), ("tp", "ema_fast", "ema_slow")),
        AppliedChange("ema_cross", "SP500", NOW - timedelta(hours=50), ("tp", "stop_loss_pct")),
        AppliedChange("ema_cross", "SP500", NOW - timedelta(hours=200), ("tp", "stop_loss_pct")),  # expired
    ]
    best = {"ema_fast": 14.0, "ema_slow": 30.0, "tp": 4.8}
    gains = {"ema_fast": 0.1, "ema_slow": 0.2, "tp": 0.3}
    proposal = propose(best, gains, history=history)
    assert [c.parameter for c in proposal.changes] == ["tp"]  # 5 of 6 used: one knob left
    spent = propose(
        best,
        gains,
        history=[*history, AppliedChange("ema_cross", "SP500", NOW - timedelta(hours=7), ("tp",))],
    )
    assert spent.status == "no_change" and str(spent.reason).startswith("change budget spent")


def constrained(best: dict[str, float]):  # type: ignore[no-untyped-def]
    return bound_proposal(
        {"ema_fast": 20.0, "ema_slow": 23.0}, best, strategy="s", symbol="x", hard_bounds=BOUNDS,
        int_params=INTS, max_knobs=3, expected_gain={"ema_fast": 2.0, "ema_slow": 1.0}, now=NOW,
        cooldown_hours=6, change_budget=ChangeBudget(6, 168),
        feasible=lambda p: p["ema_fast"] < p["ema_slow"],
    )  # fmt: skip


def test_a_knob_that_breaks_a_constraint_waits_until_another_makes_room() -> None:
    proposal = constrained({"ema_fast": 24.0, "ema_slow": 27.0})
    assert [c.parameter for c in proposal.changes] == ["ema_slow", "ema_fast"]  # fast 24 needs slow 27 first
    assert proposal.params_after == {"ema_fast": 24.0, "ema_slow": 27.0}


def test_moves_that_all_break_a_constraint_give_no_change() -> None:
    proposal = constrained({"ema_fast": 24.0, "ema_slow": 19.0})
    assert proposal.status == "no_change" and str(proposal.reason).startswith("constraints")


def test_current_value_outside_its_bounds_is_a_clear_error() -> None:
    with pytest.raises(
        OptimizerError, match=r"ema_fast: current value 1.0 is outside its hard bounds \[2, 200\]"
    ):
        clip_parameters({"ema_fast": 1.0}, {}, hard_bounds=BOUNDS)


def test_expected_gains_move_one_parameter_at_a_time_in_one_batch() -> None:
    batches: list[list[dict[str, float]]] = []

    def evaluate(batch):  # type: ignore[no-untyped-def]
        batches.append([dict(p) for p in batch])
        return [p["a"] * 2 + p["b"] if p["b"] < 10 else float("nan") for p in batch]

    current = {"a": 1.0, "b": 5.0, "c": 3.0}
    clipped = clip_parameters(
        current, {"a": 1.1, "b": 20.0}, hard_bounds={"a": (0, 9), "b": (0, 99), "c": (0, 9)}, max_delta=1.0
    )
    gains = expected_gains(current, clipped, evaluate)
    assert len(batches) == 1 and batches[0][0] == current
    assert gains["a"] == pytest.approx(0.2) and gains["b"] == float("-inf") and "c" not in gains
