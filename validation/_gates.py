"""The validation gates: each compares one figure with one threshold from ``config/constants.py``.

Validation never reads the constants itself (``gitops`` is downstream); the CLI builds
:class:`Thresholds` with :meth:`Thresholds.from_constants` and passes them in. A gate whose figure could
not be computed (``None`` or NaN) fails: missing evidence never counts as a pass.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from tradeloop.documents import Gate, GateBars, GateOp
from tradeloop.errors import ValidationError

__all__ = ["CATASTROPHIC_DRAWDOWN_FACTOR", "Gate", "GateBars", "GateInputs", "Thresholds", "evaluate_gates"]

_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "<": operator.lt,
    ">": operator.gt,
}
#: A fold whose OOS drawdown exceeds this multiple of MAX_DRAWDOWN_PCT is a catastrophic failure.
CATASTROPHIC_DRAWDOWN_FACTOR = 2.0
#: Thresholds.for_look halves α at most this many times (beyond it 1 − α would round to 1).
_MAX_HALVINGS = 30

_CONSTANT_FIELDS = {
    "MIN_TRADES": "min_trades",
    "CONFIDENCE_LEVEL": "confidence_level",
    "MIN_SHARPE_IMPROVEMENT": "min_sharpe_improvement",
    "MIN_DEFLATED_SHARPE": "min_deflated_sharpe",
    "MAX_FOLD_SHARPE_CV": "max_fold_sharpe_cv",
    "MAX_PBO": "max_pbo",
    "MAX_DRAWDOWN_PCT": "max_drawdown_pct",
    "MIN_WIN_RATE_PCT": "min_win_rate_pct",
    "MAX_DAILY_LOSS_USD": "max_daily_loss_usd",
    "BOOTSTRAP_BLOCK_LENGTH": "bootstrap_block_length",
    "BOOTSTRAP_REPLICATIONS": "bootstrap_replications",
    "FEE_BPS": "fee_bps",
    "SLIPPAGE_BPS": "slippage_bps",
}


@dataclass(frozen=True)
class Thresholds:
    """Every threshold and cost the verdict uses, named after its constant in lower case.

    ``capital_usd`` is not a constant: it is the capital the bot trades, used both as the backtests'
    initial cash and to turn the engine's ``worst_day_pct`` into USD for the MAX_DAILY_LOSS_USD gate
    (``loss_usd = max(0, −worst_day_pct) × capital_usd / 100``).
    """

    min_trades: int
    confidence_level: float
    min_sharpe_improvement: float
    min_deflated_sharpe: float
    max_fold_sharpe_cv: float
    max_pbo: float
    max_drawdown_pct: float
    min_win_rate_pct: float
    max_daily_loss_usd: float
    bootstrap_block_length: int
    bootstrap_replications: int
    fee_bps: float
    slippage_bps: float
    capital_usd: float = 10_000.0

    def __post_init__(self) -> None:
        if not 0.0 < self.confidence_level < 1.0:
            raise ValidationError(
                f"CONFIDENCE_LEVEL must be in (0, 1), got {self.confidence_level}; e.g. 0.95"
            )
        if not (math.isfinite(self.capital_usd) and self.capital_usd > 0):
            raise ValidationError(
                f"capital_usd must be a positive amount, got {self.capital_usd}; e.g. 10000"
            )

    @classmethod
    def from_constants(cls, constants: Mapping[str, Any], *, capital_usd: float = 10_000.0) -> Thresholds:
        """Build from constants by name (e.g. ``LiveConstants.guardrails``); extra names are ignored."""
        missing = sorted(name for name in _CONSTANT_FIELDS if name not in constants)
        if missing:
            raise ValidationError(
                f"validation thresholds: constants {', '.join(missing)} are missing; "
                "add them to config/constants.py (see `tradeloop state check`)"
            )
        values = {field: constants[name] for name, field in _CONSTANT_FIELDS.items()}
        return cls(**values, capital_usd=capital_usd)

    @property
    def alpha(self) -> float:
        """``1 − confidence_level``: the significance level of the tests.

        Rounded to 12 decimals, so that 1 − 0.95 is 0.05 and not 0.05000000000000004 (a p-value of
        exactly 0.05 must not pass a "< 0.05" gate).
        """
        return round(1.0 - self.confidence_level, 12)

    def for_look(self, earlier_looks: int | None) -> Thresholds:
        """The thresholds of a validation after ``earlier_looks`` earlier ones on overlapping holdout bars.

        Each repeated look at the same holdout is another chance for luck to pass. The first look is tested
        at α; look ``k + 1`` (``k`` earlier looks) at ``α / 2**k``, a geometric alpha-spending schedule, so
        that any number of looks together spend at most ``2α`` (the union bound), and far less when the
        looks overlap. The confidence level of every gate (the holdout test, StepM and the bootstrap CI)
        moves with it; an unknown count (``None``) keeps the first look's level. Past 30 earlier looks the
        level stays at ``α / 2**30``, where nothing passes.

        References
        ----------
        .. [1] Foster, D. P. and Stine, R. A. (2008). α-investing: a procedure for sequential control of
           expected false discoveries. *Journal of the Royal Statistical Society B* 70(2), 429–444.
        """
        if not earlier_looks:
            return self
        if earlier_looks < 0:
            raise ValidationError(f"earlier_looks must be ≥ 0, got {earlier_looks}")
        return replace(self, confidence_level=1.0 - self.alpha / 2 ** min(earlier_looks, _MAX_HALVINGS))


@dataclass(frozen=True)
class GateInputs:
    """The figures the gates judge.

    Attributes
    ----------
    trades, max_drawdown_pct, win_rate_pct, worst_day_pct
        The candidate's engine KPIs on the holdout.
    delta_sharpe
        Annualised Sharpe of the candidate minus the baseline's on the holdout.
    holdout_p
        One-sided p-value of the paired test ``H0: ΔSharpe ≤ MIN_SHARPE_IMPROVEMENT`` on the holdout.
    stepm_t, stepm_critical
        The candidate's studentized statistic in StepM on the holdout (volatility-matched, margin
        ``MIN_SHARPE_IMPROVEMENT``) and StepM's last critical value: superior exactly when ``t > c``.
    sharpe_diff_ci_low
        Lower bound of the holdout bootstrap CI (at CONFIDENCE_LEVEL) of the annualised Sharpe difference.
    risk_params_changed
        The risk parameters (stops, targets, size) the proposal changes.
    dsr, pbo
        Deflated Sharpe ratio of the proposal and PBO of the search, on the search bars; None without a
        search record.
    fold_sharpe_cv, max_fold_drawdown_pct, walk_forward_gain
        Walk-forward with re-optimisation: CV of the folds' OOS Sharpe ratios, the deepest fold OOS
        drawdown in %, and the stitched OOS annualised Sharpe minus the live parameters'.
    spa_search_p
        Hansen's SPA consistent p of the search's best candidates on the search bars (information).
    search_record
        Whether the search record was available: without it only the holdout gates decide.
    """

    trades: float
    delta_sharpe: float
    holdout_p: float | None
    stepm_t: float | None
    stepm_critical: float | None
    sharpe_diff_ci_low: float
    risk_params_changed: tuple[str, ...]
    dsr: float | None
    pbo: float | None
    max_drawdown_pct: float
    win_rate_pct: float
    worst_day_pct: float
    fold_sharpe_cv: float | None
    max_fold_drawdown_pct: float | None
    walk_forward_gain: float | None
    spa_search_p: float | None
    search_record: bool = True


def evaluate_gates(inputs: GateInputs, thresholds: Thresholds) -> list[Gate]:
    """Every gate, in the order a reviewer reads them (see docs/validation.md, "Gates")."""
    return [*_holdout_gates(inputs, thresholds), *_search_gates(inputs, thresholds)]


def _holdout_gates(inputs: GateInputs, t: Thresholds) -> list[Gate]:
    daily_loss_usd = max(0.0, -inputs.worst_day_pct) * t.capital_usd / 100.0
    risk = inputs.risk_params_changed
    confidence_detail = (
        f"lower bound of the {t.confidence_level:.0%} bootstrap CI of the Sharpe difference; "
        + (
            f"gating: risk parameters change ({', '.join(risk)})"
            if risk
            else "info: no risk parameter change"
        )
    )
    margin = f"ΔSharpe > {t.min_sharpe_improvement:g}"
    return [
        _gate("min_trades", inputs.trades, t.min_trades, ">=", "trades", "candidate trades on the holdout"),
        _gate("effect_size", inputs.delta_sharpe, t.min_sharpe_improvement, ">=", "annualised Sharpe",
              "candidate Sharpe minus live Sharpe on the holdout (annualised)"),
        _gate("holdout_sharpe_test", inputs.holdout_p, t.alpha, "<", "p-value",
              f"paired one-sided HAC test (Ledoit–Wolf) of {margin} on the holdout, level "
              f"{t.confidence_level:.0%}; a Sharpe ratio ignores position size"),
        _gate("stepm_superior", inputs.stepm_t, _finite(inputs.stepm_critical), ">", "t",
              f"StepM (Romano–Wolf) on the holdout, volatility-matched returns, {margin}: the candidate is "
              "superior when its t exceeds the last step's critical value"),
        _gate("risk_change_confidence", inputs.sharpe_diff_ci_low, 0.0, ">", "annualised Sharpe",
              confidence_detail, gating=bool(risk)),
        _gate("max_drawdown", inputs.max_drawdown_pct, t.max_drawdown_pct, "<=", "%",
              "candidate's deepest peak-to-trough equity fall on the holdout"),
        _gate("win_rate", inputs.win_rate_pct, t.min_win_rate_pct, ">=", "%",
              "share of the candidate's winning trades on the holdout"),
        _gate("worst_daily_loss", daily_loss_usd, t.max_daily_loss_usd, "<=", "USD",
              f"worst UTC day on the holdout, {inputs.worst_day_pct:.3g}% of {t.capital_usd:,.0f} USD"),
    ]  # fmt: skip


def _search_gates(inputs: GateInputs, t: Thresholds) -> list[Gate]:
    gating = inputs.search_record
    missing = "" if gating else "; info only: no search record, judged on the holdout alone"
    catastrophic = CATASTROPHIC_DRAWDOWN_FACTOR * t.max_drawdown_pct
    return [
        _gate("deflated_sharpe", inputs.dsr, t.min_deflated_sharpe, ">=", "probability",
              "Deflated Sharpe of the proposal against every configuration the search tried (in sample)"
              + missing, gating=gating, bars="search"),
        _gate("pbo", inputs.pbo, t.max_pbo, "<=", "probability",
              "probability of backtest overfitting (CSCV) of the search's selection (in sample)" + missing,
              gating=gating, bars="search"),
        _gate("fold_stability", inputs.fold_sharpe_cv, t.max_fold_sharpe_cv, "<=", "CV",
              "coefficient of variation of the re-optimised folds' OOS Sharpe gains over the live parameters"
              + missing,
              gating=gating, bars="walk-forward"),
        _gate("catastrophic_fold", inputs.max_fold_drawdown_pct, catastrophic, "<=", "%",
              f"deepest fold OOS drawdown; over {CATASTROPHIC_DRAWDOWN_FACTOR:g}x the limit fails" + missing,
              gating=gating, bars="walk-forward"),
        _gate("walk_forward_gain", inputs.walk_forward_gain, 0.0, ">=", "annualised Sharpe",
              "stitched OOS Sharpe of re-optimising on every fold minus the live parameters'" + missing,
              gating=gating, bars="walk-forward"),
        _gate("spa_search", inputs.spa_search_p, t.alpha, "<", "p-value",
              "search-level data-snooping check: Hansen's SPA (consistent p) of the search's best "
              "candidates, volatility-matched, on the search bars; information, the holdout test gates",
              gating=False, bars="search"),
    ]  # fmt: skip


def _finite(value: float | None) -> float:
    return value if value is not None and math.isfinite(value) else math.inf


def _gate(
    name: str,
    figure: float | None,
    threshold: float,
    op: GateOp,
    unit: str,
    detail: str,
    *,
    gating: bool = True,
    bars: GateBars = "holdout",
) -> Gate:
    value = None if figure is None or math.isnan(figure) else float(figure)
    passed = value is not None and _OPS[op](value, float(threshold))
    if value is None:
        detail = f"{detail}; not computed, so it fails"
    return Gate(name, value, float(threshold), op, unit, passed, gating, detail, bars)
