"""The breach rules of the monitor: what the live evidence of a LIMITED or FULL rollout must not show.

Each check is measured at the end of a monitor interval (``MONITOR_INTERVAL_MINUTES``, at least one bar),
on the evidence up to that end only:

- **data** (counted): the new parameters reported at least one equity point in the interval; none is a
  failed check (Flagger);
- **daily_loss_usd** (hard limit): the fall of the new parameters' equity since the start of the UTC day
  (the last point before midnight, else the first of the day) above ``MAX_DAILY_LOSS_USD``;
- **max_drawdown_pct** (hard limit): the drawdown of the new parameters' equity since the stage began above
  ``MAX_DRAWDOWN_PCT``;
- **sharpe_drop_pct** (counted): the Sharpe of the new parameters against the replaced ones (their shadow,
  paper at FULL, live at LIMITED) on the same bars since the stage began, as a drop in percent of
  ``max(|their Sharpe|, DEPLOY_SHARPE_GAIN_FLOOR)``, above ``MONITOR_MAX_SHARPE_DROP_PCT``, *and* shown by
  the always-valid sequential test of harm on the paired return differences (:mod:`deployment._msprt`,
  ``DEPLOY_HARM_MARGIN`` at ``DEPLOY_SEQUENTIAL_ALPHA``): Sharpe ratios of a few dozen bars are so noisy that
  the drop alone would roll back an equal candidate most weeks (``benchmarks/monitor_false_rollbacks.py``);
  a drop the test does not confirm yet, or fewer than ``MONITOR_MIN_RETURNS`` paired returns, is
  inconclusive (never failed).

A hard limit rolls back on its first breach. The counted checks roll back when every one of the last
``MONITOR_FAILURE_THRESHOLD`` intervals failed one of them, so the worst-case reaction time is
interval × threshold. The rules are pure functions of the series, so the simulation of the false-rollback
rate (``benchmarks/monitor_false_rollbacks.py``) runs them exactly as the monitor does.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from deployment._analysis import sharpe
from deployment._model import Check, Outcome
from deployment._msprt import MIN_OBSERVATIONS, sequential_test
from gitops import LiveConstants

__all__ = ["HARD_CHECKS", "BreachJudgement", "Series", "judge", "series", "window_checks"]

#: Checks whose first breach rolls back at once.
HARD_CHECKS = ("daily_loss_usd", "max_drawdown_pct")
_DAY = np.int64(86_400 * 10**9)


@dataclass(frozen=True)
class Series:
    """One parameter set's equity: times (UTC nanoseconds, increasing) and USD values."""

    times: NDArray[np.int64]
    equity: NDArray[np.float64]

    def until(self, end: np.int64) -> Series:
        cut = int(np.searchsorted(self.times, end, side="right"))
        return Series(self.times[:cut], self.equity[:cut])


def series(points: list[tuple[datetime, float]]) -> Series:
    """A :class:`Series` from the warehouse's ``(time, equity)`` points."""
    if not points:
        return Series(np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64))
    index = pd.DatetimeIndex([at for at, _ in points]).as_unit("ns")
    return Series(np.asarray(index.asi8, dtype=np.int64), np.array([v for _, v in points], dtype=np.float64))


@dataclass(frozen=True)
class BreachJudgement:
    """The monitor's judgement of one rollout at one time.

    ``checks`` are those of the last interval; ``failed_in_row`` counts the consecutive intervals, the last
    included, that failed a counted check; ``hard`` names the hard limits breached now. ``decision`` is
    ``rollback_now`` (a hard limit), ``rollback`` (``MONITOR_FAILURE_THRESHOLD`` failed intervals in a
    row), ``warn`` (a failed or inconclusive check below that), or ``ok``.
    """

    checks: tuple[Check, ...]
    failed_in_row: int
    hard: tuple[str, ...]
    decision: str
    reason: str


def _check(name: str, figure: float | None, threshold: float, detail: str, *, unit: str) -> Check:
    if figure is None:
        return Check(name, "inconclusive", None, threshold, "<=", unit, detail)
    if not math.isfinite(figure):
        return Check(name, "error", None, threshold, "<=", unit, f"{detail}: not finite")
    outcome: Outcome = "pass" if figure <= threshold else "fail"
    return Check(name, outcome, figure, threshold, "<=", unit, detail)


def _returns(equity: NDArray[np.float64]) -> NDArray[np.float64]:
    if equity.size < 2:
        return np.zeros(0)
    with np.errstate(divide="ignore", invalid="ignore"):
        found = np.where(equity[:-1] != 0, equity[1:] / equity[:-1] - 1.0, 0.0)
    return np.asarray(found, dtype=np.float64)


def window_checks(
    candidate: Series,
    baseline: Series | None,
    constants: LiveConstants,
    *,
    end: np.int64,
    interval_ns: np.int64,
    bar_minutes: float,
) -> list[Check]:
    """The checks of the interval ending at ``end`` (module docstring); series start at the stage's start."""
    new = candidate.until(end)
    in_interval = int(np.count_nonzero(new.times > end - interval_ns))
    checks = [
        Check(
            "data", "pass" if in_interval else "fail", float(in_interval), 1.0, ">=", "points",
            f"equity points of the new parameters in the last interval ({new.times.size} in the stage)",
        )
    ]  # fmt: skip
    checks.append(_daily_loss(new, constants, end))
    checks.append(_drawdown(new, constants))
    checks.append(
        _sharpe_drop(new, None if baseline is None else baseline.until(end), constants, bar_minutes)
    )
    return checks


