"""From live values to a proposal document: search, guardrails, expected gains and the re-backtest.

:func:`make_proposal` is what ``tradeloop propose`` runs once it has read the live state (the optimizer never
reads ``config/constants.py`` itself: the CLI passes the live values and guardrails in).

1. The cadence's window is cut at the holdout boundary (:func:`split_holdout`); nothing after it is
   searched.
2. When the cooldown or the change budget blocks the pair, or the live parameters make fewer than
   ``MIN_TRADES`` trades on the holdout (it could not judge anything), nothing is searched: ``no_change``.
3. Otherwise :func:`bounded_search` searches around the live values on the bars before the boundary,
   clips the best parameters (:func:`clip_parameters`), measures each moving parameter's expected gain
   (:func:`expected_gains`) and keeps the knobs with the largest gains that fit every guardrail and the
   strategy's constraints (:func:`bound_proposal`).
4. The live and the proposed sets are backtested on the search bars, overall and per regime; per-bar
   return drift of the live set joins the analyzer's flags. The search record (every configuration tried)
   is returned beside the document, which names it by SHA-256.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from optimizer._analyzer import AnalyzerConfig, Flag, bar_drift_flags
from optimizer._document import build_proposal, kpi_block, rationale_summary
from optimizer._gain import expected_gains, sweep_evaluator
from optimizer._holdout import HoldoutSplit, split_holdout
from optimizer._prescreen import PrescreenMethod
from optimizer._proposal import (
    AppliedChange,
    BoundedProposal,
    ChangeBudget,
    blocking_reason,
    bound_proposal,
    clip_parameters,
)
from optimizer._search import SearchResult
from optimizer._search_record import SEARCH_RECORD_FILE, SearchRecord
from optimizer._space import cadence_window
from tradeloop import config_hash
from tradeloop.documents import Proposal, SearchRecordRef

__all__ = [
    "Guardrails",
    "ProposalOutcome",
    "ProposalRequest",
    "SearchSettings",
    "bounded_search",
    "holdout_shortfall",
    "make_proposal",
    "record_reference",
]


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
    holdout_fraction: float = 0.25

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
            "min_trades": self.min_trades,
            "holdout_fraction": self.holdout_fraction,
        }

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> Guardrails:
        """Read contract 2 ``guardrails`` back (missing entries keep their defaults)."""
        budget = document.get("change_budget") or {}
        defaults = cls()
        return cls(
            max_delta=float(document.get("max_delta", defaults.max_delta)),
            max_knobs=int(document.get("max_knobs", defaults.max_knobs)),
            cooldown_hours=float(document.get("cooldown_hours", defaults.cooldown_hours)),
            change_budget=int(budget.get("max_changes", defaults.change_budget)),
            budget_window_hours=float(budget.get("window_hours", defaults.budget_window_hours)),
            min_trades=int(document.get("min_trades", defaults.min_trades)),
            holdout_fraction=float(document.get("holdout_fraction", defaults.holdout_fraction)),
        )


@dataclass(frozen=True)
class SearchSettings:
    """How one search runs: what validation's walk-forward needs to rerun the same search on a fold."""

    cadence: str
    objective: str = "sharpe"
    sampler: str = "tpe"
    trials: int = 50
    seed: int = 0
    top_k: int = 10
    prescreen_n: int = 20_000
    prescreen_method: PrescreenMethod = "sobol"
    batch_size: int = 8

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> SearchSettings:
        """Read contract 2 ``search.settings`` back (missing entries keep their defaults)."""
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{name: document[name] for name in names if document.get(name) is not None})


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
    prescreen_n: int = 20_000
    #: The search record's file name, beside proposal.json (``search_record.path`` of the document).
    record_name: str = SEARCH_RECORD_FILE

    @property
    def settings(self) -> SearchSettings:
        return SearchSettings(
            cadence=self.cadence, objective=self.objective, sampler=self.sampler, trials=self.trials,
            seed=self.seed, top_k=self.top_k, prescreen_n=self.prescreen_n,
        )  # fmt: skip


@dataclass(frozen=True)
class ProposalOutcome:
    """The proposal (contract 2) and the search record behind it (None when nothing was searched)."""

    proposal: Proposal
    record: SearchRecord | None


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


