"""``propose_loadouts`` as a call: one parameter set per regime for a live pair, each judged on its holdout.

The detector labels the cadence window's bars (causally, so a bar's label uses no later bar). Each regime
is searched on the **search bars** with that label only (:func:`optimizer.regime_loadouts`), starting from
the set it would replace: the regime's loadout in force, or the live set for a first loadout, each value
moving at most its per-cycle cap (``OPTIMIZER_MAX_DELTA`` and the parameter's own ``max_step_pct``) and at
most ``OPTIMIZER_MAX_KNOBS`` parameters. The changed parameters count in the pair's change budget (the
regimes with the largest search gains first).

Each changed regime is then judged on the **holdout bars** with that label: both sets are backtested over
the holdout and their per-bar returns restricted to the regime's bars, and validation's paired one-sided
Sharpe test (leverage-neutral: a Sharpe ratio ignores scale) must beat the set in force by
``MIN_SHARPE_IMPROVEMENT``. A regime with fewer than ``MIN_TRADES`` holdout trades entered on its bars keeps
its set, and the pull request says why. A validated change is published on
``tradeloop/loadouts/<strategy>/<symbol>``, a branch of its own (never the pair's parameter branch), and
changes ``REGIME_LOADOUTS`` only.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from tradeloop._settings import Settings
from tradeloop.errors import OptimizerError
from tradeloop.loop._common import load_source, matrix_path, pair_source
from tradeloop.loop._memory import guardrail_memory, reading_forge
from tradeloop.loop._state_pr import StateChangePr, publish_state_change

if TYPE_CHECKING:
    import pandas as pd

    from gitops import LiveConstants

__all__ = [
    "LoadoutOptions",
    "LoadoutsResult",
    "RegimeOutcome",
    "loadout_branch",
    "propose_loadouts",
    "publish_loadouts",
]

Status = Literal["proposed", "no_change"]
_MIN_SEARCH_BARS = 60


def loadout_branch(strategy: str, symbol: str) -> str:
    """The branch of a pair's loadout pull request (separate from its parameter branch)."""
    return f"tradeloop/loadouts/{strategy}/{symbol}"


@dataclass(frozen=True)
class LoadoutOptions:
    """``tradeloop loadouts propose``'s options."""

    strategy: str
    symbol: str
    cadence: str = "weekly"
    samples: int = 48
    seed: int = 0
    data: str | None = None
    apply: bool = False
    forge: str | None = None
    base: str = "main"


@dataclass(frozen=True)
class RegimeOutcome:
    """One regime: its bars, the set in force and the searched set, their holdout Sharpe, the test, and
    whether the loadout changes (``reason`` says why or why not)."""

    regime: str
    search_bars: int
    holdout_bars: int
    holdout_trades: int
    before: Mapping[str, float]
    after: Mapping[str, float]
    sharpe_before: float | None
    sharpe_after: float | None
    p_value: float | None
    changed: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            **{f.name: getattr(self, f.name) for f in dataclasses.fields(self)},
            "before": dict(self.before), "after": dict(self.after),
        }  # fmt: skip


@dataclass(frozen=True)
class LoadoutsResult:
    """The pair's loadout proposal: status, reason, every regime's outcome, the PR body and where it went."""

    strategy: str
    symbol: str
    timeframe: str
    status: Status
    reason: str
    regimes: tuple[RegimeOutcome, ...] = ()
    body: str = ""
    branch: str = ""
    action: str = "none"
    pr_number: int | None = None

    def loadouts(self) -> dict[str, dict[str, float]]:
        """The regimes whose loadout changes → the parameters that differ from the set they replace."""
        return {
            r.regime: {k: v for k, v in r.after.items() if v != r.before.get(k)}
            for r in self.regimes
            if r.changed
        }

    def to_json(self) -> dict[str, Any]:
        """``tradeloop loadouts propose --json``."""
        return {
            "strategy": self.strategy, "symbol": self.symbol, "timeframe": self.timeframe,
            "status": self.status, "reason": self.reason, "regimes": [r.to_dict() for r in self.regimes],
            "branch": self.branch, "action": self.action, "pr_number": self.pr_number,
        }  # fmt: skip