def _daily_loss(new: Series, constants: LiveConstants, end: np.int64) -> Check:
    limit = constants.max_daily_loss_usd
    if new.times.size == 0:
        return _check("daily_loss_usd", None, limit, "no equity of the new parameters yet", unit="USD")
    midnight = end - end % _DAY
    before = int(np.searchsorted(new.times, midnight, side="right"))
    reference = new.equity[before - 1] if before > 0 else new.equity[min(before, new.times.size - 1)]
    loss = max(0.0, float(reference - new.equity[-1]))
    detail = f"equity {new.equity[-1]:.2f} USD against {reference:.2f} at the start of the UTC day"
    return _check("daily_loss_usd", loss, limit, detail, unit="USD")


def _drawdown(new: Series, constants: LiveConstants) -> Check:
    limit = constants.max_drawdown_pct
    if new.times.size == 0:
        return _check("max_drawdown_pct", None, limit, "no equity of the new parameters yet", unit="%")
    peaks = np.maximum.accumulate(new.equity)
    with np.errstate(divide="ignore", invalid="ignore"):
        drawdowns = np.where(peaks > 0, (peaks - new.equity) / peaks, 0.0)
    figure = float(np.max(drawdowns)) * 100.0
    return _check("max_drawdown_pct", figure, limit, "drawdown of the live equity in the stage", unit="%")


def _sharpe_drop(new: Series, old: Series | None, constants: LiveConstants, bar_minutes: float) -> Check:
    limit = constants.monitor_max_sharpe_drop_pct
    if old is None or old.times.size == 0:
        why = "no equity of the replaced parameters (their shadow) to compare with"
        return _check("sharpe_drop_pct", None, limit, why, unit="%")
    times, new_index, old_index = np.intersect1d(
        new.times, old.times, assume_unique=True, return_indices=True
    )
    new_returns = _returns(new.equity[new_index])
    old_returns = _returns(old.equity[old_index])
    if new_returns.size < constants.monitor_min_returns:
        least = constants.monitor_min_returns
        few = f"{new_returns.size} paired returns, fewer than MONITOR_MIN_RETURNS {least}"
        return _check("sharpe_drop_pct", None, limit, few, unit="%")
    new_sharpe, old_sharpe = sharpe(new_returns, bar_minutes), sharpe(old_returns, bar_minutes)
    assert new_sharpe is not None and old_sharpe is not None
    scale = max(abs(old_sharpe), constants.deploy_sharpe_gain_floor)
    drop = (old_sharpe - new_sharpe) / scale * 100.0
    differences = new_returns - old_returns
    looks = np.arange(MIN_OBSERVATIONS, differences.size + 1, dtype=np.int64)
    harm = sequential_test(differences, looks, constants.deploy_harm_margin).p_harm
    detail = (
        f"Sharpe {new_sharpe:.3g} against {old_sharpe:.3g} for the replaced parameters on {times.size} "
        f"shared bars (scale {scale:.3g}); always-valid p of harm {harm:.3g}"
    )
    check = _check("sharpe_drop_pct", drop, limit, detail, unit="%")
    if check.outcome == "fail" and harm > constants.deploy_sequential_alpha:
        alpha = constants.deploy_sequential_alpha
        why = f"{detail}: the drop is not yet shown by the harm test (p > {alpha:g})"
        return dataclasses.replace(check, outcome="inconclusive", detail=why)
    return check


def _counted_failure(checks: list[Check]) -> bool:
    return any(c.outcome in ("fail", "error") for c in checks if c.name not in HARD_CHECKS)


def judge(
    candidate: Series,
    baseline: Series | None,
    constants: LiveConstants,
    *,
    since: datetime,
    clock: datetime,
    interval: timedelta,
    bar_minutes: float,
) -> BreachJudgement | None:
    """The judgement at ``clock`` (module docstring); ``None`` before the stage's first full interval."""
    interval_ns = np.int64(interval // timedelta(microseconds=1)) * 1000
    start = np.int64(pd.Timestamp(since).value)
    done = (np.int64(pd.Timestamp(clock).value) - start) // interval_ns
    if done < 1:
        return None
    end = start + done * interval_ns
    checks = window_checks(
        candidate, baseline, constants, end=end, interval_ns=interval_ns, bar_minutes=bar_minutes
    )
    hard = tuple(c.name for c in checks if c.name in HARD_CHECKS and c.outcome == "fail")
    threshold = constants.monitor_failure_threshold
    in_row = 0
    current = checks
    while _counted_failure(current):
        in_row += 1
        if in_row >= threshold or done - in_row < 1:
            break
        current = window_checks(
            candidate, baseline, constants, end=end - in_row * interval_ns, interval_ns=interval_ns,
            bar_minutes=bar_minutes,
        )  # fmt: skip
    return _decide(tuple(checks), in_row, hard, threshold)


def _decide(checks: tuple[Check, ...], in_row: int, hard: tuple[str, ...], threshold: int) -> BreachJudgement:
    failing = [c.name for c in checks if c.outcome in ("fail", "error")]
    if hard:
        shown = ", ".join(f"{c.name} {c.figure:.3g} > {c.threshold:g}" for c in checks if c.name in hard)
        return BreachJudgement(checks, in_row, hard, "rollback_now", f"hard limit breached: {shown}")
    if in_row >= threshold:
        why = f"{in_row} failed monitor checks in a row (threshold {threshold}; last: {', '.join(failing)})"
        return BreachJudgement(checks, in_row, hard, "rollback", why)
    if in_row:
        why = f"failed monitor check {in_row} of {threshold}: {', '.join(failing)}"
        return BreachJudgement(checks, in_row, hard, "warn", why)
    unsure = [c.name for c in checks if c.outcome == "inconclusive"]
    if unsure:
        return BreachJudgement(checks, 0, hard, "warn", f"inconclusive: {', '.join(unsure)}")
    return BreachJudgement(checks, 0, hard, "ok", "every monitor check passed")
