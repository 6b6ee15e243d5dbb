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
    bool_check,
    check_canary_fractions,
    check_live_params,
    check_provenance,
    check_regime_loadouts,
    check_schema_version,
    check_stage_bars,
    mapping_depth_items,
    number_check,
    stage_bars,
)
from gitops._ensemble_checks import (
    check_ensemble_method,
    check_ensemble_weights,
    ensemble_problems,
    regime_problems,
)
from gitops._param_checks import strategy_entry_problems

__all__ = [
    "CONSTANT_SPECS",
    "DEFAULT_CANARY_FRACTIONS",
    "DEFAULT_DEADLINE_BARS",
    "DEFAULT_DWELL_BARS",
    "SECTIONS",
    "ConstantSpec",
    "Section",
    "cross_check",
]


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
DEFAULT_CANARY_FRACTIONS = {"COLD": 0.0, "WARM": 0.0, "LIMITED": 0.1, "FULL": 1.0}
DEFAULT_DWELL_BARS = {
    "COLD": {"default": 1},
    "WARM": {"1m": 240, "5m": 48, "15m": 16, "1h": 4, "default": 20},
    "LIMITED": {"1m": 1440, "5m": 288, "15m": 96, "1h": 24, "default": 20},
}
DEFAULT_DEADLINE_BARS = {
    "COLD": {"1m": 40320, "5m": 12096, "15m": 4032, "1h": 1008, "default": 500},
    "WARM": {"1m": 4320, "5m": 864, "15m": 1344, "1h": 72, "default": 250},
    "LIMITED": {"1m": 10080, "5m": 2016, "15m": 2688, "1h": 168, "default": 250},
}
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
                "Share of capital traded with the new parameters in each stage: none in COLD (backtest) and "
                "WARM (paper trading beside the live parameters), a canary share in LIMITED, all in FULL.",
                check_canary_fractions,
                DEFAULT_CANARY_FRACTIONS,
            ),
            _int(
                "CANARY_INTERVAL_MINUTES",
                60,
                NumberRange(1, 7 * 24 * 60),
                "Minutes between two canary analyses (at least one bar of the pair's timeframe).",
            ),
            _int(
                "CANARY_FAILURE_THRESHOLD",
                3,
                NumberRange(1, 100),
                "Failed canary analyses in one stage (no data counts as failed) before the rollout fails.",
            ),
            _float(
                "DEPLOY_COLD_MIN_SHARPE",
                0.5,
                NumberRange(-10, 10),
                "COLD: lowest annualised Sharpe of the backtest on the bars since the rollout started.",
                added_later=True,
            ),
            _float(
                "DEPLOY_COLD_MIN_WIN_RATE_PCT",
                40.0,
                _PERCENT,
                "COLD: lowest share of winning trades in that backtest, in percent (and at least MIN_TRADES "
                "trades and a positive PnL).",
                added_later=True,
            ),
            _int(
                "DEPLOY_WARM_MIN_TRADES",
                10,
                NumberRange(1, 100_000),
                "WARM: fewest paper trades of the new parameters before their figures count.",
                added_later=True,
            ),
            _float(
                "DEPLOY_WARM_MIN_SHARPE_GAIN_PCT",
                10.0,
                NumberRange(-100, 1000),
                "WARM: smallest Sharpe gain over the live parameters on the same bars, in percent of "
                "max(|their Sharpe|, DEPLOY_SHARPE_GAIN_FLOOR).",
                added_later=True,
            ),
            _float(
                "DEPLOY_WARM_MIN_WIN_RATE_GAIN_PTS",
                2.0,
                NumberRange(-100, 100),
                "WARM: smallest win-rate gain over the live parameters, in percentage points.",
                added_later=True,
            ),
            _float(
                "DEPLOY_WARM_MAX_DRAWDOWN_PCT",
                8.0,
                NumberRange(0, 100, low_open=True),
                "WARM: largest drawdown of the paper equity, in percent; a breach fails the check.",
                added_later=True,
            ),
            _float(
                "DEPLOY_LIMITED_MIN_SHARPE_GAIN_PCT",
                15.0,
                NumberRange(-100, 1000),
                "LIMITED: smallest Sharpe gain over the previous parameters over the same period, in percent "
                "of max(|their Sharpe|, DEPLOY_SHARPE_GAIN_FLOOR).",
                added_later=True,
            ),
            _int(
                "DEPLOY_LIMITED_MIN_WINNING_TRADES",
                10,
                NumberRange(1, 100_000),
                "LIMITED: fewest winning live trades of the new parameters.",
                added_later=True,
            ),
            _float(
                "DEPLOY_LIMITED_MAX_LOSS_USD",
                5.0,
                NumberRange(0),
                "LIMITED: largest realised loss of the new parameters, in USD; a breach fails the check.",
                added_later=True,
            ),
            _float(
                "DEPLOY_SHARPE_GAIN_FLOOR",
                0.5,
                NumberRange(0, 10, low_open=True),
                "Relative Sharpe gains are measured against max(|baseline Sharpe|, this), so a baseline "
                "Sharpe <= 0 still needs a real gain.",
                added_later=True,
            ),
            _float(
                "DEPLOY_HARM_MARGIN",
                0.2,
                NumberRange(0, 10, low_open=True),
                "Non-inferiority margin of the sequential test: the shortfall of the mean per-bar return "
                "against the baseline, in standard deviations of the paired difference, that is no harm.",
                added_later=True,
            ),
            _float(
                "DEPLOY_SEQUENTIAL_ALPHA",
                0.05,
                NumberRange(0, 0.5, low_open=True),
                "Error rate of the always-valid sequential test (mSPRT), whatever the number of analyses.",
                added_later=True,
            ),
            ConstantSpec(
                "DEPLOY_DWELL_BARS",
                "Final",
                'Stage -> timeframe -> fewest bars a rollout stays in the stage ("default": other '
                "timeframes); the brief's WARM 4 h and LIMITED 24 h on intraday bars.",
                check_stage_bars,
                DEFAULT_DWELL_BARS,
                added_later=True,
            ),
            ConstantSpec(
                "DEPLOY_DEADLINE_BARS",
                "Final",
                "Stage -> timeframe -> bars after which a rollout without the evidence to leave the stage "
                "fails (progress deadline).",
                check_stage_bars,
                DEFAULT_DEADLINE_BARS,
                added_later=True,
            ),
            ConstantSpec(
                "DEPLOY_AUTO_MERGE",
                "Final[bool]",
                "Ask the forge to auto-merge promotion pull requests (branch protection and required checks "
                "still apply).",
                bool_check,
                False,
                added_later=True,
            ),
        ),
    ),
    Section(
        "Regimes and ensembles: which parameter set and which share of capital each strategy trades",
        (
            ConstantSpec(
                "ENSEMBLE_METHOD",
                "Final",
                'How the optimizer weights the live strategies of one symbol: "max_sharpe" (mean-variance), '
                '"risk_parity" or "equal".',
                check_ensemble_method,
                "max_sharpe",
                added_later=True,
            ),
            _float(
                "ENSEMBLE_MIN_WEIGHT",
                0.05,
                NumberRange(0, 1),
                "Smallest share of a symbol's capital one of its live strategies may get.",
                added_later=True,
            ),
            _float(
                "ENSEMBLE_MAX_WEIGHT",
                0.40,
                _UNIT,
                "Largest share of a symbol's capital one of its live strategies may get.",
                added_later=True,
            ),
            _float(
                "ENSEMBLE_MAX_TURNOVER",
                0.20,
                _UNIT,
                "Largest share of a symbol's capital that one ensemble proposal moves between its strategies "
                "(half the sum of the absolute weight changes).",
                added_later=True,
            ),
            _float(
                "REGIME_SWITCH_MIN_CONFIDENCE",
                0.5,
                NumberRange(0, 1),
                "Lowest detector confidence at which a new regime's loadout may take over.",
                added_later=True,
            ),
            _int(
                "REGIME_SWITCH_MIN_DWELL_BARS",
                3,
                NumberRange(1, 10_000),
                "Consecutive bars a new regime must hold at that confidence before its loadout takes over; "
                "until then the switch is pending and the previous loadout stays.",
                added_later=True,
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
            ConstantSpec(
                "ENSEMBLE_WEIGHTS",
                "Final",
                "symbol -> strategy -> share of the symbol's capital, for symbols with several live "
                "strategies (written by the optimizer; a symbol left out trades its strategies at equal "
                "weight).",
                check_ensemble_weights,
                {},
                required=False,
                added_later=True,
            ),
        ),
    ),
)

