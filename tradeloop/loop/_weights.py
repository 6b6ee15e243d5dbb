"""``propose_weights`` as a call: ensemble weights for one symbol's live strategies, judged on the holdout.

Each live strategy of the symbol is backtested with its live parameters on the cadence's window; the
weights come from the search bars only (:func:`optimizer.ensemble_target`: ``ENSEMBLE_METHOD``, the bounds,
``ENSEMBLE_MAX_TURNOVER`` from the weights in force). The weighted portfolio is then judged against the
weights in force on the holdout bars with validation's paired one-sided Sharpe test against
``MIN_SHARPE_IMPROVEMENT`` (:func:`validation.paired_sharpe_test`). Both portfolios hold the whole capital
(weights summing to 1) and a Sharpe ratio ignores scale, so the test is leverage-neutral. A change of the
weights counts in every strategy's cooldown and change budget (the guardrail memory), so a pair in its
cooldown blocks its symbol's weights.

With ``apply``, a validated proposal is committed on the branch ``tradeloop/ensemble/<symbol>`` (only
``ENSEMBLE_WEIGHTS`` changes) and its pull request opened or updated on the forge; an identical proposal
pushes nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from tradeloop._settings import Settings
from tradeloop.errors import OptimizerError, StateFileError
from tradeloop.loop._common import load_source, matrix_path, pair_source
from tradeloop.loop._memory import guardrail_memory, reading_forge
from tradeloop.loop._state_pr import StateChangePr, publish_state_change

if TYPE_CHECKING:
    import pandas as pd

    from gitops import LiveConstants
    from optimizer import EnsembleTarget

__all__ = ["WeightsOptions", "WeightsResult", "ensemble_branch", "propose_weights", "publish_weights"]

Status = Literal["proposed", "no_change", "rejected"]
_MIN_HOLDOUT_BARS = 30


def ensemble_branch(symbol: str) -> str:
    """The branch of a symbol's ensemble weights pull request (never a parameter or loadout branch)."""
    return f"tradeloop/ensemble/{symbol}"


@dataclass(frozen=True)
class WeightsOptions:
    """``tradeloop ensemble propose``'s options."""

    symbol: str
    cadence: str = "daily"
    data: str | None = None
    apply: bool = False
    forge: str | None = None
    base: str = "main"


@dataclass(frozen=True)
class WeightsResult:
    """The proposal for one symbol: status and reason, the weights, the holdout figures, the PR body."""

    symbol: str
    timeframe: str
    status: Status
    reason: str
    target: EnsembleTarget | None = None
    holdout: Mapping[str, Any] = field(default_factory=dict)
    body: str = ""
    branch: str = ""
    action: str = "none"
    pr_number: int | None = None

    def to_json(self) -> dict[str, Any]:
        """``tradeloop ensemble propose --json``."""
        return {
            "symbol": self.symbol, "timeframe": self.timeframe, "status": self.status, "reason": self.reason,
            "weights": None if self.target is None else self.target.to_dict(), "holdout": dict(self.holdout),
            "branch": self.branch, "action": self.action, "pr_number": self.pr_number,
        }  # fmt: skip


def _strategies(constants: LiveConstants, symbol: str) -> tuple[list[str], str]:
    from gitops import live_strategies

    strategies = live_strategies(constants.live_params, symbol)
    if len(strategies) < 2:
        raise OptimizerError(
            f"config/constants.py: LIVE_PARAMS has {len(strategies)} live strateg"
            f"{'y' if len(strategies) == 1 else 'ies'} on {symbol}; ensemble weights need a symbol with "
            "several live strategies: add one through a pull request, or pick another symbol"
        )
    timeframes = {str(constants.live_params[s][symbol]["timeframe"]) for s in strategies}
    if len(timeframes) > 1:
        raise OptimizerError(
            f"config/constants.py: the live strategies of {symbol} trade different timeframes "
            f"({', '.join(sorted(timeframes))}); ensemble weights need one timeframe per symbol"
        )
    return strategies, timeframes.pop()


def _returns(
    constants: LiveConstants, bars: pd.DataFrame, symbol: str, strategies: list[str]
) -> pd.DataFrame:
    import pandas as pd

    from backtest_matrix.engine import EngineConfig, backtest

    config = EngineConfig(fee_bps=constants.fee_bps, slippage_bps=constants.slippage_bps)
    columns = {}
    for strategy in strategies:
        params = {k: v for k, v in constants.live_params[strategy][symbol].items() if k != "timeframe"}
        columns[strategy] = backtest(bars, strategy, params, config=config).returns
    return pd.DataFrame(columns)


