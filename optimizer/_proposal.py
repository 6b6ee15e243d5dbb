"""The guardrails of a proposal: delta caps, hard bounds, knob budget, cooldown and change budget.

Pure functions, no I/O. Whatever the search returns, :func:`bound_proposal` never gives a proposal that

- moves a parameter by more than ``max_delta`` × its current value (``max_delta`` × the hard range for a
  current value of 0, see :func:`step_cap`);
- leaves a parameter's hard bounds;
- changes more than ``max_knobs`` parameters;
- comes within ``cooldown_hours`` of the last applied change of the same strategy/symbol;
- takes the parameter changes applied in the rolling budget window above the change budget.

**Change budget.** It counts *changed parameters*, not proposals: an applied proposal that moved three
parameters uses three units. A new proposal may change at most ``max_changes - used`` parameters, where
``used`` counts the parameters of every applied change of the strategy/symbol dated after
``now - window_hours`` (changes dated in the future count too, and block by cooldown: a clock skew never
loosens a guardrail).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from tradeloop.errors import OptimizerError

__all__ = [
    "AppliedChange",
    "BoundedProposal",
    "ChangeBudget",
    "ClippedValue",
    "ParamChange",
    "blocking_reason",
    "bound_proposal",
    "clip_parameters",
    "round_towards",
    "step_cap",
]

Binding = Literal["cap", "bound", "none"]
Feasible = Callable[[Mapping[str, float]], bool]


@dataclass(frozen=True)
class AppliedChange:
    """A change that reached the live state: which strategy/symbol, when, and the parameters it moved."""

    strategy: str
    symbol: str
    applied_at: datetime
    parameters: tuple[str, ...]


@dataclass(frozen=True)
class ChangeBudget:
    """At most ``max_changes`` parameter changes per strategy/symbol within ``window_hours``."""

    max_changes: int
    window_hours: float


@dataclass(frozen=True)
class ClippedValue:
    """One parameter's best value after the delta cap, the hard bounds and integer rounding."""

    parameter: str
    current: float
    best: float
    proposed: float
    cap: float
    low: float
    high: float
    binding: Binding

    @property
    def moves(self) -> bool:
        return self.proposed != self.current

    @property
    def delta_pct(self) -> float:
        """Change in % of ``|current|``; for a current value of 0, in % of the hard range."""
        scale = abs(self.current) if self.current != 0 else self.high - self.low
        return (self.proposed - self.current) / scale * 100.0 if scale > 0 else 0.0


@dataclass(frozen=True)
class ParamChange:
    """One parameter of a proposal (contract 2, ``changes[]``)."""

    parameter: str
    current: float
    proposed: float
    delta_pct: float
    cap_pct: float
    bound: str
    binding: Binding
    expected_gain: float
    rationale: str

    def as_dict(self) -> dict[str, object]:
        return {
            "parameter": self.parameter,
            "current": self.current,
            "proposed": self.proposed,
            "delta_pct": self.delta_pct,
            "cap_pct": self.cap_pct,
            "bound": self.bound,
            "binding": self.binding,
            "expected_gain": self.expected_gain,
            "rationale": self.rationale,
        }


@dataclass(frozen=True)
class BoundedProposal:
    """What the guardrails let through: ``proposed`` with changes, or ``no_change`` with a reason."""

    status: Literal["proposed", "no_change"]
    reason: str | None
    params_before: dict[str, float]
    params_after: dict[str, float]
    changes: list[ParamChange] = field(default_factory=list)
    knob_limit: int = 0


def step_cap(current: float, low: float, high: float, max_delta: float) -> float:
    """The largest move allowed this cycle: ``max_delta·|current|``, or ``max_delta·(high - low)`` at 0.

    A current value of 0 has no scale of its own, so the hard range gives it one (e.g. a stop-loss that is
    off at 0 % in [0, 50] may move to at most 10 % with ``max_delta`` 0.2).
    """
    return max_delta * (abs(current) if current != 0 else high - low)


def _limit_move(current: float, target: float, cap: float) -> float:
    """``target`` pulled towards ``current`` until ``|target - current| <= cap`` holds in floating point."""
    moved = min(max(target, current - cap), current + cap)
    while abs(moved - current) > cap:
        moved = math.nextafter(moved, current)
    return moved


def round_towards(value: float, current: float, places: int) -> float:
    """``value`` rounded to ``places`` decimals towards ``current``, so rounding never lengthens a move.

    A value within 1e-9 of a step counts as on it (``0.1 * 1.2`` is 0.12, not 0.119). When no step lies
    between ``current`` and ``value`` (a live value off the grid), the result is ``current``: no move.
    """
    scale = 10.0**places
    scaled = value * scale
    nearest = round(scaled)
    if abs(scaled - nearest) < 1e-9:
        steps = float(nearest)
    else:
        steps = float(math.floor(scaled) if value >= current else math.ceil(scaled))
    rounded = float(round(steps / scale, places))
    crossed = rounded < current <= value or value <= current < rounded
    return current if crossed else rounded