CONSTANT_SPECS: Mapping[str, ConstantSpec] = {
    spec.name: spec for section in SECTIONS for spec in section.constants
}


def cross_check(values: Mapping[str, Any]) -> list[KeyProblem]:
    """Checks across constants: regime loadouts and ensemble weights against LIVE_PARAMS, every entry against
    its strategy."""
    live = values.get("LIVE_PARAMS")
    loadouts = values.get("REGIME_LOADOUTS") or {}
    problems = _dwell_within_deadline(values.get("DEPLOY_DWELL_BARS"), values.get("DEPLOY_DEADLINE_BARS"))
    problems += regime_problems(loadouts)
    if live is None:
        return problems
    problems += ensemble_problems(values)
    return problems + _loadouts_against_live(live, loadouts) + strategy_entry_problems(live, loadouts)


def _dwell_within_deadline(dwell: Any, deadline: Any) -> list[KeyProblem]:
    """A stage's dwell must end before its deadline, on every timeframe either table names."""
    if not isinstance(dwell, Mapping) or not isinstance(deadline, Mapping):
        return []
    problems: list[KeyProblem] = []
    for stage in dwell:
        timeframes = set(dwell[stage]) | set(deadline.get(stage, {}))
        for timeframe in sorted(timeframes):
            low = stage_bars(dwell, stage, timeframe)
            high = stage_bars(deadline, stage, timeframe)
            if low >= high:
                problems.append(
                    (
                        f"DEPLOY_DWELL_BARS.{stage}",
                        f"DEPLOY_DWELL_BARS.{stage} gives {timeframe!r} {low} bars, not fewer than its "
                        f"DEPLOY_DEADLINE_BARS.{stage} ({high}): a rollout could never leave {stage} in "
                        "time; lower the dwell or raise the deadline",
                    )
                )
    return problems


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