def bounded_search(
    bars: pd.DataFrame,
    strategy: str,
    current: Mapping[str, float],
    settings: SearchSettings,
    guardrails: Guardrails,
    *,
    symbol: str = "",
    history: Sequence[AppliedChange] = (),
    now: datetime | None = None,
    engine_config: Any = None,
    storage: str | None = "memory",
    study_name: str | None = None,
    out_dir: Path | None = None,
    keep_outputs: bool = False,
    progress: bool = False,
    console: Any = None,
) -> tuple[BoundedProposal, SearchResult]:
    """Search around ``current`` on ``bars`` (all of them: the caller cuts the holdout off), then bound.

    The search's best parameters are clipped to the caps and bounds; each moving parameter's expected
    gain is measured on the same bars, and :func:`bound_proposal` keeps the knobs with the largest gains.
    This is the whole optimizer decision, so validation reruns it on each walk-forward fold's in-sample
    bars (in memory, nothing written) to see what the optimizer would have done.
    """
    from backtest_matrix.strategies import get_strategy
    from optimizer._constraints import Constraints
    from optimizer._search import run_search
    from optimizer.objectives import get_objective

    cls = get_strategy(strategy)
    live = cls.resolve(dict(current))
    space = {param.name: param for param in cls.space()}
    constraints = Constraints(
        min_trades=guardrails.min_trades,
        max_drawdown_pct=guardrails.max_drawdown_pct,
        min_win_rate_pct=guardrails.min_win_rate_pct,
    )
    result = run_search(
        bars, cls, live, cadence=settings.cadence, objective=settings.objective, sampler=settings.sampler,
        trials=settings.trials, storage=storage, study_name=study_name, seed=settings.seed,
        top_k=settings.top_k, prescreen_n=settings.prescreen_n, prescreen_method=settings.prescreen_method,
        batch_size=settings.batch_size, engine_config=engine_config, constraints=constraints,
        max_delta=guardrails.max_delta, out_dir=out_dir, keep_outputs=keep_outputs, progress=progress,
        console=console,
    )  # fmt: skip
    objective = get_objective(settings.objective)
    sign = 1.0 if objective.direction == "maximize" else -1.0

    def score(kpis: pd.DataFrame) -> np.ndarray:
        return sign * np.asarray(objective.from_kpis(kpis), dtype=float)

    def feasible(params: Mapping[str, float]) -> bool:
        return bool(cls.feasible(np.array([[params[name] for name in cls.param_names()]], dtype=float))[0])

    bounds = {name: (space[name].low, space[name].high) for name in live}
    ints = {name for name in live if space[name].kind == "int"}
    places = {name: digits for name in live if (digits := space[name].precision) is not None}
    window = cadence_window(bars, settings.cadence)
    clipped = clip_parameters(live, result.best_params, hard_bounds=bounds, int_params=ints,
                              max_delta=guardrails.max_delta, decimals=places)  # fmt: skip
    gains = expected_gains(live, clipped, sweep_evaluator(window, cls.name, score, engine_config))
    bounded = bound_proposal(
        live, result.best_params, strategy=strategy, symbol=symbol, hard_bounds=bounds, int_params=ints,
        max_delta=guardrails.max_delta, decimals=places, max_knobs=guardrails.max_knobs, expected_gain=gains,
        history=history, now=now or datetime.now(UTC), cooldown_hours=guardrails.cooldown_hours,
        change_budget=ChangeBudget(guardrails.change_budget, guardrails.budget_window_hours),
        feasible=feasible,
    )  # fmt: skip
    return bounded, result


def holdout_shortfall(
    split: HoldoutSplit, strategy: str, current: Mapping[str, float], min_trades: int, engine_config: Any
) -> str | None:
    """Why the holdout cannot judge a proposal (the live set trades too little on it), or None.

    Only the live parameters run on the holdout here, and only their trade count is read: no candidate's
    performance on the holdout reaches the search.
    """
    trades = int(_kpis(split.holdout, strategy, current, engine_config).kpis["trades"])
    if trades >= min_trades:
        return None
    holdout = split.as_dict()
    return (
        f"not enough out-of-sample data: the live parameters make {trades} trades on the holdout "
        f"({holdout['bars']} bars from {holdout['start'][:10]} to {holdout['end'][:10]}), fewer than "
        f"MIN_TRADES={min_trades}; the holdout could not tell a real improvement from luck (load more "
        "history, or use a shorter timeframe)"
    )


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
) -> ProposalOutcome:
    """The proposal for ``request`` (module docstring), and its search record.

    Parameters
    ----------
    request
        The pair, its bars and live values, and the search settings.
    guardrails
        OPTIMIZER_* guardrails, the hard constraints (MIN_TRADES, MAX_DRAWDOWN_PCT, MIN_WIN_RATE_PCT) and
        the holdout fraction.
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

    cls = get_strategy(request.strategy)
    current = cls.resolve(request.current)
    split = split_holdout(cadence_window(request.bars, request.cadence), guardrails.holdout_fraction)
    block, _ = blocking_reason(
        history, request.strategy, request.symbol, request.now, guardrails.cooldown_hours,
        ChangeBudget(guardrails.change_budget, guardrails.budget_window_hours),
    )  # fmt: skip
    if block is None:
        block = holdout_shortfall(split, cls.name, current, guardrails.min_trades, engine_config)
    settings = request.settings
    search: dict[str, Any] = {
        "sampler": settings.sampler, "objective": settings.objective, "trials": 0, "n_effective_trials": None,
        "seed": settings.seed, "study": None, "storage": None, "settings": settings.as_dict(),
    }  # fmt: skip
    candidates: list[dict[str, Any]] = []
    record: SearchRecord | None = None
    if block is not None:
        bounded = BoundedProposal("no_change", block, dict(current), dict(current))
    else:
        bounded, result = bounded_search(
            split.search, cls.name, current, request.settings, guardrails, symbol=request.symbol,
            history=history, now=request.now, engine_config=engine_config, storage=request.storage,
            study_name=request.study_name, out_dir=request.out_dir, keep_outputs=True, progress=progress,
            console=console,
        )  # fmt: skip
        search.update({"trials": result.n_trials, "study": result.study_name, "storage": result.storage})
        candidates, record = result.candidates, result.record
    window = split.search
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
    whole = split.search.index[0], split.holdout.index[-1]
    data = {
        **request.data,
        "bars": len(split.search) + len(split.holdout),
        "start": whole[0].isoformat(),
        "end": whole[1].isoformat(),
    }
    proposal = build_proposal(
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
        holdout=split.as_dict(),
        search_record=record_reference(record, request.record_name),
    )
    return ProposalOutcome(proposal, record)


def record_reference(record: SearchRecord | None, name: str = SEARCH_RECORD_FILE) -> SearchRecordRef | None:
    """Contract 2 ``search_record``: its file name (beside proposal.json), SHA-256 and configurations."""
    if record is None:
        return None
    return SearchRecordRef(
        path=name,
        sha256=hashlib.sha256(record.to_bytes()).hexdigest(),
        configurations=len(record),
        stages=record.stage_counts,
    )
