"""The risk label measures how much a proposal changes the risk taken, with the documented thresholds.

Each case is a proposal made by the optimizer's own guardrail code (:func:`tests.gitops.proposals
.make_proposal`): the risk parameters it moves and its KPIs before → after on the same bars.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from backtest_matrix.engine import RISK_NAMES
from gitops import risk_change, risk_label
from gitops._pr_text import (
    RISK_DRAWDOWN_FLOOR_PCT,
    RISK_HIGH_PCT,
    RISK_MEDIUM_PCT,
    RISK_PARAMS,
    RISK_WORST_DAY_FLOOR_PCT,
)
from tests.gitops.proposals import KPIS_BEFORE, live_params, make_proposal, reviewed_proposal, typed

DOCS = Path(__file__).resolve().parents[2] / "docs" / "gitops.md"
#: ema_cross on SP500 with a 2 % stop and a 10 % position: a stop and a size a proposal can move.
LIVE = {**live_params("ema_cross", "SP500"), "stop_loss_pct": 2.0, "trade_fraction": 0.1}


def kpis(drawdown: float, worst_day: float) -> dict[str, Any]:
    overall = {**KPIS_BEFORE["overall"], "max_drawdown_pct": drawdown, "worst_day_pct": worst_day}
    return {"overall": overall, "regimes": {}}


def proposal(
    targets: dict[str, float],
    *,
    before: dict[str, float] | None = None,
    drawdown: tuple[float, float] = (8.0, 8.0),
    worst_day: tuple[float, float] = (-0.6, -0.6),
    max_delta: float = 0.2,
) -> dict[str, Any]:
    return make_proposal(
        "ema_cross", "SP500", targets, before=before or LIVE, max_delta=max_delta,
        kpis_before=kpis(drawdown[0], worst_day[0]), kpis_after=kpis(drawdown[1], worst_day[1]),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("case", "made", "label"),
    [
        # Signal-only moves (the EMA periods): the size of the move does not matter, the KPIs do.
        ("band tweak at its cap, lower drawdown", proposal({"ema_fast": 20.0}, drawdown=(8.0, 6.0)),
         "risk:low"),
        ("band tweak, drawdown +10 % exactly", proposal({"ema_fast": 13.0}, drawdown=(8.0, 8.8)), "risk:low"),
        ("band tweak, drawdown +15 %", proposal({"ema_fast": 13.0}, drawdown=(8.0, 9.2)), "risk:medium"),
        ("band tweak, drawdown +30 %", proposal({"ema_fast": 13.0}, drawdown=(8.0, 10.4)), "risk:high"),
        ("band tweak, worst day -0.6 → -0.8 %", proposal({"ema_fast": 13.0}, worst_day=(-0.6, -0.8)),
         "risk:high"),
        # Position size and stops: the most one trade can lose.
        ("position +20 % (its cap)", proposal({"trade_fraction": 0.5}), "risk:medium"),
        ("position +10 % exactly", proposal({"trade_fraction": 0.11}), "risk:low"),
        ("position +25 % exactly", proposal({"trade_fraction": 0.5}, max_delta=0.25), "risk:medium"),
        ("position +30 %", proposal({"trade_fraction": 0.5}, max_delta=0.3), "risk:high"),
        ("stop and position both +20 %: +44 %", proposal({"stop_loss_pct": 9.0, "trade_fraction": 0.5}),
         "risk:high"),
        ("stop +20 %, position -20 %", proposal({"stop_loss_pct": 9.0, "trade_fraction": 0.01}), "risk:low"),
        ("tighter stop", proposal({"stop_loss_pct": 1.0}), "risk:low"),
        ("the last stop switched off", proposal({"stop_loss_pct": 0.0}, max_delta=1.0), "risk:high"),
        ("a stop switched on", proposal({"stop_loss_pct": 2.0}, before={**LIVE, "stop_loss_pct": 0.0}),
         "risk:low"),
        ("a trailing stop tighter than the stop is widened",
         proposal({"exit_trailing_stop_pct": 1.8}, before={**LIVE, "exit_trailing_stop_pct": 1.5}),
         "risk:medium"),
        ("a take-profit tier moves: through the KPIs", proposal({"exit_tp0_pct": 4.8}), "risk:low"),
        ("no change", make_proposal("ema_cross", "SP500", {}), "risk:low"),
    ],
)  # fmt: skip
def test_the_label_follows_the_size_of_the_risk_change(case: str, made: dict[str, Any], label: str) -> None:
    assert risk_label(typed(made)) == label, (case, risk_change(typed(made)))


def test_small_kpis_are_measured_against_a_floor() -> None:
    # 0.2 % -> 0.4 % drawdown is +20 % of the 1 % floor, not +100 %.
    made = proposal({"ema_fast": 13.0}, drawdown=(0.2, 0.4))
    change = risk_change(typed(made))
    assert change.drawdown_pct == pytest.approx(0.2 / RISK_DRAWDOWN_FLOOR_PCT * 100)
    assert change.label == "risk:medium"
    # A worst day of 0.02 % -> 0.04 % loss is +20 % of the 0.1 % floor.
    made = proposal({"ema_fast": 13.0}, worst_day=(-0.02, -0.04))
    assert risk_change(typed(made)).worst_day_pct == pytest.approx(0.02 / RISK_WORST_DAY_FLOOR_PCT * 100)
    # A day that gains loses nothing.
    assert risk_change(
        typed(proposal({"ema_fast": 13.0}, worst_day=(0.1, -0.05)))
    ).worst_day_pct == pytest.approx(50)


def test_a_move_at_the_cap_is_not_high_risk_by_itself() -> None:
    """The old label called every move above 15 % high, while the cap is 20 %: nearly every proposal."""
    at_cap = proposal({"ema_fast": 20.0, "ema_slow": 40.0})
    assert all(abs(change["delta_pct"]) > 15 for change in at_cap["changes"])
    assert risk_label(typed(at_cap)) == "risk:low"
    assert risk_label(typed(reviewed_proposal())) == "risk:medium"  # the stop widened by its cap: +20 %


def test_the_explanation_names_what_moved_and_the_thresholds() -> None:
    text = risk_change(typed(proposal({"stop_loss_pct": 9.0, "trade_fraction": 0.5}))).explain()
    assert text.startswith("`risk:high`: most a trade can lose (size × stop; stop_loss_pct 2 → 2.4, ")
    assert "trade_fraction 0.1 → 0.12) +44 %" in text
    assert text.endswith("(medium above +10 %, high above +25 % or with the last stop switched off)")
    assert "no risk parameter changes" in risk_change(typed(proposal({"ema_fast": 13.0}))).explain()


def test_the_risk_parameters_are_the_engines() -> None:
    assert RISK_PARAMS == RISK_NAMES


def test_the_thresholds_are_documented_as_they_are() -> None:
    docs = DOCS.read_text(encoding="utf-8")
    assert f"above +{RISK_MEDIUM_PCT:g} %" in docs and f"above +{RISK_HIGH_PCT:g} %" in docs
    assert (
        f"at least {RISK_DRAWDOWN_FLOOR_PCT:g} %" in docs
        and f"at least {RISK_WORST_DAY_FLOOR_PCT:g} %" in docs
    )
