"""Contract-2 proposals and contract-3 verdicts for the gitops tests, built from the real structures.

The live values come from the shipped ``config/constants.py``, the hard bounds from the strategy's
parameter space, and each ``changes`` entry from the optimizer's own guardrail code
(:func:`optimizer.clip_parameters` and :class:`optimizer.ParamChange`); the verdict's gates come from
validation's own :func:`validation.evaluate_gates` with the shipped thresholds. Only the KPI figures,
p-values and intervals are fixed numbers of a plausible size, so that the golden PR body does not move
whenever the engine or the statistics change.

:func:`demo_documents` are real: the proposal and verdict ``tradeloop cycle`` wrote for the demo pair
(``tests/gitops/golden/demo_*.json``).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from backtest_matrix.strategies import get_strategy
from gitops import edit_constants_text, parse_constants, proposal_hash
from optimizer import ParamChange, clip_parameters
from tradeloop import Provenance
from tradeloop.documents import Proposal, Verdict
from validation import GateInputs, Thresholds, evaluate_gates

REPO_ROOT = Path(__file__).resolve().parents[2]
CONSTANTS_TEXT = (REPO_ROOT / "config" / "constants.py").read_text("utf-8")
LIVE = parse_constants(CONSTANTS_TEXT)


def typed(proposal: Mapping[str, Any] | Proposal) -> Proposal:
    """The proposal the stages take: a document checked by its one parser (a typed one as it is)."""
    if isinstance(proposal, Proposal):
        return proposal
    return Proposal.from_json(copy.deepcopy(dict(proposal)))


def typed_verdict(verdict: Mapping[str, Any] | Verdict) -> Verdict:
    """The verdict the stages take: a document checked by its one parser (a typed one as it is)."""
    if isinstance(verdict, Verdict):
        return verdict
    return Verdict.from_json(copy.deepcopy(dict(verdict)))


def live_params(strategy: str, symbol: str) -> dict[str, Any]:
    """The shipped live parameters of a pair resolved like the optimizer does: defaults filled in."""
    entry = dict(LIVE.live_params[strategy][symbol])
    entry.pop("timeframe")
    return get_strategy(strategy).resolve(entry)


def make_proposal(
    strategy: str,
    symbol: str,
    targets: Mapping[str, float],
    *,
    before: Mapping[str, Any] | None = None,
    max_delta: float = 0.2,
    kpis_before: Mapping[str, Any] | None = None,
    kpis_after: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A proposal moving ``targets`` from the live values, clipped by the optimizer's guardrails."""
    params_before = {name: float(value) for name, value in (before or live_params(strategy, symbol)).items()}
    space = {param.name: param for param in get_strategy(strategy).space()}
    for name in targets:
        params_before.setdefault(name, float(space[name].default))
    clipped = clip_parameters(
        params_before,
        targets,
        hard_bounds={name: (space[name].low, space[name].high) for name in params_before},
        int_params=[name for name in params_before if space[name].kind == "int"],
        max_delta=max_delta,
    )
    moving = [value for value in clipped.values() if value.moves]
    changes: list[dict[str, Any]] = [
        ParamChange(
            parameter=value.parameter,
            current=value.current,
            proposed=value.proposed,
            delta_pct=value.delta_pct,
            cap_pct=max_delta * 100,
            bound=f"[{value.low:g}, {value.high:g}]",
            binding=value.binding,
            expected_gain=0.01 * (index + 1),
            rationale=(
                f"moves {value.current:g} -> {value.proposed:g} (search best {value.best:g}); cap "
                f"±{max_delta * 100:g} % of |current| = ±{value.cap:g}; expected objective gain "
                f"{0.01 * (index + 1):+.4g}"
            ),
        ).as_dict()
        for index, value in enumerate(moving)
    ]
    params_after: dict[str, Any] = {
        **params_before,
        **{change["parameter"]: change["proposed"] for change in changes},
    }
    proposal: dict[str, Any] = {
        "schema_version": 1,
        "kind": "tradeloop.proposal",
        "run_id": "20300115T060000Z-5eed5eed",
        "git_sha": "0123456789abcdef0123456789abcdef01234567",
        "created_at": "2030-01-15T06:00:00+00:00",
        "strategy": strategy,
        "symbol": symbol,
        "timeframe": LIVE.live_params[strategy][symbol]["timeframe"],
        "cadence": "daily",
        "data": {
            "source": f"arch:{symbol.lower()}",
            "timeframe": "1d",
            "data_hash": "a3f1c09b77e2d415",
            "start": "2010-01-04T00:00:00+00:00",
            "end": "2018-12-31T00:00:00+00:00",
            "bars": 2263,
        },
        "status": "proposed" if changes else "no_change",
        "reason": None if changes else "no gain: the best candidate equals the live values",
        "proposal_hash": "",
        "config_hash_before": LIVE.config_hash,
        "config_hash_after": _config_hash_after(strategy, symbol, changes),
        "params_before": params_before,
        "params_after": params_after,
        "changes": changes,
        "kpis_before": copy.deepcopy(dict(kpis_before or KPIS_BEFORE)),
        "kpis_after": copy.deepcopy(dict(kpis_after or KPIS_AFTER)),
        "rationale": {
            "summary": (
                f"{strategy} on {symbol} trails its 90-day Sharpe target and the trend regime has "
                "lengthened; a slower fast EMA and a wider stop recover most of the gap on the same bars."
            ),
            "flags": [
                {
                    "kind": "underperformance",
                    "metric": "sharpe_90d",
                    "figure": 0.31,
                    "threshold": 0.5,
                    "message": "90-day Sharpe 0.31 is below the 0.50 target",
                },
                {
                    "kind": "regime_change",
                    "metric": "bull_share",
                    "figure": 0.64,
                    "threshold": 0.5,
                    "message": "64 % of the last 90 bars are bull (was 41 %)",
                },
            ],
        },
        "search": {
            "sampler": "tpe",
            "objective": "sharpe",
            "trials": 200,
            "n_effective_trials": 143,
            "seed": 7,
            "study": f"tradeloop-{strategy}-{symbol}-1d",
            "storage": "sqlite:///.tradeloop/optuna.db",
        },
        "candidates": [{"params": params_after, "objective": 0.61}],
        "guardrails": {
            "max_delta": max_delta,
            "max_knobs": 3,
            "cooldown_hours": 6,
            "change_budget": {"max": 6},
        },
    }
    proposal["proposal_hash"] = proposal_hash(proposal)
    return proposal


