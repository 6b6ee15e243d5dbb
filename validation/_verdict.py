"""The verdict: every statistic and gate on one proposal, and the pass/fail decision (contract 3).

:func:`validate_proposal` cuts the proposal's bars at its holdout boundary and runs:

1. on the **holdout** (bars the search never saw): the paired A/B of ``params_after`` (candidate) against
   ``params_before`` (the live baseline) — KPIs, bootstrap CIs, and the gating one-sided HAC test of the
   Sharpe difference against ``MIN_SHARPE_IMPROVEMENT`` (:mod:`validation._holdout_test`); StepM over the
   candidate and the search's best candidates, volatility-matched, with the same margin;
2. on the **search bars**: the Deflated Sharpe of the proposal against every configuration the search
   tried and the PBO of its selection (:mod:`validation._search_overfitting`), and, as information, the
   search-level SPA / Reality Check of its best candidates (volatility-matched);
3. a **walk-forward with re-optimisation** over the whole window: on each fold the bounded search reruns on
   the in-sample bars alone (:func:`validation.reoptimising_search`) and trades its choice out of sample
   beside the live parameters;
4. the gates (:mod:`validation._gates`); the decision is "pass" when every gating gate passes. Without a
   search record only the holdout gates decide, and the verdict says so.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from backtest_matrix.engine import RISK_NAMES, EngineConfig, returns_matrix
from backtest_matrix.strategies import Strategy, get_strategy
from optimizer import SearchRecord, SearchSettings
from tradeloop.documents import Proposal, Verdict
from tradeloop.errors import ValidationError
from validation._ab import ABResult, paired_ab
from validation._bootstrap import stationary_block_length
from validation._gates import Gate, GateInputs, Thresholds, evaluate_gates
from validation._holdout_test import PairedSharpeTest, paired_sharpe_test, volatility_matched
from validation._proposal_view import (
    cadence,
    fold_guardrails,
    holdout_boundary,
    require_validatable,
    search_settings,
)
from validation._search_overfitting import (
    SAMPLE_SIZE,
    SearchOverfitting,
    check_record_bars,
    search_overfitting,
)
from validation._selection import cpcv_selection_paths
from validation._sharpe import probabilistic_sharpe_ratio, sharpe_stats
from validation._spa import SPA, StepM
from validation._splits import WalkForwardMode, walk_forward_folds
from validation._verdict_markdown import verdict_markdown
from validation._walk_forward import (
    WalkForwardResult,
    reoptimising_search,
    run_walk_forward,
    strategy_lookback,
)

__all__ = [
    "MIN_TRL_POWER",
    "Verdict",
    "WalkForwardSettings",
    "split_at_holdout",
    "validate_proposal",
    "verdict_markdown",
]

#: Power of the minimum track record figure.
MIN_TRL_POWER = 0.8


@dataclass(frozen=True)
class WalkForwardSettings:
    """Walk-forward, CPCV and PBO layout, and how many search candidates join StepM / SPA.

    ``fold_search`` overrides the proposal's own search settings on the folds (None: the proposal's, or
    the defaults for its cadence when it records none).
    """

    n_folds: int = 5
    is_oos_ratio: float = 3.0
    mode: WalkForwardMode = "rolling"
    cpcv_groups: int = 6
    cpcv_test_groups: int = 2
    pbo_blocks: int = 16
    max_candidates: int = 14
    sample_size: int = SAMPLE_SIZE
    fold_search: SearchSettings | None = None


def split_at_holdout(bars: pd.DataFrame, proposal: Proposal) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The proposal's bars before its holdout boundary (searched) and from it on (held out)."""
    boundary = holdout_boundary(proposal)
    stamps = pd.DatetimeIndex(bars.index)
    search, holdout = bars.loc[stamps < boundary], bars.loc[stamps >= boundary]
    if len(search) < 10 or len(holdout) < 10:
        raise ValidationError(
            f"holdout.boundary {boundary.isoformat()} leaves {len(search)} search bars and {len(holdout)} "
            f"holdout bars of the {len(bars)} loaded; both need at least 10; re-run `tradeloop propose`"
        )
    return pd.DataFrame(search), pd.DataFrame(holdout)


