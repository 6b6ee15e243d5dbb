"""The checks of one analysis, measured from the evidence of a stage (what :func:`deployment.decide` judges).

Every stage has the checks :data:`gitops._deploy_rules.STAGE_RULES` lists, with the thresholds of
``config/constants.py``:

- **COLD**: a backtest of the new parameters on the bars since the rollout started (bars the search never
  saw): at least ``MIN_TRADES`` trades, Sharpe >= ``DEPLOY_COLD_MIN_SHARPE``, win rate >=
  ``DEPLOY_COLD_MIN_WIN_RATE_PCT``, PnL > 0;
- **WARM**: the paper equity of the new parameters paired bar by bar with the live equity of the previous
  ones: paper trades, Sharpe gain, win-rate gain, paper drawdown, and the sequential test (non-inferiority
  and harm, :mod:`deployment._msprt`);
- **LIMITED**: the live equity of the canary paired with the live equity of the previous parameters:
  winning trades, Sharpe gain, realised loss, and the sequential test.

Every stage also checks that data arrived in the last interval (none fails), its dwell and its deadline.
The relative Sharpe gain is ``(S_new − S_base) / max(|S_base|, DEPLOY_SHARPE_GAIN_FLOOR) × 100``, so a
baseline Sharpe at or below zero still needs a real gain. Sharpe ratios are annualised over a 365-day year
of the pair's bars. Without previous parameters (a first rollout) the baseline is cash: zero returns, and
``MIN_WIN_RATE_PCT`` as its win rate.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from deployment._model import Check, Outcome
from deployment._msprt import MIN_OBSERVATIONS, sequential_test
from gitops import LiveConstants
from gitops._deploy_rules import STAGE_RULES, CheckRule, rule_threshold, satisfies

__all__ = ["BacktestEvidence", "PairedEvidence", "annualisation", "cold_checks", "paired_checks", "sharpe"]

_MINUTES_PER_YEAR = 365 * 24 * 60


def annualisation(bar_minutes: float) -> float:
    """``sqrt(bars per 365-day year)`` for bars of ``bar_minutes``."""
    return math.sqrt(_MINUTES_PER_YEAR / bar_minutes)


def sharpe(returns: NDArray[np.float64], bar_minutes: float) -> float | None:
    """Annualised Sharpe of per-bar returns; ``None`` with fewer than 2 returns, 0 when they do not vary."""
    if returns.size < 2:
        return None
    spread = float(np.std(returns, ddof=1))
    if spread <= 0.0 or not math.isfinite(spread):
        return 0.0
    return float(np.mean(returns)) / spread * annualisation(bar_minutes)


@dataclass(frozen=True)
class BacktestEvidence:
    """COLD's evidence: the backtest of the new parameters on the bars since the rollout started."""

    bars: int
    bars_in_interval: int
    trades: int
    sharpe: float
    win_rate_pct: float
    pnl_usd: float


@dataclass(frozen=True)
class PairedEvidence:
    """WARM's and LIMITED's evidence: both equity curves on the bars they share, and the closed trades.

    ``times`` are the shared bar times (UTC nanoseconds, increasing); ``candidate_returns`` and
    ``baseline_returns`` the per-bar returns ending at ``times[1:]``; ``candidate_equity`` the new
    parameters' equity at ``times``. ``look_ends`` is, for each interval of the stage so far, how many
    returns had arrived at its end. ``baseline`` is False for a first rollout (the baseline is cash).
    """

    times: NDArray[np.int64]
    candidate_returns: NDArray[np.float64]
    baseline_returns: NDArray[np.float64]
    candidate_equity: NDArray[np.float64]
    candidate_pnl: NDArray[np.float64]
    baseline_pnl: NDArray[np.float64]
    look_ends: NDArray[np.int64]
    bars_in_interval: int
    baseline: bool = True


def _check(
    rule: CheckRule,
    constants: LiveConstants,
    stage: str,
    timeframe: str,
    figure: float | None,
    detail: str,
    *,
    below: Outcome | None = None,
) -> Check:
    """A check of ``rule``: pass on the passing side, else ``below`` (the rule's kind decides by default)."""
    threshold = rule_threshold(rule, constants, stage, timeframe)
    if figure is not None and not math.isfinite(figure):
        return Check(rule.name, "error", None, threshold, rule.comparator, rule.unit, f"{detail}: not finite")
    if satisfies(figure, rule.comparator, threshold):
        outcome: Outcome = "pass"
    elif below is not None:
        outcome = below
    else:
        outcome = "inconclusive" if rule.kind == "gate" else "fail"
    return Check(rule.name, outcome, figure, threshold, rule.comparator, rule.unit, detail)