def _entry(constants: LiveConstants, strategy: str, symbol: str) -> Mapping[str, Any]:
    entry = constants.live_params.get(strategy, {}).get(symbol)
    if entry is None:
        raise OptimizerError(
            f"config/constants.py: LIVE_PARAMS has no entry {strategy}/{symbol}; loadouts are for live "
            "pairs: "
            "add the pair through a pull request first"
        )
    return entry


def _max_delta(constants: LiveConstants, strategy: str) -> float:
    """The tightest per-cycle cap of the strategy's parameters (what ``pr check`` allows every one)."""
    from backtest_matrix.strategies import get_strategy

    steps = [param.max_step_pct / 100.0 for param in get_strategy(strategy).space()]
    return min([constants.optimizer_max_delta, *steps])


def propose_loadouts(settings: Settings, options: LoadoutOptions) -> LoadoutsResult:
    """Search, judge and (with ``apply``) publish one pair's regime loadouts (module docstring).

    Raises
    ------
    tradeloop.errors.OptimizerError
        The pair is not live, or the cadence is unknown.
    """
    from backtest_matrix.regimes import detect_regimes
    from gitops import load_constants
    from optimizer import ChangeBudget, blocking_reason, cadence_window, split_holdout

    o = options
    constants = load_constants(settings.constants_path)
    entry = _entry(constants, o.strategy, o.symbol)
    timeframe = str(entry["timeframe"])
    memory = guardrail_memory(settings, base="HEAD", forge=reading_forge(settings, o.forge))
    budget = ChangeBudget(constants.optimizer_change_budget, constants.optimizer_budget_window_hours)
    blocked, remaining = blocking_reason(
        memory.applied_changes(), o.strategy, o.symbol, settings.current_time(),
        constants.optimizer_cooldown_hours, budget,
    )  # fmt: skip
    if blocked is not None:
        return LoadoutsResult(o.strategy, o.symbol, timeframe, "no_change", blocked)
    loaded = load_source(settings, pair_source(constants, o.symbol, o.data, matrix_path(settings)), timeframe)
    window = cadence_window(loaded.bars, o.cadence)
    split = split_holdout(window, constants.validation_holdout_fraction)
    labels = detect_regimes(window).labels.astype(object)
    searched = _search(constants, o, entry, split.search, labels.loc[split.search.index])
    outcomes = _within_budget(
        [_judge(constants, o.strategy, split.holdout, labels.loc[split.holdout.index], s) for s in searched],
        remaining,
    )
    return _result(settings, o, timeframe, outcomes, split.holdout.index[0])


@dataclass(frozen=True)
class _Searched:
    regime: str
    search_bars: int
    before: dict[str, float]
    after: dict[str, float]
    search_gain: float
    note: str = field(default="")


def _search(
    constants: LiveConstants,
    o: LoadoutOptions,
    entry: Mapping[str, Any],
    bars: pd.DataFrame,
    labels: pd.Series,
) -> list[_Searched]:
    from backtest_matrix.engine import EngineConfig
    from optimizer import regime_loadouts

    live = {k: float(v) for k, v in entry.items() if k != "timeframe"}
    in_force = constants.regime_loadouts.get(o.strategy, {}).get(o.symbol, {})
    config = EngineConfig(fee_bps=constants.fee_bps, slippage_bps=constants.slippage_bps)
    found: list[_Searched] = []
    for regime in ("bull", "bear", "sideways", "high_vol"):
        before = {**live, **{k: float(v) for k, v in in_force.get(regime, {}).items() if k != "timeframe"}}
        chosen = regime_loadouts(
            bars, o.strategy, before, labels=labels, max_delta=_max_delta(constants, o.strategy),
            max_knobs=constants.optimizer_max_knobs, samples=o.samples, seed=o.seed, engine_config=config,
            min_bars=_MIN_SEARCH_BARS,
        )[regime]  # fmt: skip
        gain = (
            chosen.sharpe - chosen.live_sharpe if math.isfinite(chosen.sharpe - chosen.live_sharpe) else 0.0
        )
        note = ""
        if chosen.bars < _MIN_SEARCH_BARS:
            note = f"kept: {chosen.bars} {regime} search bars, fewer than {_MIN_SEARCH_BARS} to search on"
        elif chosen.source != "optimised":
            note = "kept: no candidate beats the set in force on the search bars"
        after = _rounded(o.strategy, before, chosen.params)
        found.append(_Searched(regime, chosen.bars, before, after, gain, note))
    return found