def validate_proposal(
    proposal: Proposal,
    bars: pd.DataFrame,
    thresholds: Thresholds,
    *,
    search_record: SearchRecord | None = None,
    seed: int = 0,
    reps: int | None = None,
    settings: WalkForwardSettings | None = None,
    now: datetime | None = None,
    earlier_looks: int | None = None,
) -> Verdict:
    """Validate a proposal on ``bars`` (its whole window: search bars and holdout) and decide.

    Parameters
    ----------
    proposal
        The proposal (contract 2); it must propose a change and carry ``holdout.boundary``.
    bars
        The bars the proposal was made on (the CLI checks the data hash), from ``data.start`` to ``data.end``.
    thresholds
        Gate thresholds and costs from ``config/constants.py`` (:meth:`Thresholds.from_constants`).
    search_record
        Every configuration the search tried (the file ``search_record`` names). Without it the DSR and PBO
        are not computed and only the holdout gates decide.
    seed
        Seed of every bootstrap and of the search-record sample.
    reps
        Bootstrap replications; default ``thresholds.bootstrap_replications``.
    settings
        Walk-forward / CPCV / PBO layout.
    now
        Time stamp of the verdict (default: now, UTC).
    earlier_looks
        How many earlier validations of the pair judged on bars of this holdout (repeated looks), if known.
        Each earlier look halves the level of the gating tests (:meth:`Thresholds.for_look`).
    """
    require_validatable(proposal)
    thresholds = thresholds.for_look(earlier_looks)
    settings = settings or WalkForwardSettings()
    reps = reps or thresholds.bootstrap_replications
    cls = get_strategy(proposal.strategy)
    before = cls.resolve(proposal.params_before, where="proposal params_before")
    after = cls.resolve(proposal.params_after, where="proposal params_after")
    config = EngineConfig(
        fee_bps=thresholds.fee_bps, slippage_bps=thresholds.slippage_bps, init_cash=thresholds.capital_usd
    )
    search_bars, holdout = split_at_holdout(bars, proposal)
    ab = paired_ab(
        holdout, cls, before, after, config=config, level=thresholds.confidence_level, reps=reps, seed=seed,
        min_block_length=thresholds.bootstrap_block_length,
    )  # fmt: skip
    margin = thresholds.min_sharpe_improvement / math.sqrt(ab.bars_per_year)
    test = paired_sharpe_test(
        ab.candidate_returns, ab.baseline_returns, margin=margin, level=thresholds.confidence_level,
        power=MIN_TRL_POWER,
    )  # fmt: skip
    models, model_index = _candidate_set(cls, proposal, after, settings.max_candidates)
    stepm = _stepm(ab, returns_matrix(holdout, cls, models, config=config), margin, thresholds, reps, seed)
    spa = _search_spa(search_bars, cls, before, models, config, thresholds, reps, seed)
    overfit, counted = _search_overfitting(search_record, search_bars, cls, after, config, settings, seed)
    walk = _walk_forward(bars, cls, before, after, proposal, config, settings)
    after_column = model_index.index(-1) if -1 in model_index else models.index(after)
    inputs = _gate_inputs(ab, test, stepm, after_column, before, after, overfit, walk, spa)
    gates = evaluate_gates(dataclasses.replace(inputs, search_record=search_record is not None), thresholds)
    failed = [gate.name for gate in gates if gate.gating and not gate.passed]
    return Verdict(
        proposal_hash=proposal.proposal_hash,
        strategy=proposal.strategy,
        symbol=proposal.symbol,
        timeframe=proposal.timeframe,
        created_at=(now or datetime.now(UTC)).isoformat(timespec="seconds"),
        decision="fail" if failed else "pass",
        summary=_summary(gates, failed, search_record is not None),
        gates=tuple(gates),
        p_values=_p_values(test, spa, ab),
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
        overfitting=_overfitting(ab, test, overfit, thresholds),
        folds=tuple(_fold_rows(walk)),
        stepm_superior=tuple(model_index[i] for i in stepm.superior_models if model_index[i] >= 0),
        walk_forward=_walk_summary(walk, before),
        cpcv=_cpcv(overfit, ab, cls, after, settings),
        kpis={"baseline": dict(ab.baseline.kpis), "candidate": dict(ab.candidate.kpis)},
        holdout=_holdout_summary(proposal, holdout, test, ab, earlier_looks, thresholds.alpha),
        search=_search_summary(proposal, search_bars, counted),
    )