def _config_hash_after(strategy: str, symbol: str, changes: list[dict[str, Any]]) -> str:
    """The config hash of the shipped constants with the changes applied (what gitops will write)."""
    space = {param.name: param for param in get_strategy(strategy).space()}
    edits: dict[tuple[str, ...], Any] = {
        ("LIVE_PARAMS", strategy, symbol, change["parameter"]): (
            int(change["proposed"]) if space[change["parameter"]].kind == "int" else change["proposed"]
        )
        for change in changes
    }
    provenance = Provenance(run_id="helper", git_sha="nogit", written_at="2030-01-15T06:00:00+00:00")
    text = edit_constants_text(CONSTANTS_TEXT, edits, provenance=provenance)
    return parse_constants(text).config_hash


KPIS_BEFORE: dict[str, Any] = {
    "overall": {
        "sharpe": 0.48,
        "return_pct": 35.2,
        "max_drawdown_pct": 7.9,
        "worst_day_pct": -0.62,
        "win_rate_pct": 41.3,
        "profit_factor": 1.21,
        "trades": 104,
    },
    "regimes": {
        "bull": {"bars": 1021, "sharpe": 0.95, "return_pct": 28.4, "max_drawdown_pct": 4.1},
        "bear": {"bars": 388, "sharpe": -0.42, "return_pct": -6.3, "max_drawdown_pct": 7.9},
        "sideways": {"bars": 702, "sharpe": 0.12, "return_pct": 2.9, "max_drawdown_pct": 3.3},
        "high_vol": {"bars": 152, "sharpe": 0.31, "return_pct": 4.8, "max_drawdown_pct": 5.6},
    },
}
KPIS_AFTER: dict[str, Any] = {
    "overall": {
        "sharpe": 0.61,
        "return_pct": 44.1,
        "max_drawdown_pct": 7.1,
        "worst_day_pct": -0.55,
        "win_rate_pct": 43.8,
        "profit_factor": 1.34,
        "trades": 97,
    },
    "regimes": {
        "bull": {"bars": 1021, "sharpe": 1.12, "return_pct": 34.0, "max_drawdown_pct": 3.8},
        "bear": {"bars": 388, "sharpe": -0.35, "return_pct": -5.1, "max_drawdown_pct": 7.1},
        "sideways": {"bars": 702, "sharpe": 0.15, "return_pct": 3.4, "max_drawdown_pct": 3.0},
        "high_vol": {"bars": 152, "sharpe": 0.29, "return_pct": 4.5, "max_drawdown_pct": 5.9},
    },
}