def _rules(stage: str) -> dict[str, CheckRule]:
    return {rule.name: rule for rule in STAGE_RULES[stage]}


def _timing(
    rules: dict[str, CheckRule], constants: LiveConstants, stage: str, timeframe: str, bars_in_stage: float
) -> list[Check]:
    shown = f"{bars_in_stage:.1f} bars of {timeframe} in {stage}"
    return [
        _check(rules["dwell"], constants, stage, timeframe, bars_in_stage, shown),
        _check(rules["deadline"], constants, stage, timeframe, bars_in_stage, shown),
    ]


def cold_checks(
    evidence: BacktestEvidence | None, constants: LiveConstants, timeframe: str, bars_in_stage: float
) -> list[Check]:
    """The analysis of COLD (module docstring); ``None``: no bars at all since the rollout started."""
    rules = _rules("COLD")
    if evidence is None:
        nothing = "no bars of the pair since the rollout started"
        checks = [_check(rules["data"], constants, "COLD", timeframe, 0.0, nothing)]
        checks += [
            _check(rules[name], constants, "COLD", timeframe, None, nothing, below="inconclusive")
            for name in ("trades", "sharpe", "win_rate_pct", "pnl_usd")
        ]
        return checks + _timing(rules, constants, "COLD", timeframe, bars_in_stage)
    on = f"backtest of the new parameters on {evidence.bars} bars since the rollout started"
    enough = evidence.trades >= constants.min_trades
    why = "" if enough else f" (too few trades: {evidence.trades} < MIN_TRADES {constants.min_trades})"
    checks = [
        _check(rules["data"], constants, "COLD", timeframe, float(evidence.bars_in_interval),
               "bars of the pair in the last interval"),
        _check(rules["trades"], constants, "COLD", timeframe, float(evidence.trades), on),
    ]  # fmt: skip
    for name, figure in (
        ("sharpe", evidence.sharpe),
        ("win_rate_pct", evidence.win_rate_pct),
        ("pnl_usd", evidence.pnl_usd),
    ):
        check = _check(rules[name], constants, "COLD", timeframe, figure, on + why)
        if not enough and check.outcome == "pass":  # too few trades: the figure holds, it never passes
            check = dataclasses.replace(check, outcome="inconclusive")
        checks.append(check)
    return checks + _timing(rules, constants, "COLD", timeframe, bars_in_stage)


def paired_checks(
    stage: str,
    evidence: PairedEvidence | None,
    constants: LiveConstants,
    timeframe: str,
    bar_minutes: float,
    bars_in_stage: float,
) -> list[Check]:
    """The analysis of WARM or LIMITED (module docstring); ``None``: no paired bar at all in the stage."""
    rules = _rules(stage)
    base = "the live previous parameters" if stage == "WARM" else "the previous parameters"
    if evidence is None or evidence.times.size == 0:
        nothing = f"no paired bars of the new parameters and {base} in {stage} yet"
        checks = [_check(rules["data"], constants, stage, timeframe, 0.0, nothing)]
        checks += [
            _check(rule, constants, stage, timeframe, None, nothing, below="inconclusive")
            for rule in STAGE_RULES[stage]
            if rule.name not in ("data", "dwell", "deadline")
        ]
        return checks + _timing(rules, constants, stage, timeframe, bars_in_stage)
    checks = [
        _check(rules["data"], constants, stage, timeframe, float(evidence.bars_in_interval),
               f"paired bars in the last interval ({evidence.times.size} in {stage})"),
    ]  # fmt: skip
    new_sharpe = sharpe(evidence.candidate_returns, bar_minutes)
    old_sharpe = sharpe(evidence.baseline_returns, bar_minutes)
    checks.append(_sharpe_gain(rules, constants, stage, timeframe, new_sharpe, old_sharpe, base))
    trades = evidence.candidate_pnl.size
    wins = int(np.count_nonzero(evidence.candidate_pnl > 0))
    if stage == "WARM":
        closed = f"paper trades closed in {stage}"
        checks.append(_check(rules["trades"], constants, stage, timeframe, float(trades), closed))
        checks.append(_win_rate_gain(rules, constants, timeframe, evidence, base))
        drawdown = _max_drawdown_pct(evidence.candidate_equity)
        paper = "drawdown of the paper equity"
        checks.append(_check(rules["max_drawdown_pct"], constants, stage, timeframe, drawdown, paper))
    else:
        checks.append(
            _check(rules["winning_trades"], constants, stage, timeframe, float(wins),
                   f"{wins} of {trades} live trades of the new parameters won")
        )  # fmt: skip
        loss = max(0.0, -float(np.sum(evidence.candidate_pnl)))
        checks.append(
            _check(rules["realised_loss_usd"], constants, stage, timeframe, loss,
                   f"realised PnL of the new parameters {float(np.sum(evidence.candidate_pnl)):+.2f} USD")
        )  # fmt: skip
    checks += _sequential(rules, constants, stage, timeframe, evidence)
    return checks + _timing(rules, constants, stage, timeframe, bars_in_stage)