def _search_overfitting(
    record: SearchRecord | None, search_bars: pd.DataFrame, cls: type[Strategy], after: dict[str, float],
    config: EngineConfig, settings: WalkForwardSettings, seed: int,
) -> tuple[SearchOverfitting | None, str]:  # fmt: skip
    """The DSR/PBO of the search and how N was counted; None (and why) when they cannot be computed."""
    if record is None:
        return None, "no search record: DSR and PBO not computed; judged on the holdout alone"
    check_record_bars(record, search_bars)
    try:
        overfit = search_overfitting(
            record, search_bars, cls, after, config=config, sample_size=settings.sample_size, seed=seed,
            pbo_blocks=settings.pbo_blocks,
        )  # fmt: skip
    except ValidationError as exc:
        return None, f"not computed: {exc}"
    return overfit, overfit.counted


def _candidate_set(
    cls: type[Strategy], proposal: Proposal, after: dict[str, float], limit: int
) -> tuple[list[dict[str, float]], list[int]]:
    """The search's best ``limit`` candidates (resolved) and ``params_after`` appended unless among them.

    The second list maps each model column to its index in ``proposal.candidates`` (−1: params_after).
    """
    models = [
        cls.resolve(candidate.params, where=f"proposal candidates[{i}].params")
        for i, candidate in enumerate(proposal.candidates[:limit])
    ]
    index = list(range(len(models)))
    if after not in models:
        models.append(after)
        index.append(-1)
    return models, index


def _stepm(
    ab: ABResult, matrix: np.ndarray, margin: float, thresholds: Thresholds, reps: int, seed: int
) -> StepM:
    """StepM on the holdout: volatility-matched candidates against the baseline raised by the margin."""
    baseline = ab.baseline_returns
    matched = volatility_matched(matrix, baseline)
    benchmark = baseline + margin * float(np.std(baseline, ddof=1))
    block = max(thresholds.bootstrap_block_length, stationary_block_length(matched.mean(axis=1) - baseline))
    stepm = StepM.from_returns(
        benchmark, matched, size=thresholds.alpha, reps=reps, seed=seed, block_size=block
    )
    stepm.compute()
    return stepm


def _search_spa(
    search_bars: pd.DataFrame, cls: type[Strategy], before: dict[str, float], models: list[dict[str, float]],
    config: EngineConfig, thresholds: Thresholds, reps: int, seed: int,
) -> SPA:  # fmt: skip
    """The search-level data-snooping check: SPA of the best candidates on the search bars (information)."""
    matrix = returns_matrix(search_bars, cls, [before, *models], config=config)
    baseline, matched = matrix[:, 0], volatility_matched(matrix[:, 1:], matrix[:, 0])
    block = max(thresholds.bootstrap_block_length, stationary_block_length(matched.mean(axis=1) - baseline))
    spa = SPA.from_returns(baseline, matched, reps=reps, seed=seed, block_size=block)
    spa.compute()
    return spa