def _rounded(strategy: str, before: Mapping[str, float], after: Mapping[str, float]) -> dict[str, float]:
    """``after`` at each parameter's precision, rounded towards ``before`` so that no move grows past its
    cap; the rounded set is the one judged and written."""
    from backtest_matrix.strategies import get_strategy

    space = {param.name: param for param in get_strategy(strategy).space()}
    rounded = {}
    for name, value in after.items():
        digits = space[name].precision
        if digits is None or value == before[name]:
            rounded[name] = value
            continue
        step = 10.0**-digits
        near = round(value, digits)
        if abs(near - before[name]) > abs(value - before[name]):
            near = round(near - math.copysign(step, value - before[name]), digits)
        rounded[name] = near
    return rounded


def _judge(
    constants: LiveConstants, strategy: str, holdout: pd.DataFrame, labels: pd.Series, s: _Searched
) -> RegimeOutcome:
    import numpy as np
    import pandas as pd

    from backtest_matrix.engine import EngineConfig, backtest, periods_per_year
    from validation import paired_sharpe_test

    mask = (labels == s.regime).to_numpy()
    bars = int(mask.sum())

    def keep(trades: int, reason: str) -> RegimeOutcome:
        return RegimeOutcome(
            s.regime, s.search_bars, bars, trades, s.before, s.before, None, None, None, False, reason
        )

    if s.note or s.after == s.before:
        return keep(0, s.note or "kept: the search found nothing better")
    config = EngineConfig(fee_bps=constants.fee_bps, slippage_bps=constants.slippage_bps)
    runs = [backtest(holdout, strategy, params, config=config) for params in (s.before, s.after)]
    entries = runs[1].trades["entry_bar"].to_numpy(int) if len(runs[1].trades) else np.array([], int)
    trades = int(mask[entries].sum())
    if trades < constants.min_trades:
        why = f"kept: {trades} holdout trades in {s.regime} bars, fewer than MIN_TRADES = "
        why += str(constants.min_trades)
        return keep(trades, why)
    per_year = periods_per_year(pd.DatetimeIndex(holdout.index).as_unit("ns").asi8)
    before, after = (run.returns.to_numpy(float)[mask] for run in runs)
    test = paired_sharpe_test(
        after,
        before,
        margin=constants.min_sharpe_improvement / math.sqrt(per_year),
        level=constants.confidence_level,
    )
    sharpes = [_sharpe(r, per_year) for r in (before, after)]
    passed = test.p_value < 1.0 - constants.confidence_level
    alpha = 1 - constants.confidence_level
    reason = f"{'changed' if passed else 'kept'}: paired test p = {test.p_value:.3g} (α = {alpha:.2g})"
    return RegimeOutcome(
        s.regime, s.search_bars, bars, trades, s.before, s.after if passed else s.before,
        sharpes[0], sharpes[1], test.p_value, passed, reason,
    )  # fmt: skip


def _sharpe(returns: Any, per_year: float) -> float:
    import numpy as np

    std = float(np.std(returns, ddof=1))
    return float(np.mean(returns) / std * math.sqrt(per_year)) if std > 0 else 0.0


def _within_budget(outcomes: list[RegimeOutcome], remaining: int) -> list[RegimeOutcome]:
    """Keep the changed regimes with the largest holdout gains while their changed parameters fit the
    budget."""
    ranked = sorted(
        (o for o in outcomes if o.changed),
        key=lambda o: -((o.sharpe_after or 0.0) - (o.sharpe_before or 0.0)),
    )
    allowed: set[str] = set()
    for outcome in ranked:
        moved = sum(1 for k, v in outcome.after.items() if v != outcome.before.get(k))
        if moved <= remaining:
            allowed.add(outcome.regime)
            remaining -= moved
    return [
        o if not o.changed or o.regime in allowed
        else dataclasses.replace(o, after=o.before, changed=False, reason="kept: the change budget is spent")
        for o in outcomes
    ]  # fmt: skip


