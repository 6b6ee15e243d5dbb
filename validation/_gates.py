"""The validation gates: each compares one figure with one threshold from ``config/constants.py``.

Validation never reads the constants itself (``gitops`` is downstream); the CLI builds
:class:`Thresholds` with :meth:`Thresholds.from_constants` and passes them in. A gate whose figure could
not be computed (``None`` or NaN) fails: missing evidence never counts as a pass.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from tradeloop.errors import ValidationError

__all__ = ["CATASTROPHIC_DRAWDOWN_FACTOR", "Gate", "GateInputs", "Thresholds", "evaluate_gates"]

GateOp = Literal[">=", "<=", "<", ">"]
_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "<": operator.lt,
    ">": operator.gt,
}
#: A fold whose OOS drawdown exceeds this multiple of MAX_DRAWDOWN_PCT is a catastrophic failure.
CATASTROPHIC_DRAWDOWN_FACTOR = 2.0

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


@dataclass(frozen=True)
class Gate:
    """One gate: ``figure op threshold`` must hold; ``gating`` gates decide, the others only inform."""

    name: str
    figure: float | None
    threshold: float
    op: GateOp
    unit: str
    passed: bool
    gating: bool
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "figure": self.figure,
            "threshold": self.threshold,
            "op": self.op,
            "unit": self.unit,
            "passed": self.passed,
            "gating": self.gating,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class GateInputs:
    """The figures the gates judge (candidate figures unless said otherwise).

    Attributes
    ----------
    trades, max_drawdown_pct, win_rate_pct, worst_day_pct
        The candidate's engine KPIs on the validation bars.
    delta_sharpe
        Annualised Sharpe of the candidate minus the baseline's.
    sharpe_diff_ci_low
        Lower bound of the bootstrap CI (at CONFIDENCE_LEVEL) of the annualised Sharpe difference.
    risk_params_changed
        The risk parameters (stops, targets, size) the proposal changes.
    spa_consistent_p
        Hansen's SPA consistent p-value over the candidate set against the baseline.
    dsr
        Deflated Sharpe ratio of the candidate.
    fold_sharpe_cv, max_fold_drawdown_pct
        Walk-forward fold stability (CV of fold Sharpe) and the deepest fold OOS drawdown in %.
    pbo
        Probability of backtest overfitting (CSCV) of the candidate set.
    """

    trades: float
    delta_sharpe: float
    sharpe_diff_ci_low: float
    risk_params_changed: tuple[str, ...]
    spa_consistent_p: float | None
    dsr: float | None
    max_drawdown_pct: float
    win_rate_pct: float
    worst_day_pct: float
    fold_sharpe_cv: float | None
    max_fold_drawdown_pct: float | None
    pbo: float | None


def evaluate_gates(inputs: GateInputs, thresholds: Thresholds) -> list[Gate]:
    """Every gate, in the order a reviewer reads them (see docs/validation.md, "Gates")."""
    t = thresholds
    daily_loss_usd = max(0.0, -inputs.worst_day_pct) * t.capital_usd / 100.0
    risk = inputs.risk_params_changed
    confidence_detail = (
        f"lower bound of the {t.confidence_level:.0%} bootstrap CI of the Sharpe difference; "
        + (
            f"gating: risk parameters change ({', '.join(risk)})"
            if risk
            else "info: no risk parameter changes"
        )
    )
    catastrophic = CATASTROPHIC_DRAWDOWN_FACTOR * t.max_drawdown_pct
    return [
        _gate("min_trades", inputs.trades, t.min_trades, ">=", "trades", "candidate trades on the bars"),
        _gate(
            "effect_size",
            inputs.delta_sharpe,
            t.min_sharpe_improvement,
            ">=",
            "annualised Sharpe",
            "candidate Sharpe minus baseline Sharpe (annualised)",
        ),
        _gate(
            "risk_change_confidence",
            inputs.sharpe_diff_ci_low,
            0.0,
            ">",
            "annualised Sharpe",
            confidence_detail,
            gating=bool(risk),
        ),
        _gate(
            "spa_consistent",
            inputs.spa_consistent_p,
            t.alpha,
            "<",
            "p-value",
            "Hansen's studentized SPA (consistent p) of the candidate set against the baseline",
        ),
        _gate(
            "deflated_sharpe",
            inputs.dsr,
            t.min_deflated_sharpe,
            ">=",
            "probability",
            "Deflated Sharpe ratio: probability the Sharpe beats the best expected from luck",
        ),
        _gate(
            "max_drawdown",
            inputs.max_drawdown_pct,
            t.max_drawdown_pct,
            "<=",
            "%",
            "candidate's deepest peak-to-trough equity fall",
        ),
        _gate("win_rate", inputs.win_rate_pct, t.min_win_rate_pct, ">=", "%", "share of winning trades"),
        _gate(
            "worst_daily_loss",
            daily_loss_usd,
            t.max_daily_loss_usd,
            "<=",
            "USD",
            f"worst UTC day {inputs.worst_day_pct:.3f}% of {t.capital_usd:,.0f} USD capital",
        ),
        _gate(
            "fold_stability",
            inputs.fold_sharpe_cv,
            t.max_fold_sharpe_cv,
            "<=",
            "CV",
            "coefficient of variation of the walk-forward fold Sharpe ratios",
        ),
        _gate(
            "catastrophic_fold",
            inputs.max_fold_drawdown_pct,
            catastrophic,
            "<=",
            "%",
            f"deepest walk-forward fold drawdown; over {CATASTROPHIC_DRAWDOWN_FACTOR:g}x the limit fails",
        ),
        _gate(
            "pbo",
            inputs.pbo,
            t.max_pbo,
            "<=",
            "probability",
            "probability of backtest overfitting (CSCV); noisy, so only a loose threshold gates",
        ),
    ]


def _gate(
    name: str,
    figure: float | None,
    threshold: float,
    op: GateOp,
    unit: str,
    detail: str,
    *,
    gating: bool = True,
) -> Gate:
    value = None if figure is None or math.isnan(figure) else float(figure)
    passed = value is not None and _OPS[op](value, float(threshold))
    if value is None:
        detail = f"{detail}; not computed, so it fails"
    return Gate(name, value, float(threshold), op, unit, passed, gating, detail)