def _walk_forward(
    bars: pd.DataFrame, cls: type[Strategy], before: dict[str, float], after: dict[str, float],
    proposal: Proposal, config: EngineConfig, settings: WalkForwardSettings,
) -> WalkForwardResult:  # fmt: skip
    folds = walk_forward_folds(len(bars), settings.n_folds, settings.is_oos_ratio, settings.mode)
    search = settings.fold_search or search_settings(proposal) or SearchSettings(cadence=cadence(proposal))
    optimise = reoptimising_search(cls, before, search, fold_guardrails(proposal), config=config)
    warmup = max(strategy_lookback(cls, before), strategy_lookback(cls, after))
    return run_walk_forward(bars, cls, folds, optimise, config=config, warmup_bars=warmup, baseline=before)


def _gate_inputs(
    ab: ABResult, test: PairedSharpeTest, stepm: StepM, after_column: int, before: dict[str, float],
    after: dict[str, float], overfit: SearchOverfitting | None, walk: WalkForwardResult, spa: SPA,
) -> GateInputs:  # fmt: skip
    kpis = ab.candidate.kpis
    risk_changed = tuple(name for name in RISK_NAMES if before.get(name) != after.get(name))
    return GateInputs(
        trades=kpis["trades"],
        delta_sharpe=ab.delta_sharpe,
        holdout_p=test.p_value,
        stepm_t=float(stepm.spa.t_stats[after_column]),
        stepm_critical=stepm.critical_values[-1],
        sharpe_diff_ci_low=ab.sharpe_diff_ci_annualised[0],
        risk_params_changed=risk_changed,
        dsr=None if overfit is None else overfit.dsr,
        pbo=None if overfit is None else overfit.pbo.pbo,
        max_drawdown_pct=kpis["max_drawdown_pct"],
        win_rate_pct=kpis["win_rate_pct"],
        worst_day_pct=kpis["worst_day_pct"],
        fold_sharpe_cv=walk.sharpe_cv,
        max_fold_drawdown_pct=walk.max_fold_drawdown_pct,
        walk_forward_gain=walk.gain,
        spa_search_p=spa.pvalues.consistent,
    )


def _p_values(test: PairedSharpeTest, spa: SPA, ab: ABResult) -> dict[str, float]:
    lw = ab.ledoit_wolf
    pvalues = spa.pvalues
    return {
        "holdout_sharpe": test.p_value,
        "ledoit_wolf": lw.p_value if lw is not None else math.nan,
        "spa_lower": pvalues.lower,
        "spa_consistent": pvalues.consistent,
        "spa_upper": pvalues.upper,
        "reality_check": pvalues.reality_check,
    }


def _overfitting(
    ab: ABResult, test: PairedSharpeTest, overfit: SearchOverfitting | None, thresholds: Thresholds
) -> dict[str, Any]:
    stats = sharpe_stats(ab.candidate_returns)
    found = overfit.as_dict() if overfit is not None else {}
    return {
        "psr": probabilistic_sharpe_ratio(stats.sharpe, 0.0, stats.n, stats.skew, stats.kurtosis),
        "dsr": found.get("dsr"),
        "pbo": found.get("pbo"),
        "min_trl_bars": test.min_trl_bars,
        "min_trl_power": MIN_TRL_POWER,
        "n_trials": found.get("n_effective"),
        "n_trials_raw": found.get("configurations"),
        "n_trials_feasible": found.get("feasible"),
        "n_trials_sampled": found.get("sampled"),
        "selected_sharpe": found.get("selected_sharpe"),
        "sharpe_variance": found.get("sharpe_variance_annualised"),
        "expected_max_sharpe": found.get("expected_max_sharpe"),
        "search_sharpe": found.get("proposal_sharpe"),
        "pbo_prob_oos_loss": found.get("pbo_prob_oos_loss"),
        "pbo_degradation_slope": found.get("pbo_degradation_slope"),
        "observations": stats.n,
        "confidence_level": thresholds.confidence_level,
    }