def realistic_proposal() -> dict[str, Any]:
    """ema_cross on SP500: the fast EMA and the stop-loss move (the stop by its full 20 % cap)."""
    return make_proposal("ema_cross", "SP500", {"ema_fast": 13.4, "stop_loss_pct": 2.9})


HOLDOUT: dict[str, Any] = {
    "fraction": 0.25,
    "boundary": "2016-09-30T00:00:00+00:00",
    "start": "2016-09-30T00:00:00+00:00",
    "end": "2018-12-31T00:00:00+00:00",
    "bars": 566,
    "search_start": "2010-01-04T00:00:00+00:00",
    "search_end": "2016-09-29T00:00:00+00:00",
    "search_bars": 1697,
}


def reviewed_proposal() -> dict[str, Any]:
    """:func:`realistic_proposal` as ``tradeloop propose`` writes it today: a holdout, the search settings,
    the search record and the guardrails in their full shape, and a local Optuna storage path."""
    proposal = realistic_proposal()
    proposal["holdout"] = dict(HOLDOUT)
    proposal["search"] |= {
        "storage": "sqlite:////home/quant/.tradeloop/optuna.db",
        "settings": {"cadence": "daily", "objective": "sharpe", "sampler": "tpe", "trials": 200, "seed": 7,
                     "top_k": 10, "prescreen_n": 20000, "prescreen_method": "sobol", "batch_size": 8},
    }  # fmt: skip
    proposal["search_record"] = {
        "path": "proposal.search_record.json.gz",
        "sha256": "5eed" * 16,
        "configurations": 20200,
        "stages": {"A": 20000, "B": 200},
    }
    proposal["guardrails"] = {
        "max_delta": 0.2,
        "max_knobs": 3,
        "cooldown_hours": 6,
        "change_budget": {"max_changes": 6, "window_hours": 168, "counts": "changed parameters"},
        "min_trades": 30,
        "holdout_fraction": 0.25,
    }
    return proposal


def thresholds() -> Thresholds:
    """The shipped validation thresholds."""
    guardrails = LIVE.guardrails
    return Thresholds.from_constants(guardrails, capital_usd=float(guardrails["TRADING_CAPITAL_USD"]))


#: Figures of the passing verdict, each of a plausible size (unrounded, as validation writes them).
GATE_INPUTS = GateInputs(
    trades=61.0,
    delta_sharpe=0.2512344,
    holdout_p=0.0213781,
    stepm_t=2.9014,
    stepm_critical=2.2448509,
    sharpe_diff_ci_low=0.0734444,
    risk_params_changed=("stop_loss_pct",),
    dsr=0.9623011,
    pbo=0.2142857,
    max_drawdown_pct=5.873911,
    win_rate_pct=44.26229,
    worst_day_pct=-0.388412,
    fold_sharpe_cv=0.7391004,
    max_fold_drawdown_pct=6.21783,
    walk_forward_gain=0.1187,
    spa_search_p=0.0181,
)