def _clip_one(
    name: str,
    current: float,
    best: float,
    bounds: tuple[float, float],
    is_int: bool,
    max_delta: float,
    places: int | None = None,
) -> ClippedValue:
    low, high = bounds
    if not low <= current <= high:
        raise OptimizerError(
            f"parameter {name}: current value {current!r} is outside its hard bounds [{low:g}, {high:g}]; "
            "fix LIVE_PARAMS in config/constants.py"
        )
    if is_int and not float(current).is_integer():
        raise OptimizerError(f"parameter {name}: current value {current!r} must be an integer")
    cap = step_cap(current, low, high, max_delta)
    capped = _limit_move(current, best, cap)
    bounded = min(max(capped, low), high)
    proposed = bounded
    places = 0 if is_int else places
    if places is not None:
        # Towards the current value, so that rounding never takes the move past the cap or the bounds.
        proposed = round_towards(bounded, current, places)
        if not low <= proposed <= high:  # a bound with more decimals than the parameter's precision
            proposed = current
    binding: Binding = "bound" if bounded != capped else ("cap" if capped != best else "none")
    return ClippedValue(name, current, best, proposed, cap, low, high, binding)


def clip_parameters(
    current: Mapping[str, float],
    best: Mapping[str, float],
    *,
    hard_bounds: Mapping[str, tuple[float, float]],
    int_params: Collection[str] = (),
    max_delta: float = 0.2,
    decimals: Mapping[str, int] | None = None,
) -> dict[str, ClippedValue]:
    """Each parameter of ``current`` clipped towards ``best`` (parameters ``best`` lacks stay put).

    Integers, and parameters with ``decimals`` places of precision, are rounded towards the current value.

    Raises
    ------
    OptimizerError
        A parameter without hard bounds, a non-finite value, a current value outside its bounds, or a
        negative ``max_delta``.
    """
    if not (math.isfinite(max_delta) and max_delta >= 0):
        raise OptimizerError(f"max_delta must be a finite number >= 0 (0.2 = 20 %), got {max_delta!r}")
    clipped: dict[str, ClippedValue] = {}
    for name in sorted(current):
        if name not in hard_bounds:
            raise OptimizerError(
                f"parameter {name} has no hard bounds; pass hard_bounds[{name!r}] = (lo, hi)"
            )
        now_value = float(current[name])
        target = float(best.get(name, now_value))
        if not (math.isfinite(now_value) and math.isfinite(target)):
            raise OptimizerError(f"parameter {name}: values must be finite, got {now_value!r} -> {target!r}")
        places = (decimals or {}).get(name)
        clipped[name] = _clip_one(
            name, now_value, target, hard_bounds[name], name in int_params, max_delta, places
        )
    return clipped


def blocking_reason(
    history: Iterable[AppliedChange],
    strategy: str,
    symbol: str,
    now: datetime,
    cooldown_hours: float,
    budget: ChangeBudget,
) -> tuple[str | None, int]:
    """Why nothing may be proposed now (cooldown or spent budget; None if free), and changes still allowed."""
    own = [change for change in history if change.strategy == strategy and change.symbol == symbol]
    cooldown_start = now - timedelta(hours=cooldown_hours)
    recent = [change.applied_at for change in own if change.applied_at > cooldown_start]
    if recent:
        last = max(recent)
        ready = last + timedelta(hours=cooldown_hours)
        return (
            f"cooldown: the last applied change of {strategy}/{symbol} was at {last.isoformat()}, "
            f"less than OPTIMIZER_COOLDOWN_HOURS={cooldown_hours:g} h before {now.isoformat()}; "
            f"next proposal from {ready.isoformat()}"
        ), 0
    window_start = now - timedelta(hours=budget.window_hours)
    used = sum(len(change.parameters) for change in own if change.applied_at > window_start)
    remaining = budget.max_changes - used
    if remaining <= 0:
        return (
            f"change budget spent: {used} parameter changes of {strategy}/{symbol} applied in the last "
            f"{budget.window_hours:g} h, OPTIMIZER_CHANGE_BUDGET={budget.max_changes}"
        ), 0
    return None, remaining


def _select_knobs(
    moving: list[ClippedValue],
    expected_gain: Mapping[str, float],
    limit: int,
    base: dict[str, float],
    feasible: Feasible | None,
) -> list[ClippedValue]:
    """Add, up to ``limit``, the knob with the largest gain (ties by name) that keeps ``feasible`` true.

    A knob skipped as infeasible is reconsidered after each addition (moving ``ema_slow`` up may make
    room for ``ema_fast``).
    """
    pending = sorted(moving, key=lambda value: (-expected_gain.get(value.parameter, 0.0), value.parameter))
    chosen: list[ClippedValue] = []
    params = dict(base)
    while len(chosen) < limit:
        for value in pending:
            trial = {**params, value.parameter: value.proposed}
            if feasible is None or feasible(trial):
                chosen.append(value)
                pending.remove(value)
                params = trial
                break
        else:
            break
    return chosen