def _cpcv(
    overfit: SearchOverfitting | None, ab: ABResult, cls: type[Strategy], after: dict[str, float],
    settings: WalkForwardSettings,
) -> dict[str, Any]:  # fmt: skip
    """CPCV paths of "pick the best tried configuration" on the search bars (information only)."""
    if overfit is None:
        return {"error": "no search record"}
    trades = ab.candidate.trades
    holding = int((trades["exit_bar"] - trades["entry_bar"]).max()) + 1 if len(trades) else 1
    try:
        paths = cpcv_selection_paths(
            overfit.sample_returns, settings.cpcv_groups, settings.cpcv_test_groups, purge_bars=holding,
            embargo_bars=strategy_lookback(cls, after), bars_per_year=overfit.bars_per_year,
        )  # fmt: skip
    except ValidationError as exc:
        return {"error": str(exc)}
    return paths.as_dict()


def _fold_rows(walk: WalkForwardResult) -> list[dict[str, Any]]:
    return [
        {
            "fold": fold.fold.fold,
            "is_start": fold.is_start.isoformat(),
            "is_end": fold.is_end.isoformat(),
            "oos_start": fold.oos_start.isoformat(),
            "oos_end": fold.oos_end.isoformat(),
            "sharpe": fold.oos_sharpe,
            "baseline_sharpe": fold.baseline_oos_sharpe,
            "max_drawdown_pct": fold.oos_max_drawdown_pct,
            "return_pct": fold.oos_return_pct,
            "is_sharpe": fold.is_sharpe,
            "params": fold.params,
        }
        for fold in walk.folds
    ]


def _walk_summary(walk: WalkForwardResult, before: dict[str, float]) -> dict[str, Any]:
    worst = walk.worst_fold
    return {
        "folds": len(walk.folds),
        "efficiency": walk.efficiency,
        "sharpe_cv": walk.sharpe_cv,
        "gain": walk.gain,
        "worst_fold": worst.fold.fold,
        "worst_fold_sharpe": worst.oos_sharpe,
        "max_fold_drawdown_pct": walk.max_fold_drawdown_pct,
        "oos_bars": len(walk.oos_returns),
        "changed_folds": sum(fold.params != before for fold in walk.folds),
    }


def _holdout_summary(
    proposal: Proposal, holdout: pd.DataFrame, test: PairedSharpeTest, ab: ABResult,
    earlier_looks: int | None, alpha: float,
) -> dict[str, Any]:  # fmt: skip
    scale = math.sqrt(ab.bars_per_year)
    return {
        "boundary": holdout_boundary(proposal).isoformat(),
        "start": holdout.index[0].isoformat(),
        "end": holdout.index[-1].isoformat(),
        "bars": len(holdout),
        "fraction": proposal.holdout.fraction if proposal.holdout is not None else None,
        "earlier_looks": earlier_looks,
        "alpha": alpha,
        "test": test.method,
        "sharpe_diff": test.diff * scale,
        "margin": test.margin * scale,
        "se": test.se * scale,
        "statistic": test.statistic,
        "min_trl_bars": test.min_trl_bars,
    }


def _search_summary(proposal: Proposal, search_bars: pd.DataFrame, counted: str) -> dict[str, Any]:
    record = proposal.search_record
    return {
        "start": search_bars.index[0].isoformat(),
        "end": search_bars.index[-1].isoformat(),
        "bars": len(search_bars),
        "record": None if record is None else record.to_json(),
        "counted": counted,
    }


def _summary(gates: list[Gate], failed: list[str], has_record: bool) -> str:
    gating = sum(gate.gating for gate in gates)
    alone = "" if has_record else " (judged on the holdout alone: no search record)"
    if not failed:
        return f"pass: all {gating} gating gates passed{alone}"
    return f"fail: {len(failed)} of {gating} gating gates failed ({', '.join(failed)}){alone}"