def _blocked(
    settings: Settings, constants: LiveConstants, options: WeightsOptions, strategies: list[str]
) -> str:
    from optimizer import ChangeBudget, blocking_reason

    memory = guardrail_memory(settings, base="HEAD", forge=reading_forge(settings, options.forge))
    budget = ChangeBudget(constants.optimizer_change_budget, constants.optimizer_budget_window_hours)
    for strategy in strategies:
        reason, _ = blocking_reason(
            memory.applied_changes(), strategy, options.symbol, settings.current_time(),
            constants.optimizer_cooldown_hours, budget,
        )  # fmt: skip
        if reason is not None:
            return f"{strategy}/{options.symbol}: {reason}"
    return ""


def propose_weights(settings: Settings, options: WeightsOptions) -> WeightsResult:
    """Propose, judge and (with ``apply``) publish ``ENSEMBLE_WEIGHTS`` for one symbol (module docstring).

    Raises
    ------
    tradeloop.errors.OptimizerError
        The symbol has fewer than two live strategies, or they trade different timeframes, or the bounds
        cannot hold for their number.
    """
    from backtest_matrix.regimes import detect_regimes
    from gitops import load_constants, weights_in_force
    from optimizer import EnsembleSettings, cadence_window, ensemble_target, split_holdout

    constants = load_constants(settings.constants_path)
    strategies, timeframe = _strategies(constants, options.symbol)
    blocked = _blocked(settings, constants, options, strategies)
    if blocked:
        return WeightsResult(options.symbol, timeframe, "no_change", blocked)
    loaded = load_source(
        settings, pair_source(constants, options.symbol, options.data, matrix_path(settings)), timeframe
    )
    window = cadence_window(loaded.bars, options.cadence)
    split = split_holdout(window, constants.validation_holdout_fraction)
    returns = _returns(constants, window, options.symbol, strategies)
    search, holdout = returns.loc[split.search.index], returns.loc[split.holdout.index]
    ensemble = EnsembleSettings(
        method=constants.ensemble_method,  # type: ignore[arg-type]  # checked by the constants reader
        min_weight=constants.ensemble_min_weight, max_weight=constants.ensemble_max_weight,
        max_turnover=constants.ensemble_max_turnover,
    )  # fmt: skip
    before = weights_in_force(constants, options.symbol)
    target = ensemble_target(search, detect_regimes(split.search).labels, before, ensemble)
    if not target.changed:
        return WeightsResult(
            options.symbol, timeframe, "no_change", "the weights in force are the optimum", target
        )
    if len(holdout) < _MIN_HOLDOUT_BARS:
        reason = f"{len(holdout)} holdout bars, fewer than {_MIN_HOLDOUT_BARS}: too few to judge the weights"
        return WeightsResult(options.symbol, timeframe, "no_change", reason, target)
    figures = holdout_figures(holdout, target, constants)
    status: Status = "proposed" if figures["passed"] else "rejected"
    reason = _reason(figures)
    body = weights_body(options.symbol, timeframe, target, figures, split.holdout.index[0])
    result = WeightsResult(
        options.symbol, timeframe, status, reason, target, figures, body, ensemble_branch(options.symbol)
    )
    if status == "proposed" and options.apply:
        return publish_weights(settings, options, result)
    return result


def holdout_figures(
    holdout: pd.DataFrame, target: EnsembleTarget, constants: LiveConstants
) -> dict[str, Any]:
    """The portfolios of the weights in force and proposed on the holdout: KPIs and the paired test."""
    import numpy as np
    import pandas as pd

    from backtest_matrix.engine import periods_per_year
    from validation import paired_sharpe_test

    names = list(holdout.columns)
    before = holdout[names].to_numpy() @ np.array([target.before[n] for n in names])
    after = holdout[names].to_numpy() @ np.array([target.after[n] for n in names])
    per_year = periods_per_year(pd.DatetimeIndex(holdout.index).as_unit("ns").asi8)
    margin = constants.min_sharpe_improvement / math.sqrt(per_year)
    test = paired_sharpe_test(after, before, margin=margin, level=constants.confidence_level)
    return {
        "bars": len(holdout), "before": _kpis(before, per_year), "after": _kpis(after, per_year),
        "delta_sharpe": test.diff * math.sqrt(per_year), "margin": constants.min_sharpe_improvement,
        "p_value": test.p_value, "alpha": round(1.0 - constants.confidence_level, 6),
        "passed": bool(test.p_value < 1.0 - constants.confidence_level), "method": test.method,
    }  # fmt: skip


