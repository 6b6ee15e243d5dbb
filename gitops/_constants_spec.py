"""The typed spec of ``config/constants.py``: every constant, its type, range, comment and default.

The spec drives both sides: the reader checks each constant against it, and the writer renders the
file from it, in its order, with its section headers and comments.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gitops._checks import (
    Check,
    KeyProblem,
    NumberRange,
    check_canary_fractions,
    check_live_params,
    check_provenance,
    check_regime_loadouts,
    check_schema_version,
    mapping_depth_items,
    number_check,
)
from gitops._param_checks import strategy_entry_problems

__all__ = ["CONSTANT_SPECS", "SECTIONS", "ConstantSpec", "Section", "cross_check"]


@dataclass(frozen=True)
class ConstantSpec:
    """One constant: its name, the annotation it is written with, what it bounds, and its check.

    ``default`` is the value suggested when a required constant is missing (``None``: no suggestion), and
    the value read when an optional one is.

    ``added_later`` marks a constant that a newer tradeloop introduced: a file written before it still
    reads (the constant takes its ``default``), and while it holds its default it stays out of the config
    hash, so the hash of a configuration does not move when tradeloop learns a new constant. Its
    :class:`~gitops.LiveConstants` attribute needs the same default. A guardrail is added with
    ``added_later=True`` and a default; ``tradeloop pr check`` refuses a pull request that adds, changes or
    removes it (guardrails change by hand).
    """

    name: str
    annotation: str
    comment: str
    check: Check
    default: Any = None
    required: bool = True
    added_later: bool = False

    @property
    def attribute(self) -> str:
        """The :class:`~gitops.LiveConstants` attribute holding this constant."""
        return self.name.lower()

    @property
    def may_be_absent(self) -> bool:
        """Whether a file without this constant reads (with :attr:`default`)."""
        return not self.required or self.added_later


@dataclass(frozen=True)
class Section:
    """A group of constants rendered under one header comment."""

    title: str
    constants: tuple[ConstantSpec, ...]


def _int(
    name: str, default: int, valid: NumberRange, comment: str, *, added_later: bool = False
) -> ConstantSpec:
    check = number_check(int, valid)
    return ConstantSpec(name, "Final[int]", comment, check, default, added_later=added_later)


def _float(
    name: str, default: float, valid: NumberRange, comment: str, *, added_later: bool = False
) -> ConstantSpec:
    check = number_check(float, valid)
    return ConstantSpec(name, "Final[float]", comment, check, default, added_later=added_later)


_UNIT = NumberRange(0, 1, low_open=True)
_PERCENT = NumberRange(0, 100)
_BPS = NumberRange(0, 1000)

SECTIONS: tuple[Section, ...] = (
    Section(
        "File format",
        (
            ConstantSpec(
                "SCHEMA_VERSION", "Final", "The layout version of this file.", check_schema_version, 1
            ),
            ConstantSpec(
                "PROVENANCE",
                "Final",
                "Who wrote this file: the tradeloop run, the git sha of its code, and when (UTC).",
                check_provenance,
            ),
        ),
    ),
    Section(
        "Optimizer guardrails: the bounds every proposal respects",
        (
            _float(
                "OPTIMIZER_MAX_DELTA",
                0.20,
                _UNIT,
                "Largest fractional change of one parameter per optimizer cycle (0.2 = +/-20%).",
            ),
            _int(
                "OPTIMIZER_COOLDOWN_HOURS",
                6,
                NumberRange(0, 24 * 30),
                "Hours after an applied change before the same strategy/symbol may get a new proposal.",
            ),
            _int("OPTIMIZER_MAX_KNOBS", 3, NumberRange(1, 50), "Most parameters one proposal may change."),
            _int(
                "OPTIMIZER_CHANGE_BUDGET",
                6,
                NumberRange(1, 1000),
                "Most parameter changes applied per strategy/symbol within OPTIMIZER_BUDGET_WINDOW_HOURS.",
            ),
            _int(
                "OPTIMIZER_BUDGET_WINDOW_HOURS",
                168,
                NumberRange(1, 24 * 365),
                "Rolling window, in hours, over which OPTIMIZER_CHANGE_BUDGET is counted.",
            ),
        ),
    ),
    Section(
        "Validation gates: what a candidate must clear before a pull request is opened",
        (
            _int("MIN_TRADES", 30, NumberRange(1), "Fewest trades a backtest needs before its KPIs count."),
            _float(
                "CONFIDENCE_LEVEL",
                0.95,
                NumberRange(0.5, 1, high_open=True),
                "Confidence level of bootstrap intervals and of the significance tests.",
            ),
            _int(
                "BOOTSTRAP_BLOCK_LENGTH",
                10,
                NumberRange(1, 10_000),
                "Mean block length (bars) of the stationary block bootstrap; keeps autocorrelation.",
            ),
            _int(
                "BOOTSTRAP_REPLICATIONS",
                2000,
                NumberRange(100, 1_000_000),
                "Bootstrap resamples behind each confidence interval and p-value.",
            ),
            _float(
                "MIN_SHARPE_IMPROVEMENT",
                0.05,
                NumberRange(0, 10),
                "Smallest out-of-sample Sharpe gain (annualised, candidate minus baseline) worth a change.",
            ),
            _float(
                "MIN_DEFLATED_SHARPE",
                0.95,
                NumberRange(0, 1),
                "Lowest Deflated Sharpe Ratio (probability the Sharpe is real after N trials) accepted.",
            ),
            _float(
                "MAX_FOLD_SHARPE_CV",
                1.5,
                NumberRange(0, 100, low_open=True),
                "Largest coefficient of variation of the walk-forward fold Sharpe ratios (fold stability).",
            ),
            _float(
                "MAX_PBO",
                0.5,
                NumberRange(0, 1),
                "Highest probability of backtest overfitting (CSCV) a candidate may show.",
            ),
            _float(
                "VALIDATION_HOLDOUT_FRACTION",
                0.25,
                NumberRange(0.05, 0.5),
                "Share of each cycle's most recent bars the search never sees; validation judges on them.",
                added_later=True,
            ),
        ),
    ),
    Section(
        "Risk limits: KPI breaches that fail a candidate or roll a canary back",
        (
            _float(
                "MAX_DRAWDOWN_PCT",
                8.0,
                NumberRange(0, 100, low_open=True),
                "Largest peak-to-trough equity drawdown allowed, in percent.",
            ),
            _float("MIN_WIN_RATE_PCT", 40.0, _PERCENT, "Lowest share of winning trades allowed, in percent."),
            _float(
                "MAX_DAILY_LOSS_USD",
                5.0,
                NumberRange(0, low_open=True),
                "Largest loss in one UTC day, in USD, before trading stops for the day.",
            ),
            _float(
                "TRADING_CAPITAL_USD",
                1000.0,
                NumberRange(0, low_open=True),
                "Capital the bot trades, in USD: the backtests' starting cash and the base of "
                "MAX_DAILY_LOSS_USD.",
            ),
        ),
    ),
    Section(
        "Costs every backtest charges",
        (
            _float(
                "FEE_BPS", 10.0, _BPS, "Exchange or broker fee per side, in basis points of the notional."
            ),
            _float("SLIPPAGE_BPS", 5.0, _BPS, "Assumed slippage per fill, in basis points of the price."),
        ),
    ),
    Section(
        "Deployment: canary stages COLD -> WARM -> LIMITED -> FULL",
        (
            ConstantSpec(
                "CANARY_FRACTIONS",
                "Final",
                "Share of capital traded with the new parameters in each stage; FULL is 1.0.",
                check_canary_fractions,
                {"WARM": 0.1, "LIMITED": 0.5, "FULL": 1.0},
            ),
            _int(
                "CANARY_INTERVAL_MINUTES",
                60,
                NumberRange(1, 7 * 24 * 60),
                "Minutes between two canary analyses.",
            ),
            _int(
                "CANARY_FAILURE_THRESHOLD",
                3,
                NumberRange(1, 100),
                "Failed canary analyses (no data counts as failed) before the rollout is rolled back.",
            ),
        ),
    ),
    Section(
        "Live parameters",
        (
            ConstantSpec(
                "LIVE_PARAMS",
                "Final",
                "strategy -> symbol -> parameters traded now; every entry names its bar timeframe.",
                check_live_params,
            ),
            ConstantSpec(
                "REGIME_LOADOUTS",
                "Final",
                "strategy -> symbol -> regime -> parameters overriding LIVE_PARAMS in that regime "
                "(written by the optimizer).",
                check_regime_loadouts,
                {},
                required=False,
            ),
        ),
    ),
)

CONSTANT_SPECS: Mapping[str, ConstantSpec] = {
    spec.name: spec for section in SECTIONS for spec in section.constants
}


def cross_check(values: Mapping[str, Any]) -> list[KeyProblem]:
    """Checks across constants: regime loadouts against LIVE_PARAMS, every entry against its strategy."""
    live = values.get("LIVE_PARAMS")
    loadouts = values.get("REGIME_LOADOUTS") or {}
    if live is None:
        return []
    return _loadouts_against_live(live, loadouts) + strategy_entry_problems(live, loadouts)


def _loadouts_against_live(live: Mapping[str, Any], loadouts: Mapping[str, Any]) -> list[KeyProblem]:
    problems: list[KeyProblem] = []
    for (strategy, symbol, regime), params in mapping_depth_items(loadouts, 3):
        path = f"REGIME_LOADOUTS.{strategy}.{symbol}.{regime}"
        base = live.get(strategy, {}).get(symbol)
        if base is None:
            problems.append(
                (
                    f"REGIME_LOADOUTS.{strategy}.{symbol}",
                    f"REGIME_LOADOUTS.{strategy}.{symbol} has no LIVE_PARAMS.{strategy}.{symbol} entry; "
                    "add the live parameters or remove the loadout",
                )
            )
            continue
        if "timeframe" in params and params["timeframe"] != base["timeframe"]:
            problems.append(
                (
                    f"{path}.timeframe",
                    f"{path}.timeframe must equal LIVE_PARAMS.{strategy}.{symbol}.timeframe "
                    f"({base['timeframe']!r}), got {params['timeframe']!r}",
                )
            )
    return problems
