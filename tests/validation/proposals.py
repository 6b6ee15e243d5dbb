"""Real proposals for the verdict tests: made by the optimizer itself, on bars a test can reload.

* **Planted improvement.** The seeded mean-reverting market (``backtest_matrix.data.generate_reverting``,
  15-minute bars, a fair-value random walk plus an Ornstein–Uhlenbeck deviation with a 23-bar half-life),
  traded by ``rsi_reversion`` with live parameters that churn into costs (RSI 6, bands 35/55). The bounded
  search moves the bands by the 20 % cap (about 28/66): a real, large improvement by construction.
* **Real daily data.** arch's S&P 500 bars (1999-2018) with ``rsi_reversion`` at RSI 2, bands 44/63:
  ~1,000 trades, so the holdout (2014-2018) holds ~250 of them. Proposals that change only
  ``trade_fraction``, or nothing, are built from the optimizer's own proposal by replacing ``params_after``.

Every proposal is searched with small budgets (Stage A 4,000 rows, Stage B 16 trials) so the tests stay
fast; the search record travels beside it.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd

from backtest_matrix import load_bars
from backtest_matrix.data import generate_reverting
from backtest_matrix.engine import EngineConfig
from optimizer import Guardrails, ProposalOutcome, ProposalRequest, SearchRecord, make_proposal
from tradeloop import canonical_json, data_hash

ENGINE = EngineConfig(fee_bps=10.0, slippage_bps=5.0)
#: The shipped TRADING_CAPITAL_USD: the capital every verdict test trades.
CAPITAL_USD = 1000.0
GUARDRAILS = Guardrails(min_trades=30, max_drawdown_pct=8.0, min_win_rate_pct=40.0)
NOW = datetime(2024, 12, 1, tzinfo=UTC)

PLANTED_LIVE = {"rsi_period": 6, "oversold": 35.0, "overbought": 55.0, "trade_fraction": 0.1}
PLANTED_BARS = 24_000
#: RSI(2) bands 44/63 churn ~1,000 trades on the S&P 500: enough for the 2014-2018 holdout.
DAILY_LIVE = {"rsi_period": 2, "oversold": 44.0, "overbought": 63.0, "trade_fraction": 0.05}


@cache
def planted_bars() -> pd.DataFrame:
    return generate_reverting(bars=PLANTED_BARS, seed=0)


@cache
def sp500() -> tuple[pd.DataFrame, str]:
    loaded = load_bars("sp500", cache_dir=None)
    return loaded.bars, loaded.data_hash


def write_bars(bars: pd.DataFrame, folder: Path) -> str:
    """Write ``bars`` as Parquet under ``folder`` (a data source ``tradeloop validate`` can reload)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "bars.parquet"
    if not path.exists():
        bars.to_parquet(path)
    return str(path)


def optimizer_proposal(
    bars: pd.DataFrame,
    source: str,
    live: dict[str, float],
    *,
    symbol: str,
    timeframe: str,
    cadence: str = "daily",
    seed: int = 0,
    strategy: str = "rsi_reversion",
    record_name: str = "proposal.search_record.json.gz",
) -> ProposalOutcome:
    """What ``tradeloop propose`` makes of ``live`` on ``bars``: holdout, bounded search, search record."""
    request = ProposalRequest(
        strategy=strategy, symbol=symbol, timeframe=timeframe, cadence=cadence, bars=bars,
        data={"source": source, "timeframe": timeframe, "data_hash": data_hash(bars)}, current=live,
        run_id="20241201T000000Z-0000beef", git_sha="nogit", now=NOW, trials=16, seed=seed,
        storage="memory", top_k=5, prescreen_n=4000, record_name=record_name,
    )  # fmt: skip
    return make_proposal(request, guardrails=GUARDRAILS, engine_config=ENGINE)


@cache
def planted() -> ProposalOutcome:
    """The optimizer's proposal on the planted market (source: ``planted.parquet`` is written by tests)."""
    return optimizer_proposal(planted_bars(), "planted", PLANTED_LIVE, symbol="DEMO", timeframe="15m")


@cache
def daily() -> ProposalOutcome:
    bars, _ = sp500()
    return optimizer_proposal(bars, "sp500", DAILY_LIVE, symbol="SP500", timeframe="1d", cadence="weekly")


def with_params_after(document: dict[str, Any], after: dict[str, float]) -> dict[str, Any]:
    """A copy of ``document`` proposing ``after`` instead (its hash recomputed, as the optimizer would).

    Each moved parameter gets a full ``changes`` entry; proposing the live values again keeps one entry
    that moves nothing, so the document stays a valid contract-2 proposal with ``status`` "proposed".
    """
    changed = json.loads(json.dumps(document))
    before = changed["params_before"]
    changed["params_after"] = dict(after)
    payload = {key: changed[key] for key in ("strategy", "symbol", "timeframe", "params_after")}
    changed["proposal_hash"] = hashlib.sha256(canonical_json(payload).encode()).hexdigest()
    moved = [name for name, value in after.items() if before[name] != value] or [next(iter(after))]
    changed["changes"] = [_change(name, before[name], after[name]) for name in moved]
    changed["status"], changed["reason"] = "proposed", None
    return changed


def _change(name: str, current: float, proposed: float) -> dict[str, Any]:
    delta = (proposed - current) / abs(current) * 100.0 if current else 0.0
    return {
        "parameter": name, "current": current, "proposed": proposed, "delta_pct": delta, "cap_pct": 20.0,
        "bound": "[0, 1000]", "binding": "none", "expected_gain": None, "rationale": "set by the test",
    }  # fmt: skip


def with_source(document: dict[str, Any], source: str) -> dict[str, Any]:
    changed = json.loads(json.dumps(document))
    changed["data"]["source"] = source
    return changed


def write_proposal(folder: Path, document: dict[str, Any], record: SearchRecord | None) -> Path:
    """proposal.json and its search record in ``folder``, as ``tradeloop propose`` writes them."""
    folder.mkdir(parents=True, exist_ok=True)
    if record is not None:
        record.write(folder / document["search_record"]["path"])
    path = folder / "proposal.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path