def _sharpe_gain(
    rules: dict[str, CheckRule],
    constants: LiveConstants,
    stage: str,
    timeframe: str,
    new: float | None,
    old: float | None,
    base: str,
) -> Check:
    rule = rules["sharpe_gain_pct"]
    if new is None or old is None:
        few = "fewer than 2 paired returns"
        return _check(rule, constants, stage, timeframe, None, few, below="inconclusive")
    scale = max(abs(old), constants.deploy_sharpe_gain_floor)
    gain = (new - old) / scale * 100.0
    detail = f"Sharpe {new:.3g} against {old:.3g} for {base} on the same bars (scale {scale:.3g})"
    return _check(rule, constants, stage, timeframe, gain, detail)


def _win_rate_gain(
    rules: dict[str, CheckRule], constants: LiveConstants, timeframe: str, evidence: PairedEvidence, base: str
) -> Check:
    rule = rules["win_rate_gain_pts"]
    new_trades, old_trades = evidence.candidate_pnl.size, evidence.baseline_pnl.size
    if new_trades == 0:
        none = "no paper trade closed yet"
        return _check(rule, constants, "WARM", timeframe, None, none, below="inconclusive")
    new_rate = float(np.count_nonzero(evidence.candidate_pnl > 0)) / new_trades * 100.0
    if not evidence.baseline:
        old_rate = constants.min_win_rate_pct
        of = "MIN_WIN_RATE_PCT (a first rollout: no previous parameters)"
    elif old_trades == 0:
        none = f"{base} closed no trade yet"
        return _check(rule, constants, "WARM", timeframe, None, none, below="inconclusive")
    else:
        old_rate = float(np.count_nonzero(evidence.baseline_pnl > 0)) / old_trades * 100.0
        of = f"{old_trades} trades of {base}"
    detail = f"win rate {new_rate:.1f}% over {new_trades} paper trades against {old_rate:.1f}% ({of})"
    return _check(rule, constants, "WARM", timeframe, new_rate - old_rate, detail)


def _max_drawdown_pct(equity: NDArray[np.float64]) -> float:
    if equity.size == 0:
        return 0.0
    peaks = np.maximum.accumulate(equity)
    with np.errstate(divide="ignore", invalid="ignore"):
        drawdowns = np.where(peaks > 0, (peaks - equity) / peaks, 0.0)
    return float(np.max(drawdowns)) * 100.0


def _sequential(
    rules: dict[str, CheckRule],
    constants: LiveConstants,
    stage: str,
    timeframe: str,
    evidence: PairedEvidence,
) -> Sequence[Check]:
    differences = evidence.candidate_returns - evidence.baseline_returns
    result = sequential_test(differences, evidence.look_ends, constants.deploy_harm_margin)
    margin = constants.deploy_harm_margin
    if result.effect is None:
        detail = f"{result.n} paired returns, fewer than the {MIN_OBSERVATIONS} the sequential test needs"
    else:
        detail = (
            f"mSPRT over {evidence.look_ends.size} looks, {result.n} paired returns: standardised difference "
            f"{result.effect:+.3f} against the margin -{margin:g}"
        )
    return (
        _check(rules["non_inferiority"], constants, stage, timeframe, result.p_noninferior, detail),
        _check(rules["harm"], constants, stage, timeframe, result.p_harm, detail),
    )
