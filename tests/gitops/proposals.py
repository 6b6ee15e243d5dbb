"""Contract-2 proposals and contract-3 verdicts for the gitops tests, built from the real structures.

The live values come from the shipped ``config/constants.py``, the hard bounds from the strategy's
parameter space, and each ``changes`` entry from the optimizer's own guardrail code
(:func:`optimizer.clip_parameters` and :class:`optimizer.ParamChange`). Only the KPI figures, p-values
and intervals are fixed numbers of a plausible size, so that the golden PR body does not move whenever
the engine or the statistics change.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from backtest_matrix.strategies import get_strategy
from gitops import edit_constants_text, parse_constants, proposal_hash
from optimizer import ParamChange, clip_parameters
from tradeloop import Provenance

REPO_ROOT = Path(__file__).resolve().parents[2]
CONSTANTS_TEXT = (REPO_ROOT / "config" / "constants.py").read_text("utf-8")
LIVE = parse_constants(CONSTANTS_TEXT)


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


def realistic_verdict(proposal: Mapping[str, Any], n_folds: int = 6) -> dict[str, Any]:
    """A passing verdict for ``proposal`` with the gates named after the validation constants."""
    gates = [
        ("min_trades", 97, 30, ">=", "trades", True, True, "fewest trades of the candidate over all folds"),
        ("min_sharpe_improvement", 0.13, 0.05, ">=", "", True, True, "out-of-sample Sharpe gain, annualised"),
        ("min_deflated_sharpe", 0.962, 0.95, ">=", "", True, True, "DSR after 143 effective trials"),
        ("max_pbo", 0.21, 0.5, "<=", "", True, True, "CSCV with 16 blocks"),
        ("max_fold_sharpe_cv", 0.74, 1.5, "<=", "", True, True, "coefficient of variation of fold Sharpes"),
        ("max_drawdown_pct", 7.1, 8.0, "<=", "%", True, True, "deepest drawdown over the full period"),
        ("min_win_rate_pct", 43.8, 40.0, ">=", "%", True, True, "share of winning trades"),
        ("max_daily_loss_usd", 3.9, 5.0, "<=", "USD", True, True, "worst_day_pct x init_cash / 100"),
        (
            "spa_consistent_p",
            0.018,
            0.05,
            "<",
            "",
            True,
            False,
            "studentized SPA against the live parameters",
        ),
    ]
    folds = [
        {
            "fold": index,
            "is_start": f"{2010 + index}-01-04",
            "is_end": f"{2012 + index}-12-31",
            "oos_start": f"{2013 + index}-01-02",
            "oos_end": f"{2013 + index}-12-31",
            "sharpe": round(0.35 + 0.07 * (index % 4), 2),
            "max_drawdown_pct": round(3.1 + 0.6 * (index % 3), 2),
        }
        for index in range(n_folds)
    ]
    return {
        "schema_version": 1,
        "kind": "tradeloop.verdict",
        "proposal_hash": proposal["proposal_hash"],
        "created_at": "2030-01-15T07:12:00+00:00",
        "decision": "pass",
        "summary": "all 8 gating gates pass; the Sharpe gain is significant at the 95 % level",
        "gates": [
            dict(
                zip(
                    ("name", "figure", "threshold", "op", "unit", "passed", "gating", "detail"),
                    gate,
                    strict=True,
                )
            )
            for gate in gates
        ],
        "p_values": {
            "spa_lower": 0.011,
            "spa_consistent": 0.018,
            "spa_upper": 0.024,
            "reality_check": 0.041,
            "ledoit_wolf": 0.032,
        },
        "cis": {"sharpe_diff": [0.021, 0.244], "mean_return_diff_pct": [0.8, 16.9], "level": 0.95},
        "effect_size": {"delta_sharpe": 0.13, "baseline_sharpe": 0.48, "candidate_sharpe": 0.61},
        "overfitting": {"psr": 0.981, "dsr": 0.962, "pbo": 0.21, "min_trl_bars": 812.0, "n_trials": 143},
        "folds": folds,
        "stepm_superior": [0],
    }