def realistic_verdict(proposal: Mapping[str, Any], n_folds: int = 5) -> dict[str, Any]:
    """A passing verdict for ``proposal`` in the shape ``tradeloop validate`` writes, gates by validation."""
    gates = [gate.as_dict() for gate in evaluate_gates(GATE_INPUTS, thresholds())]
    gating = sum(gate["gating"] for gate in gates)
    folds = [
        {
            "fold": index,
            "is_start": f"{2010 + index}-01-04T00:00:00+00:00",
            "is_end": f"{2012 + index}-12-31T00:00:00+00:00",
            "oos_start": f"{2013 + index}-01-02T00:00:00+00:00",
            "oos_end": f"{2013 + index}-12-31T00:00:00+00:00",
            "sharpe": 0.35 + 0.0713 * (index % 4),
            "baseline_sharpe": 0.31 + 0.0417 * (index % 3),
            "max_drawdown_pct": 3.1 + 0.6123 * (index % 3),
            "return_pct": 4.2 + 0.5 * (index % 2),
            "is_sharpe": 0.52,
            "params": dict(proposal.get("params_after") or {}),
        }
        for index in range(n_folds)
    ]
    return {
        "schema_version": 1,
        "kind": "tradeloop.verdict",
        "proposal_hash": proposal["proposal_hash"],
        "strategy": proposal["strategy"],
        "symbol": proposal["symbol"],
        "timeframe": proposal["timeframe"],
        "created_at": "2030-01-15T07:12:00+00:00",
        "decision": "pass",
        "summary": f"pass: all {gating} gating gates passed",
        "gates": gates,
        "p_values": {
            "holdout_sharpe": GATE_INPUTS.holdout_p,
            "ledoit_wolf": 0.0317702,
            "spa_lower": 0.0112,
            "spa_consistent": 0.0181,
            "spa_upper": 0.0243,
            "reality_check": 0.0411,
        },
        "cis": {
            "sharpe_diff": [GATE_INPUTS.sharpe_diff_ci_low, 0.4403178],
            "mean_return_diff_pct": [0.000812, 0.0169013],
            "level": 0.95,
            "block_length": 9,
            "reps": 2000,
        },
        "effect_size": {
            "delta_sharpe": 0.2512344,
            "baseline_sharpe": 0.4123077,
            "candidate_sharpe": 0.6635421,
        },
        "overfitting": {
            "psr": 0.9810772,
            "dsr": GATE_INPUTS.dsr,
            "pbo": GATE_INPUTS.pbo,
            "min_trl_bars": 411.37,
            "min_trl_power": 0.8,
            "n_trials": 143,
            "n_trials_raw": 20200,
            "n_trials_feasible": 9120,
            "n_trials_sampled": 2000,
            "selected_sharpe": 0.7021,
            "sharpe_variance": 0.1934,
            "expected_max_sharpe": 0.4988231,
            "search_sharpe": 0.61,
            "pbo_prob_oos_loss": 0.0714286,
            "pbo_degradation_slope": -0.4123,
            "observations": 566,
            "confidence_level": 0.95,
        },
        "folds": folds,
        "stepm_superior": [0, 2, 3],
        "walk_forward": {
            "folds": n_folds,
            "efficiency": 0.8123,
            "sharpe_cv": GATE_INPUTS.fold_sharpe_cv,
            "gain": GATE_INPUTS.walk_forward_gain,
            "worst_fold": 0,
            "worst_fold_sharpe": 0.35,
            "max_fold_drawdown_pct": GATE_INPUTS.max_fold_drawdown_pct,
            "oos_bars": 1132,
            "changed_folds": min(n_folds, 4),
        },
        "kpis": {
            "baseline": {
                "sharpe": 0.4123077,
                "return_pct": 9.81234,
                "max_drawdown_pct": 6.40071,
                "worst_day_pct": -0.41,
                "win_rate_pct": 42.0,
                "profit_factor": 1.16,
                "trades": 64.0,
            },
            "candidate": {
                "sharpe": 0.6635421,
                "return_pct": 14.0291,
                "max_drawdown_pct": 5.873911,
                "worst_day_pct": GATE_INPUTS.worst_day_pct,
                "win_rate_pct": 44.26229,
                "profit_factor": 1.29,
                "trades": 61.0,
            },
        },
        "holdout": {
            "boundary": HOLDOUT["boundary"],
            "start": HOLDOUT["start"],
            "end": HOLDOUT["end"],
            "bars": HOLDOUT["bars"],
            "fraction": 0.25,
            "earlier_looks": 0,
            "test": "ledoit-wolf",
            "sharpe_diff": 0.2512344,
            "margin": 0.05,
            "se": 0.0911,
            "statistic": 2.0263,
            "min_trl_bars": 411.37,
        },
        "search": {
            "start": HOLDOUT["search_start"],
            "end": HOLDOUT["search_end"],
            "bars": HOLDOUT["search_bars"],
            "record": None,
            "counted": (
                "N = 143 clusters of correlated configurations in a uniform sample of 2,000 of the 9,120 "
                "that met the hard constraints, of 20,200 tried; V from all 9,120"
            ),
        },
    }


GOLDEN_DIR = Path(__file__).parent / "golden"


def demo_documents() -> tuple[dict[str, Any], dict[str, Any]]:
    """The proposal and verdict ``tradeloop cycle`` wrote for the demo pair (rsi_reversion/DEMO, 15m)."""
    proposal = json.loads((GOLDEN_DIR / "demo_proposal.json").read_text(encoding="utf-8"))
    verdict = json.loads((GOLDEN_DIR / "demo_verdict.json").read_text(encoding="utf-8"))
    return proposal, verdict
