"""The verdict: every statistic and gate on one proposal, and the pass/fail decision (contract 3).

:func:`validate_proposal` runs, on the proposal's bars:

1. the paired A/B of ``params_after`` (candidate) against ``params_before`` (baseline);
2. SPA / Reality Check / StepM of the candidate set (``proposal.candidates`` plus ``params_after``)
   against the baseline, losses = −returns;
3. PSR and DSR of the candidate (trials = the candidate set, or with the baseline when it has one
   member; N = the search's ``n_effective_trials``, else the clusters of correlated trials), MinTRL;
4. PBO by CSCV over the candidate set with the baseline;
5. a walk-forward of the proposed configuration kept under optimisation (re-optimised on each IS fold
   within the per-cycle cap around ``params_after``, as the next cycles would) and CPCV paths of the
   selection rule (pick the candidate with the best in-sample Sharpe);
6. the gates (:mod:`validation._gates`); the decision is "pass" when every gating gate passes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import pandas as pd

from backtest_matrix.engine import RISK_NAMES, EngineConfig
from backtest_matrix.strategies import Strategy, get_strategy
from tradeloop.errors import ValidationError
from validation._ab import ABResult, paired_ab
from validation._bootstrap import stationary_block_length
from validation._gates import Gate, GateInputs, Thresholds, evaluate_gates
from validation._pbo import probability_of_backtest_overfitting
from validation._proposal_input import ProposalInput, parse_proposal
from validation._selection import candidate_returns, cpcv_selection_paths
from validation._sharpe import (
    deflated_sharpe_ratio,
    effective_number_of_trials,
    probabilistic_sharpe_ratio,
    sharpe_ratios,
    sharpe_stats,
)
from validation._spa import StepM
from validation._splits import WalkForwardMode, walk_forward_folds
from validation._verdict_markdown import verdict_markdown
from validation._walk_forward import (
    WalkForwardResult,
    capped_random_search,
    run_walk_forward,
    strategy_lookback,
)

__all__ = ["Verdict", "WalkForwardSettings", "validate_proposal"]

Decision = Literal["pass", "fail"]


@dataclass(frozen=True)
class WalkForwardSettings:
    """Walk-forward and CPCV layout, and the per-fold optimiser budget (samples per fold)."""

    n_folds: int = 5
    is_oos_ratio: float = 3.0
    mode: WalkForwardMode = "rolling"
    trials_per_fold: int = 64
    cpcv_groups: int = 6
    cpcv_test_groups: int = 2
    pbo_blocks: int = 16


@dataclass(frozen=True)
class Verdict:
    """Everything the decision rests on; :meth:`to_json` is contract 3, :meth:`to_markdown` the PR section."""

    proposal_hash: str
    strategy: str
    symbol: str
    timeframe: str
    created_at: str
    decision: Decision
    summary: str
    gates: tuple[Gate, ...]
    p_values: dict[str, float]
    cis: dict[str, Any]
    effect_size: dict[str, float]
    overfitting: dict[str, Any]
    folds: tuple[dict[str, Any], ...]
    stepm_superior: tuple[int, ...]
    walk_forward: dict[str, Any]
    cpcv: dict[str, Any]
    kpis: dict[str, dict[str, float]]

    @property
    def passed(self) -> bool:
        return self.decision == "pass"

    def to_json(self) -> dict[str, Any]:
        """The verdict document (contract 3; ``walk_forward``, ``cpcv``, ``kpis`` are additions)."""
        return {
            "schema_version": 1,
            "kind": "tradeloop.verdict",
            "proposal_hash": self.proposal_hash,
            "strategy": self.strategy,
            "symbol": self.symbol,
            "timeframe": self.timeframe,
            "created_at": self.created_at,
            "decision": self.decision,
            "summary": self.summary,
            "gates": [gate.as_dict() for gate in self.gates],
            "p_values": dict(self.p_values),
            "cis": dict(self.cis),
            "effect_size": dict(self.effect_size),
            "overfitting": dict(self.overfitting),
            "folds": [dict(fold) for fold in self.folds],
            "stepm_superior": list(self.stepm_superior),
            "walk_forward": dict(self.walk_forward),
            "cpcv": dict(self.cpcv),
            "kpis": {name: dict(values) for name, values in self.kpis.items()},
        }

    def to_markdown(self) -> str:
        """A markdown section for the PR body: decision, gates table, p-values, CIs, effect size, DSR/PBO."""
        return verdict_markdown(self.to_json())


def validate_proposal(
    proposal: dict[str, Any] | ProposalInput,
    bars: pd.DataFrame,
    thresholds: Thresholds,
    *,
    seed: int = 0,
    reps: int | None = None,
    settings: WalkForwardSettings | None = None,
    now: datetime | None = None,
) -> Verdict:
    """Validate a proposal on ``bars`` (the proposal's data) and decide.

    Parameters
    ----------
    proposal
        The proposal document (contract 2) or its parsed form.
    bars
        The bars the proposal was made on (the CLI checks the data hash).
    thresholds
        Gate thresholds and costs from ``config/constants.py`` (:meth:`Thresholds.from_constants`).
    seed
        Seed of every bootstrap and of the walk-forward optimiser.
    reps
        Bootstrap replications; default ``thresholds.bootstrap_replications``.
    settings
        Walk-forward / CPCV / PBO layout.
    now
        Time stamp of the verdict (default: now, UTC).
    """
    parsed = proposal if isinstance(proposal, ProposalInput) else parse_proposal(proposal)
    settings = settings or WalkForwardSettings()
    reps = reps or thresholds.bootstrap_replications
    cls = get_strategy(parsed.strategy)
    before = cls.resolve(parsed.params_before, where="proposal params_before")
    after = cls.resolve(parsed.params_after, where="proposal params_after")
    config = EngineConfig(
        fee_bps=thresholds.fee_bps, slippage_bps=thresholds.slippage_bps, init_cash=thresholds.capital_usd
    )
    ab = paired_ab(
        bars, cls, before, after, config=config, level=thresholds.confidence_level, reps=reps, seed=seed,
        min_block_length=thresholds.bootstrap_block_length,
    )  # fmt: skip
    models, model_index = _candidate_set(cls, parsed, after)
    matrix = candidate_returns(bars, cls, models, config)
    differential = matrix.mean(axis=1) - ab.baseline_returns
    block_size = max(thresholds.bootstrap_block_length, stationary_block_length(differential))
    stepm = StepM.from_returns(
        ab.baseline_returns, matrix, size=thresholds.alpha, reps=reps, seed=seed, block_size=block_size
    )
    stepm.compute()
    with_baseline = np.column_stack([ab.baseline_returns, matrix])
    overfitting = _overfitting(ab, with_baseline, parsed, thresholds, settings)
    walk = _walk_forward(bars, cls, before, after, parsed, config, seed, settings)
    cpcv = _cpcv(ab, with_baseline, cls, after, settings)
    gates = evaluate_gates(
        _gate_inputs(ab, before, after, stepm.spa.pvalues.consistent, overfitting, walk), thresholds
    )
    failed = [gate.name for gate in gates if gate.gating and not gate.passed]
    spa = stepm.spa.pvalues
    lw = ab.ledoit_wolf
    return Verdict(
        proposal_hash=parsed.proposal_hash,
        strategy=parsed.strategy,
        symbol=parsed.symbol,
        timeframe=parsed.timeframe,
        created_at=(now or datetime.now(UTC)).isoformat(timespec="seconds"),
        decision="fail" if failed else "pass",
        summary=_summary(gates, failed),
        gates=tuple(gates),
        p_values={
            "spa_lower": spa.lower,
            "spa_consistent": spa.consistent,
            "spa_upper": spa.upper,
            "reality_check": spa.reality_check,
            "ledoit_wolf": lw.p_value if lw is not None else math.nan,
        },
        cis={
            "sharpe_diff": list(ab.sharpe_diff_ci_annualised),
            "mean_return_diff_pct": list(ab.mean_diff_ci_pct),
            "level": thresholds.confidence_level,
            "block_length": ab.sharpe_diff_ci.block_length,
            "reps": reps,
        },
        effect_size={
            "delta_sharpe": ab.delta_sharpe,
            "baseline_sharpe": ab.baseline_sharpe,
            "candidate_sharpe": ab.candidate_sharpe,
        },
        overfitting=overfitting,
        folds=tuple(_fold_rows(walk)),
        stepm_superior=tuple(model_index[i] for i in stepm.superior_models if model_index[i] >= 0),
        walk_forward=_walk_summary(walk),
        cpcv=cpcv,
        kpis={"baseline": dict(ab.baseline.kpis), "candidate": dict(ab.candidate.kpis)},
    )


def _candidate_set(
    cls: type[Strategy], parsed: ProposalInput, after: dict[str, float]
) -> tuple[list[dict[str, float]], list[int]]:
    """The resolved candidate parameter sets, with ``params_after`` appended unless already there.

    The second list maps each model column to its index in ``proposal.candidates`` (−1: params_after).
    """
    models = [
        cls.resolve(params, where=f"proposal candidates[{i}].params")
        for i, params in enumerate(parsed.candidates)
    ]
    index = list(range(len(models)))
    if after not in models:
        models.append(after)
        index.append(-1)
    return models, index


def _overfitting(
    ab: ABResult, with_baseline: np.ndarray, parsed: ProposalInput, thresholds: Thresholds,
    settings: WalkForwardSettings,
) -> dict[str, Any]:  # fmt: skip
    stats = sharpe_stats(ab.candidate_returns)
    trials = with_baseline[:, 1:] if with_baseline.shape[1] > 2 else with_baseline
    n_trials = parsed.n_effective_trials or effective_number_of_trials(trials)
    trial_sharpes = sharpe_ratios(trials)
    pbo = probability_of_backtest_overfitting(with_baseline, S=settings.pbo_blocks)
    return {
        "psr": probabilistic_sharpe_ratio(stats.sharpe, 0.0, stats.n, stats.skew, stats.kurtosis),
        "dsr": deflated_sharpe_ratio(stats, trial_sharpes, n_trials),
        "pbo": pbo.pbo,
        "min_trl_bars": ab.min_track_record_bars,
        "n_trials": int(n_trials),
        "search_trials": parsed.search_trials,
        "candidates_evaluated": int(with_baseline.shape[1] - 1),
        "pbo_degradation_slope": pbo.degradation_slope,
        "pbo_prob_oos_loss": pbo.prob_oos_loss,
        "observations": stats.n,
        "confidence_level": thresholds.confidence_level,
    }


def _walk_forward(
    bars: pd.DataFrame, cls: type[Strategy], before: dict[str, float], after: dict[str, float],
    parsed: ProposalInput, config: EngineConfig, seed: int, settings: WalkForwardSettings,
) -> WalkForwardResult:  # fmt: skip
    folds = walk_forward_folds(len(bars), settings.n_folds, settings.is_oos_ratio, settings.mode)
    optimise = capped_random_search(
        cls,
        parsed.params_after,
        max_delta=parsed.max_delta,
        n=settings.trials_per_fold,
        seed=seed,
        config=config,
    )
    warmup = max(strategy_lookback(cls, before), strategy_lookback(cls, after))
    return run_walk_forward(bars, cls, folds, optimise, config=config, warmup_bars=warmup)


def _cpcv(
    ab: ABResult, with_baseline: np.ndarray, cls: type[Strategy], after: dict[str, float],
    settings: WalkForwardSettings,
) -> dict[str, Any]:  # fmt: skip
    """CPCV paths (information only); a layout that leaves no training bars is reported, not raised."""
    trades = ab.candidate.trades
    holding = int((trades["exit_bar"] - trades["entry_bar"]).max()) + 1 if len(trades) else 1
    try:
        paths = cpcv_selection_paths(
            with_baseline, settings.cpcv_groups, settings.cpcv_test_groups, purge_bars=holding,
            embargo_bars=strategy_lookback(cls, after), bars_per_year=ab.bars_per_year,
        )  # fmt: skip
    except ValidationError as exc:
        return {"error": str(exc)}
    return paths.as_dict()


def _gate_inputs(
    ab: ABResult, before: dict[str, float], after: dict[str, float], spa_p: float,
    overfitting: dict[str, Any], walk: WalkForwardResult,
) -> GateInputs:  # fmt: skip
    kpis = ab.candidate.kpis
    risk_changed = tuple(name for name in RISK_NAMES if before.get(name) != after.get(name))
    return GateInputs(
        trades=kpis["trades"],
        delta_sharpe=ab.delta_sharpe,
        sharpe_diff_ci_low=ab.sharpe_diff_ci_annualised[0],
        risk_params_changed=risk_changed,
        spa_consistent_p=spa_p,
        dsr=overfitting["dsr"],
        max_drawdown_pct=kpis["max_drawdown_pct"],
        win_rate_pct=kpis["win_rate_pct"],
        worst_day_pct=kpis["worst_day_pct"],
        fold_sharpe_cv=walk.sharpe_cv,
        max_fold_drawdown_pct=walk.max_fold_drawdown_pct,
        pbo=overfitting["pbo"],
    )


def _fold_rows(walk: WalkForwardResult) -> list[dict[str, Any]]:
    return [
        {
            "fold": fold.fold.fold,
            "is_start": fold.is_start.isoformat(),
            "is_end": fold.is_end.isoformat(),
            "oos_start": fold.oos_start.isoformat(),
            "oos_end": fold.oos_end.isoformat(),
            "sharpe": fold.oos_sharpe,
            "max_drawdown_pct": fold.oos_max_drawdown_pct,
            "return_pct": fold.oos_return_pct,
            "is_sharpe": fold.is_sharpe,
            "params": fold.params,
        }
        for fold in walk.folds
    ]


def _walk_summary(walk: WalkForwardResult) -> dict[str, Any]:
    worst = walk.worst_fold
    return {
        "folds": len(walk.folds),
        "efficiency": walk.efficiency,
        "sharpe_cv": walk.sharpe_cv,
        "worst_fold": worst.fold.fold,
        "worst_fold_sharpe": worst.oos_sharpe,
        "max_fold_drawdown_pct": walk.max_fold_drawdown_pct,
        "oos_bars": len(walk.oos_returns),
    }


def _summary(gates: list[Gate], failed: list[str]) -> str:
    gating = sum(gate.gating for gate in gates)
    if not failed:
        return f"pass: all {gating} gating gates passed"
    return f"fail: {len(failed)} of {gating} gating gates failed ({', '.join(failed)})"