def _change(value: ClippedValue, gain: float, max_delta: float) -> ParamChange:
    basis = "|current|" if value.current != 0 else "the hard range (current is 0)"
    rationale = (
        f"moves {value.current:g} -> {value.proposed:g} (search best {value.best:g}); "
        f"cap ±{max_delta * 100:g} % of {basis} = ±{value.cap:g}; expected objective gain {gain:+.4g}"
    )
    return ParamChange(
        parameter=value.parameter,
        current=value.current,
        proposed=value.proposed,
        delta_pct=value.delta_pct,
        cap_pct=max_delta * 100.0,
        bound=f"[{value.low:g}, {value.high:g}]",
        binding=value.binding,
        expected_gain=gain,
        rationale=rationale,
    )


def _empty_reason(moving: int, gaining: int, limit: int) -> str:
    if limit <= 0:
        return f"knob limit is {limit} (OPTIMIZER_MAX_KNOBS); nothing may change"
    if gaining == 0:
        return f"no gain: none of the {moving} clipped moves improves the objective on its own"
    return f"constraints: each of the {gaining} improving moves breaks the strategy's parameter constraints"


def bound_proposal(
    current: Mapping[str, float],
    best: Mapping[str, float],
    *,
    strategy: str,
    symbol: str,
    hard_bounds: Mapping[str, tuple[float, float]],
    int_params: Collection[str] = (),
    max_delta: float = 0.2,
    decimals: Mapping[str, int] | None = None,
    max_knobs: int,
    expected_gain: Mapping[str, float],
    history: Iterable[AppliedChange] = (),
    now: datetime,
    cooldown_hours: float,
    change_budget: ChangeBudget,
    feasible: Feasible | None = None,
) -> BoundedProposal:
    """Turn the search's best parameters into a proposal that respects every guardrail.

    Parameters
    ----------
    current, best
        The live values and the search's best, by parameter name (numbers only; no ``timeframe``).
    strategy, symbol
        Whose proposal this is; ``history`` entries of other pairs are ignored.
    hard_bounds, int_params, decimals
        ``(low, high)`` per parameter, the names of the integer parameters, and the decimal places a
        float parameter is proposed with (``Param.precision``).
    max_delta
        Largest fractional move per cycle (OPTIMIZER_MAX_DELTA); see :func:`step_cap` for a current of 0.
    max_knobs
        Most parameters one proposal changes (OPTIMIZER_MAX_KNOBS).
    expected_gain
        Objective gain of moving each parameter alone (see :func:`optimizer.expected_gains`). Only
        parameters with a gain > 0 are changed, the largest gains first, ties broken by name.
    history
        Applied changes: the cooldown and the change budget are counted from them (module docstring).
    now
        The time of the decision (tz-aware).
    cooldown_hours, change_budget
        OPTIMIZER_COOLDOWN_HOURS; OPTIMIZER_CHANGE_BUDGET per OPTIMIZER_BUDGET_WINDOW_HOURS.
    feasible
        Optional check of a whole parameter set (e.g. ``ema_fast < ema_slow``); a knob that would break it
        is skipped.

    Returns
    -------
    BoundedProposal
        ``no_change`` with a reason (cooldown, budget spent, nothing moves, no gain), or ``proposed``.
    """
    if max_knobs < 0 or change_budget.max_changes < 0:
        raise OptimizerError(
            f"max_knobs ({max_knobs}) and the change budget ({change_budget.max_changes}) must be >= 0"
        )
    before = {name: float(value) for name, value in current.items()}
    reason, remaining = blocking_reason(history, strategy, symbol, now, cooldown_hours, change_budget)
    if reason is not None:
        return BoundedProposal("no_change", reason, before, dict(before))
    clipped = clip_parameters(
        current, best, hard_bounds=hard_bounds, int_params=int_params, max_delta=max_delta, decimals=decimals
    )
    moving = [value for value in clipped.values() if value.moves]
    if not moving:
        reason = "no parameter moves: the best candidate equals the live values within the caps"
        return BoundedProposal("no_change", reason, before, dict(before))
    gaining = [value for value in moving if expected_gain.get(value.parameter, 0.0) > 0.0]
    limit = min(max_knobs, remaining)
    chosen = _select_knobs(gaining, expected_gain, limit, before, feasible)
    if not chosen:
        return BoundedProposal(
            "no_change", _empty_reason(len(moving), len(gaining), limit), before, dict(before)
        )
    after = {**before, **{value.parameter: value.proposed for value in chosen}}
    changes = [_change(value, expected_gain[value.parameter], max_delta) for value in chosen]
    return BoundedProposal("proposed", None, before, after, changes, limit)
