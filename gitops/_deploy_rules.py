"""The evidence each deployment stage needs, as rules both sides read: the analysis and ``pr check``.

``deployment`` measures the checks of a stage and decides; ``tradeloop pr check`` (which runs before any of
a pull request's code, and may not import ``deployment``) holds a stage move to the same rules: the move
carries the analysis that justified it in the rollout's ``status``, every check of the stage it leaves is
there, each with the threshold of ``config/constants.py`` and a figure on the right side of it.

Each check is one of:

- a **gate**: evidence to leave the stage; below its threshold it is *inconclusive* (the rollout holds and
  never passes on it);
- a **limit**: a breach *fails* the analysis (``CANARY_FAILURE_THRESHOLD`` failed analyses fail the
  rollout); ``data`` is a limit (no data at all in an interval is a failed check, as in Flagger);
- the **deadline**: at or past it the rollout fails at once (Flagger's progress deadline).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, Literal

from gitops._checks import DEPLOY_STAGES, stage_bars
from gitops._constants import LiveConstants

__all__ = [
    "COMPARATORS",
    "STAGE_RULES",
    "CheckKind",
    "CheckRule",
    "next_stage",
    "rule_threshold",
    "satisfies",
    "stage_index",
]

CheckKind = Literal["gate", "limit", "deadline"]
COMPARATORS: Final[Mapping[str, Callable[[float, float], bool]]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
}


@dataclass(frozen=True)
class CheckRule:
    """One check of a stage: its name, kind, comparator, unit and where its threshold comes from.

    ``threshold`` names a :class:`~gitops.LiveConstants` attribute, ``dwell`` / ``deadline`` (the stage's
    ``DEPLOY_DWELL_BARS`` / ``DEPLOY_DEADLINE_BARS`` for the pair's timeframe) or a fixed number.
    """

    name: str
    kind: CheckKind
    comparator: str
    unit: str
    threshold: str | float
    meaning: str


def _data(what: str) -> CheckRule:
    return CheckRule("data", "limit", ">=", "bars", 1.0, f"{what} in the last interval (none fails)")


_DWELL = CheckRule("dwell", "gate", ">=", "bars", "dwell", "bars in the stage, at least its dwell")
_DEADLINE = CheckRule(
    "deadline", "deadline", "<", "bars", "deadline", "bars in the stage, before its deadline"
)
_NON_INFERIORITY = CheckRule(
    "non_inferiority",
    "gate",
    "<=",
    "p",
    "deploy_sequential_alpha",
    "always-valid p-value that the new parameters are worse than the margin (mSPRT); shown below alpha",
)
_HARM = CheckRule(
    "harm",
    "limit",
    ">",
    "p",
    "deploy_sequential_alpha",
    "always-valid p-value that the new parameters are no worse than the margin (mSPRT); harm below alpha",
)

#: Stage → the checks of its analysis, in report order. FULL is monitored, not judged here.
STAGE_RULES: Final[Mapping[str, tuple[CheckRule, ...]]] = {
    "COLD": (
        _data("new bars of the pair"),
        CheckRule("trades", "gate", ">=", "trades", "min_trades", "trades of the backtest since the start"),
        CheckRule("sharpe", "gate", ">=", "", "deploy_cold_min_sharpe", "annualised Sharpe of that backtest"),
        CheckRule("win_rate_pct", "gate", ">=", "%", "deploy_cold_min_win_rate_pct", "winning trades"),
        CheckRule("pnl_usd", "gate", ">", "USD", 0.0, "profit of that backtest"),
        _DWELL,
        _DEADLINE,
    ),
    "WARM": (
        _data("paired bars (paper beside live)"),
        CheckRule("trades", "gate", ">=", "trades", "deploy_warm_min_trades", "paper trades in the stage"),
        CheckRule(
            "sharpe_gain_pct",
            "gate",
            ">=",
            "%",
            "deploy_warm_min_sharpe_gain_pct",
            "Sharpe gain over the live parameters on the same bars",
        ),
        CheckRule(
            "win_rate_gain_pts",
            "gate",
            ">=",
            "pts",
            "deploy_warm_min_win_rate_gain_pts",
            "win-rate gain over the live parameters",
        ),
        CheckRule(
            "max_drawdown_pct",
            "limit",
            "<=",
            "%",
            "deploy_warm_max_drawdown_pct",
            "drawdown of the paper equity",
        ),
        _NON_INFERIORITY,
        _HARM,
        _DWELL,
        _DEADLINE,
    ),
    "LIMITED": (
        _data("paired live bars (canary beside previous)"),
        CheckRule(
            "winning_trades",
            "gate",
            ">=",
            "trades",
            "deploy_limited_min_winning_trades",
            "winning live trades of the new parameters",
        ),
        CheckRule(
            "sharpe_gain_pct",
            "gate",
            ">=",
            "%",
            "deploy_limited_min_sharpe_gain_pct",
            "Sharpe gain over the previous parameters over the same period",
        ),
        CheckRule(
            "realised_loss_usd",
            "limit",
            "<=",
            "USD",
            "deploy_limited_max_loss_usd",
            "realised loss of the new parameters",
        ),
        _NON_INFERIORITY,
        _HARM,
        _DWELL,
        _DEADLINE,
    ),
}


def rule_threshold(rule: CheckRule, constants: LiveConstants, stage: str, timeframe: str) -> float:
    """The threshold of ``rule`` for ``stage`` on a pair of ``timeframe`` under ``constants``."""
    if isinstance(rule.threshold, float):
        return rule.threshold
    if rule.threshold == "dwell":
        return float(stage_bars(constants.deploy_dwell_bars, stage, timeframe))
    if rule.threshold == "deadline":
        return float(stage_bars(constants.deploy_deadline_bars, stage, timeframe))
    return float(getattr(constants, rule.threshold))


def satisfies(figure: float | None, comparator: str, threshold: float | None) -> bool:
    """Whether ``figure`` is on the passing side of ``threshold`` (``False`` when either is missing)."""
    if figure is None or threshold is None:
        return False
    return bool(COMPARATORS[comparator](figure, threshold))


def stage_index(stage: str) -> int:
    """0 for COLD … 3 for FULL."""
    return DEPLOY_STAGES.index(stage)


def next_stage(stage: str) -> str | None:
    """The stage after ``stage``, or ``None`` after FULL: stages advance one at a time."""
    index = stage_index(stage)
    return DEPLOY_STAGES[index + 1] if index + 1 < len(DEPLOY_STAGES) else None
