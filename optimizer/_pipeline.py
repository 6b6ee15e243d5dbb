"""From live values to a proposal document: search, guardrails, expected gains and the re-backtest.

:func:`make_proposal` is what ``tradeloop propose`` runs once it has read the live state (the optimizer never
reads ``config/constants.py`` itself: the CLI passes the live values and guardrails in).

1. When the cooldown or the change budget blocks the pair, nothing is searched: ``no_change``.
2. Otherwise :func:`optimizer.run_search` searches around the live values on the cadence's window.
3. The best parameters are clipped (:func:`clip_parameters`); each moving parameter's expected gain is the
   objective change of moving it alone, all of them backtested in one sweep (:func:`expected_gains`).
4. :func:`bound_proposal` keeps the knobs with the largest gains that fit every guardrail and the strategy's
   constraints.
5. The live and the proposed sets are backtested on the same bars (the cadence window), overall and per
   regime; per-bar return drift of the live set joins the analyzer's flags.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from optimizer._analyzer import AnalyzerConfig, Flag, bar_drift_flags
from optimizer._document import build_proposal, kpi_block, rationale_summary
from optimizer._gain import expected_gains, sweep_evaluator
from optimizer._proposal import (
    AppliedChange,
    BoundedProposal,
    ChangeBudget,
    blocking_reason,
    bound_proposal,
    clip_parameters,
)
from tradeloop import config_hash

__all__ = ["Guardrails", "ProposalRequest", "make_proposal"]


@dataclass(frozen=True)
class Guardrails:
    """The optimizer guardrails and hard constraints, as read from ``config/constants.py`` by the CLI."""

    max_delta: float = 0.2
    max_knobs: int = 3
    cooldown_hours: float = 6
    change_budget: int = 6
    budget_window_hours: float = 168
    min_trades: int = 30
    max_drawdown_pct: float | None = None
    min_win_rate_pct: float | None = None

    def as_dict(self) -> dict[str, Any]:
        """Contract 2 ``guardrails``."""
        return {
            "max_delta": self.max_delta,
            "max_knobs": self.max_knobs,
            "cooldown_hours": self.cooldown_hours,
            "change_budget": {
                "max_changes": self.change_budget,
                "window_hours": self.budget_window_hours,
                "counts": "changed parameters",
            },
        }


@dataclass(frozen=True)
class ProposalRequest:
    """What to propose for: the pair, its bars and live values, and how to search."""

    strategy: str
    symbol: str
    timeframe: str
    cadence: str
    bars: pd.DataFrame
    data: Mapping[str, Any]
    current: Mapping[str, float]
    run_id: str
    git_sha: str
    now: datetime
    objective: str = "sharpe"
    sampler: str = "tpe"
    trials: int = 50
    seed: int = 0
    storage: str | None = None
    study_name: str | None = None
    top_k: int = 10
    out_dir: Path | None = None


def _kpis(bars: pd.DataFrame, strategy: str, params: Mapping[str, float], engine_config: Any) -> Any:
    from backtest_matrix.engine import backtest

    return backtest(bars, strategy, params, config=engine_config)


def _block(run: Any, labels: pd.Series, per_year: float) -> dict[str, Any]:
    return kpi_block(run.kpis, run.returns, labels, per_year)


def _bar_flags(returns: pd.Series) -> list[Flag]:
    config = AnalyzerConfig()
    recent = len(returns) // 5
    if recent < config.psi_min_sample:
        return []
    return bar_drift_flags(returns, recent, config)


@dataclass(frozen=True)
class _Space:
    bounds: dict[str, tuple[float, float]]
    ints: set[str]
    window: pd.DataFrame
    budget: ChangeBudget


def _search_and_bound(
    request: ProposalRequest,
    cls: Any,
    current: dict[str, float],
    space: _Space,
    guardrails: Guardrails,
    history: Sequence[AppliedChange],
    engine_config: Any,
    progress: bool,
    console: Any,
) -> tuple[BoundedProposal, dict[str, Any], list[dict[str, Any]]]:
    from optimizer._constraints import Constraints
    from optimizer._search import run_search
    from optimizer.objectives import get_objective

    constraints = Constraints(
        min_trades=guardrails.min_trades,
        max_drawdown_pct=guardrails.max_drawdown_pct,
        min_win_rate_pct=guardrails.min_win_rate_pct,
    )
    result = run_search(
        request.bars, cls, current, cadence=request.cadence, objective=request.objective,
        sampler=request.sampler, trials=request.trials, storage=request.storage,
        study_name=request.study_name, seed=request.seed, top_k=request.top_k,
        engine_config=engine_config, constraints=constraints, max_delta=guardrails.max_delta,
        out_dir=request.out_dir, progress=progress, console=console,
    )  # fmt: skip
    objective = get_objective(request.objective)
    sign = 1.0 if objective.direction == "maximize" else -1.0

    def score(kpis: pd.DataFrame) -> np.ndarray:
        return sign * np.asarray(objective.from_kpis(kpis), dtype=float)

    def feasible(params: Mapping[str, float]) -> bool:
        return bool(cls.feasible(np.array([[params[name] for name in cls.param_names()]], dtype=float))[0])

    clipped = clip_parameters(
        current, result.best_params, hard_bounds=space.bounds, int_params=space.ints,
        max_delta=guardrails.max_delta,
    )  # fmt: skip
    gains = expected_gains(current, clipped, sweep_evaluator(space.window, cls.name, score, engine_config))
    bounded = bound_proposal(
        current, result.best_params, strategy=request.strategy, symbol=request.symbol,
        hard_bounds=space.bounds, int_params=space.ints, max_delta=guardrails.max_delta,
        max_knobs=guardrails.max_knobs, expected_gain=gains, history=history, now=request.now,
        cooldown_hours=guardrails.cooldown_hours, change_budget=space.budget, feasible=feasible,
    )  # fmt: skip
    search = {"trials": result.n_trials, "study": result.study_name, "storage": result.storage}
    return bounded, search, result.candidates


def make_proposal(
    request: ProposalRequest,
    *,
    guardrails: Guardrails,
    history: Sequence[AppliedChange] = (),
    flags: Sequence[Flag] = (),
    has_history: bool = False,
    engine_config: Any = None,
    config_hash_of: Callable[[Mapping[str, float]], str] | None = None,
    progress: bool = False,
    console: Any = None,
) -> dict[str, Any]:
    """The contract-2 proposal for ``request`` (module docstring).

    Parameters
    ----------
    request
        The pair, its bars and live values, and the search settings.
    guardrails
        OPTIMIZER_* guardrails and the hard constraints (MIN_TRADES, MAX_DRAWDOWN_PCT, MIN_WIN_RATE_PCT).
    history
        Applied changes, for the cooldown and the change budget.
    flags, has_history
        The analyzer's flags for the cell, and whether the warehouse had any history for it.
    engine_config
        Fees, slippage and fills of every backtest (``backtest_matrix.engine.EngineConfig``).
    config_hash_of
        Config hash of a parameter set (the CLI passes a gitops-style hash of the whole constants file);
        ``tradeloop.config_hash`` of the parameters when None.
    """
    from backtest_matrix.engine import periods_per_year
    from backtest_matrix.regimes import detect_regimes
    from backtest_matrix.strategies import get_strategy
    from optimizer._space import cadence_window

    cls = get_strategy(request.strategy)
    current = cls.resolve(request.current)
    params = {param.name: param for param in cls.space()}
    space = _Space(
        bounds={name: (params[name].low, params[name].high) for name in current},
        ints={name for name in current if params[name].kind == "int"},
        window=cadence_window(request.bars, request.cadence),
        budget=ChangeBudget(guardrails.change_budget, guardrails.budget_window_hours),
    )
    block, _ = blocking_reason(
        history, request.strategy, request.symbol, request.now, guardrails.cooldown_hours, space.budget
    )
    search: dict[str, Any] = {
        "sampler": request.sampler, "objective": request.objective, "trials": 0, "n_effective_trials": None,
        "seed": request.seed, "study": None, "storage": None,
    }  # fmt: skip
    candidates: list[dict[str, Any]] = []
    if block is not None:
        bounded = BoundedProposal("no_change", block, dict(current), dict(current))
    else:
        bounded, searched, candidates = _search_and_bound(
            request, cls, current, space, guardrails, history, engine_config, progress, console
        )
        search.update(searched)
    window = space.window
    labels = detect_regimes(window).labels
    per_year = periods_per_year(pd.DatetimeIndex(window.index).as_unit("ns").asi8)
    before = _kpis(window, cls.name, bounded.params_before, engine_config)
    after = _kpis(window, cls.name, bounded.params_after, engine_config) if bounded.changes else before
    all_flags = [*flags, *_bar_flags(before.returns)]
    hash_of = config_hash_of or config_hash
    header = {
        "run_id": request.run_id, "git_sha": request.git_sha, "created_at": request.now.isoformat(),
        "strategy": request.strategy, "symbol": request.symbol, "timeframe": request.timeframe,
        "cadence": request.cadence,
    }  # fmt: skip
    data = {
        **request.data,
        "bars": len(window),
        "start": window.index[0].isoformat(),
        "end": window.index[-1].isoformat(),
    }
    return build_proposal(
        bounded=bounded,
        header=header,
        data=data,
        kpis_before=_block(before, labels, per_year),
        kpis_after=_block(after, labels, per_year),
        flags=all_flags,
        summary=rationale_summary(all_flags, bounded, request.cadence, has_history),
        search=search,
        candidates=candidates,
        guardrails=guardrails.as_dict(),
        config_hashes=(hash_of(bounded.params_before), hash_of(bounded.params_after)),
    )