def _kpis(returns: Any, per_year: float) -> dict[str, float]:
    import numpy as np

    equity = np.cumprod(1.0 + returns)
    std = float(np.std(returns, ddof=1))
    peak = np.maximum.accumulate(equity)
    return {
        "sharpe": float(np.mean(returns) / std * math.sqrt(per_year)) if std > 0 else 0.0,
        "return_pct": float((equity[-1] - 1.0) * 100.0),
        "max_drawdown_pct": float(np.max(1.0 - equity / peak) * 100.0),
    }


def _reason(figures: Mapping[str, Any]) -> str:
    verdict = "beat" if figures["passed"] else "do not beat"
    return (
        f"on {figures['bars']} holdout bars the proposed weights {verdict} the weights in force by the "
        f"margin {figures['margin']:g} (ΔSharpe {figures['delta_sharpe']:.3g}, p = {figures['p_value']:.3g}, "
        f"α = {figures['alpha']:g})"
    )


def weights_body(
    symbol: str, timeframe: str, target: EnsembleTarget, figures: Mapping[str, Any], holdout_start: Any
) -> str:
    """The pull request body: the weights before → after, the portfolio KPIs and the test."""
    rows = "\n".join(
        f"| {name} | {target.before.get(name, 0.0):.1%} | {target.after[name]:.1%} "
        f"| {target.target[name]:.1%} | {target.ic[name]:.3g} | {target.score[name]:.3g} |"
        for name in sorted(target.after)
    )
    kpis = "\n".join(
        f"| {label} | {k['sharpe']:.3g} | {k['return_pct']:.3g} % | {k['max_drawdown_pct']:.3g} % |"
        for label, k in (("weights in force", figures["before"]), ("proposed weights", figures["after"]))
    )
    return (
        f"## Ensemble weights for {symbol} ({timeframe})\n\n"
        f"Method `{target.method}`, expected returns: the `{target.regime or 'all'}` regime's mean return "
        "plus Grinold's volatility × recent IC × score (the score: the latest block of bars against the "
        f"usual one, in standard deviations); turnover {target.turnover:.1%} of the symbol's capital.\n\n"
        "| strategy | before | after | optimum | recent IC | score |\n|---|---|---|---|---|---|\n"
        f"{rows}\n\n"
        f"### The portfolio on the holdout ({figures['bars']} bars from {str(holdout_start)[:10]})\n\n"
        "| | Sharpe | return | max drawdown |\n|---|---|---|---|\n"
        f"{kpis}\n\n"
        f"Paired one-sided Sharpe test (leverage-neutral: both portfolios hold the whole capital): ΔSharpe "
        f"{figures['delta_sharpe']:.3g} against the margin {figures['margin']:g}, "
        f"p = {figures['p_value']:.3g} (α = {figures['alpha']:g}): "
        f"{'passed' if figures['passed'] else 'not passed'}.\n\n"
        "### What you can do\n\nMerge to trade these weights; close to keep the weights in force. This pull "
        "request changes `ENSEMBLE_WEIGHTS` only.\n"
    )


def publish_weights(settings: Settings, options: WeightsOptions, result: WeightsResult) -> WeightsResult:
    """Commit ``result``'s weights on its branch (only ``ENSEMBLE_WEIGHTS`` changes, on ``options.base``)
    and open or update its pull request; an identical open proposal pushes nothing (``action`` none)."""
    import dataclasses

    assert result.target is not None
    after = dict(result.target.after)
    title = f"tradeloop: {options.symbol} ensemble weights " + ", ".join(
        f"{name} {share:.0%}" for name, share in sorted(after.items())
    )
    change = StateChangePr(
        branch=result.branch, base=options.base, title=title, body=result.body,
        message=f"{options.symbol}: ensemble weights ({result.target.method})\n\n{result.reason}",
        changes={("ENSEMBLE_WEIGHTS", options.symbol): after},
        same=lambda text: _weights_of(text, options.symbol) == after,
    )  # fmt: skip
    action, number = publish_state_change(settings, options.forge, change)
    return dataclasses.replace(result, action=action, pr_number=number)


def _weights_of(text: str, symbol: str) -> dict[str, float] | None:
    from gitops import parse_constants

    try:
        found = parse_constants(text).ensemble_weights.get(symbol)
    except StateFileError:  # a branch the bot cannot read is regenerated
        return None
    return None if found is None else dict(found)