def _result(
    settings: Settings, o: LoadoutOptions, timeframe: str, outcomes: list[RegimeOutcome], holdout_start: Any
) -> LoadoutsResult:
    changed = [r.regime for r in outcomes if r.changed]
    reason = (
        f"loadouts change for {', '.join(changed)}"
        if changed
        else "every regime keeps its set (see the table)"
    )
    status: Status = "proposed" if changed else "no_change"
    result = LoadoutsResult(
        o.strategy, o.symbol, timeframe, status, reason, tuple(outcomes),
        loadouts_body(o.strategy, o.symbol, timeframe, outcomes, holdout_start),
        loadout_branch(o.strategy, o.symbol),
    )  # fmt: skip
    if status == "proposed" and o.apply:
        return publish_loadouts(settings, o, result)
    return result


def loadouts_body(
    strategy: str, symbol: str, timeframe: str, outcomes: list[RegimeOutcome], holdout_start: Any
) -> str:
    """The pull request body: a per-regime table (bars, Sharpe before → after on the holdout, the test)."""

    def fig(value: float | None) -> str:
        return "–" if value is None else f"{value:.3g}"

    rows = "\n".join(
        f"| {r.regime} | {r.search_bars} | {r.holdout_bars} | {r.holdout_trades} | {fig(r.sharpe_before)} → "
        f"{fig(r.sharpe_after)} | {fig(r.p_value)} | {_moves(r)} | {r.reason} |"
        for r in outcomes
    )
    return (
        f"## Regime loadouts for {strategy}/{symbol} ({timeframe})\n\n"
        "Each regime was searched on the search bars the detector labels with it, from the set it "
        f"replaces, and judged on the holdout bars with that label (from {str(holdout_start)[:10]}): a "
        "paired one-sided Sharpe test against the set in force.\n\n"
        "| regime | search bars | holdout bars | holdout trades | Sharpe before → after | p | moves "
        "| outcome |\n"
        "|---|---|---|---|---|---|---|---|\n"
        f"{rows}\n\n"
        "### What you can do\n\nMerge to trade these loadouts while their regime is in force "
        "(`tradeloop deploy plan` shows which); close to keep the sets in force. This pull request "
        "changes `REGIME_LOADOUTS` only.\n"
    )


def _moves(outcome: RegimeOutcome) -> str:
    moved = [
        f"{k} {outcome.before.get(k, 0.0):g} → {v:g}"
        for k, v in outcome.after.items()
        if v != outcome.before.get(k)
    ]
    return ", ".join(moved) or "none"


def publish_loadouts(settings: Settings, options: LoadoutOptions, result: LoadoutsResult) -> LoadoutsResult:
    """Commit ``result``'s changed loadouts on the pair's loadout branch and open or update its PR."""
    from backtest_matrix.strategies import get_strategy
    from gitops import parse_constants

    ints = {param.name for param in get_strategy(options.strategy).space() if param.kind == "int"}
    changes: dict[tuple[str, ...], Any] = {
        ("REGIME_LOADOUTS", options.strategy, options.symbol, regime): {
            k: int(v) if k in ints else round(v, 6) for k, v in params.items()
        }
        for regime, params in result.loadouts().items()
    }

    def same(text: str) -> bool:
        held = parse_constants(text).regime_loadouts.get(options.strategy, {}).get(options.symbol, {})
        return all(
            dict(held.get(path[3], {})) | value == dict(held.get(path[3], {}))
            for path, value in changes.items()
        )

    change = StateChangePr(
        branch=result.branch, base=options.base,
        title=f"tradeloop: {options.strategy}/{options.symbol} regime loadouts "
        f"({', '.join(result.loadouts())})",
        body=result.body, message=f"{options.strategy}/{options.symbol}: regime loadouts\n\n{result.reason}",
        changes=changes, same=same,
    )  # fmt: skip
    action, number = publish_state_change(settings, options.forge, change)
    return dataclasses.replace(result, action=action, pr_number=number)
