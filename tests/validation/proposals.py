"""Realistic contract-2 proposals built from real backtests on arch's S&P 500 bars, for the verdict tests.

``rsi_reversion`` on SP500 daily (1999-2018), 10 bps fees and 5 bps slippage:

* GOOD: RSI(9) under 28 / over 55, no stop or target, 20% per trade: annualised Sharpe ~0.47, ~60 trades,
  win rate ~75%, max drawdown ~6%;
* BAD: RSI(2) under 44 / over 63, 2% stop and 2% target, 5% per trade: churns ~1,000 trades at Sharpe ~-1.

"Better" proposes GOOD over live BAD; "worse" proposes BAD over live GOOD. The candidate set is a
grid of stop-loss and take-profit levels around the proposed parameters (a risk-parameter search), ranked
by their real Sharpe ratio.
"""

from __future__ import annotations

import hashlib
import itertools
from functools import cache
from typing import Any

import pandas as pd

from backtest_matrix import load_bars
from backtest_matrix.engine import EngineConfig, backtest, sweep
from tradeloop._provenance import canonical_json

GOOD = {
    "rsi_period": 9.0,
    "oversold": 28.0,
    "overbought": 55.0,
    "stop_loss_pct": 0.0,
    "exit_tp0_pct": 0.0,
    "trade_fraction": 0.2,
}
BAD = {
    "rsi_period": 2.0,
    "oversold": 44.0,
    "overbought": 63.0,
    "stop_loss_pct": 2.0,
    "exit_tp0_pct": 2.0,
    "trade_fraction": 0.05,
}
ENGINE = EngineConfig(fee_bps=10.0, slippage_bps=5.0)
#: A capital at which the GOOD set's worst day (~ -2%) stays within MAX_DAILY_LOSS_USD (5 USD).
CAPITAL_USD = 100.0


@cache
def sp500() -> tuple[pd.DataFrame, str]:
    loaded = load_bars("sp500", cache_dir=None)
    return loaded.bars, loaded.data_hash


def risk_grid(params: dict[str, float]) -> list[dict[str, float]]:
    """The search's candidates: ``params`` with stop-loss 0-5% and first take-profit 0-4% (20 sets)."""
    return [
        {**params, "stop_loss_pct": float(stop), "exit_tp0_pct": float(target)}
        for stop, target in itertools.product([0, 1, 2, 3, 5], [0, 1, 2, 4])
    ]


def make_proposal(
    before: dict[str, float], after: dict[str, float], *, n_candidates: int = 20
) -> dict[str, Any]:
    """A complete contract-2 proposal of ``after`` over the live ``before``, KPIs from real backtests.

    The candidates are the first ``n_candidates`` sets of :func:`risk_grid` around ``after``, ranked by
    their real Sharpe ratio (as an optimizer lists its best candidates).
    """
    bars, data_hash = sp500()
    ranked = sweep(bars, "rsi_reversion", pd.DataFrame(risk_grid(after)[:n_candidates]), config=ENGINE)
    ranked = ranked.sort_values("sharpe", ascending=False)
    names = list(after)
    candidates = [
        {"params": {name: float(row[name]) for name in names}, "objective": float(row["sharpe"])}
        for row in ranked.to_dict("records")
    ]
    kpis_before = backtest(bars, "rsi_reversion", before, config=ENGINE).kpis
    kpis_after = backtest(bars, "rsi_reversion", after, config=ENGINE).kpis
    proposal_hash = hashlib.sha256(
        canonical_json(
            {"strategy": "rsi_reversion", "symbol": "SP500", "timeframe": "1d", "params_after": after}
        ).encode()
    ).hexdigest()
    return {
        "schema_version": 1,
        "kind": "tradeloop.proposal",
        "run_id": "20240101T000000Z-0000beef",
        "git_sha": "nogit",
        "created_at": "2024-01-01T00:00:00+00:00",
        "strategy": "rsi_reversion",
        "symbol": "SP500",
        "timeframe": "1d",
        "cadence": "weekly",
        "data": {
            "source": "sp500",
            "timeframe": "1d",
            "data_hash": data_hash,
            "start": bars.index[0].isoformat(),
            "end": bars.index[-1].isoformat(),
            "bars": len(bars),
        },
        "status": "proposed",
        "reason": None,
        "proposal_hash": proposal_hash,
        "config_hash_before": "before",
        "config_hash_after": "after",
        "params_before": dict(before),
        "params_after": dict(after),
        "changes": [
            {"parameter": name, "current": before[name], "proposed": after[name]}
            for name in names
            if before[name] != after[name]
        ],
        "kpis_before": {"overall": kpis_before, "regimes": {}},
        "kpis_after": {"overall": kpis_after, "regimes": {}},
        "rationale": {"summary": "scheduled weekly search", "flags": []},
        "search": {
            "sampler": "random",
            "objective": "sharpe",
            "trials": n_candidates,
            "n_effective_trials": None,
            "seed": 7,
            "study": "test",
            "storage": "memory",
        },
        "candidates": candidates,
        "guardrails": {"max_delta": 0.2, "max_knobs": 3, "cooldown_hours": 6, "change_budget": {}},
    }
