"""How long validating one proposal takes, re-optimising walk-forward folds included.

Run from the repository root::

    .venv/bin/python benchmarks/validate.py                 # 3 timed validations per case, medians
    .venv/bin/python benchmarks/validate.py --repeats 5 --json benchmarks/results/validate.json

Cases, each proposed once by the real optimizer (holdout, Stage A 20,000 rows, Stage B 40 trials: the
cycle's budget) and then validated ``--repeats`` times after one untimed warm-up (numba compiled):

- **embedded daily**: arch's S&P 500 bars (1999-2018), ``ema_cross`` at EMA 4/10 (the shipped 12/26 trades
  too little for the 2014-2018 holdout), weekly cadence (the whole history);
- **demo 15m**: the demo pair as ``tradeloop cycle`` runs it: a year (35,040 bars) of the seeded
  ``reverting`` market, ``rsi_reversion`` churning at RSI 6, bands 35/55, daily cadence.

Every validation uses the shipped constants (``BOOTSTRAP_REPLICATIONS`` resamples, 5 walk-forward folds
each rerunning the whole bounded search, DSR/PBO over a 2,000-configuration sample). Target (issue 12): at
most 60 s per proposal on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from backtest_matrix import load_bars  # noqa: E402
from backtest_matrix.engine import EngineConfig  # noqa: E402
from gitops import guardrails_from, load_constants  # noqa: E402
from optimizer import ProposalRequest, make_proposal  # noqa: E402
from tradeloop import data_hash  # noqa: E402
from validation import Thresholds, validate_proposal  # noqa: E402

TARGET_S = 60.0
CASES: dict[str, dict[str, Any]] = {
    "embedded daily": {
        "strategy": "ema_cross", "symbol": "SP500", "timeframe": "1d", "cadence": "weekly",
        "live": {
            "ema_fast": 4, "ema_slow": 10, "exit_tp0_pct": 4.0, "stop_loss_pct": 2.0, "trade_fraction": 0.1,
        },
    },
    "demo 15m": {
        "strategy": "rsi_reversion", "symbol": "DEMO", "timeframe": "15m", "cadence": "daily",
        "live": {"rsi_period": 6, "oversold": 35.0, "overbought": 55.0, "trade_fraction": 0.1},
    },
}  # fmt: skip


def _bars(name: str) -> Any:
    if name == "embedded daily":
        return load_bars("sp500", timeframe="1d").bars
    return load_bars("reverting", timeframe="15m").bars


def measure(name: str, repeats: int) -> dict[str, Any]:
    case, constants = CASES[name], load_constants(ROOT / "config" / "constants.py")
    bars = _bars(name)
    request = ProposalRequest(
        strategy=case["strategy"], symbol=case["symbol"], timeframe=case["timeframe"],
        cadence=case["cadence"], bars=bars,
        data={"source": name, "timeframe": case["timeframe"], "data_hash": data_hash(bars)},
        current=case["live"], run_id="benchmark", git_sha="benchmark", now=datetime.now(UTC), trials=40,
        storage="memory",
    )  # fmt: skip
    engine = EngineConfig(fee_bps=constants.fee_bps, slippage_bps=constants.slippage_bps)
    started = time.perf_counter()
    outcome = make_proposal(request, guardrails=guardrails_from(constants), engine_config=engine)
    propose_s = time.perf_counter() - started
    thresholds = Thresholds.from_constants(constants.guardrails, capital_usd=constants.trading_capital_usd)
    proposal = outcome.proposal
    if not proposal.proposed or proposal.search_record is None:
        raise SystemExit(f"{name}: the optimizer proposed no change ({proposal.reason}); nothing to time")
    seconds, decision = [], ""
    for run in range(repeats + 1):
        started = time.perf_counter()
        verdict = validate_proposal(proposal, bars, thresholds, search_record=outcome.record, seed=run)
        if run:  # the first is the warm-up
            seconds.append(time.perf_counter() - started)
        decision = verdict.summary
    return {
        "case": name, "propose_s": propose_s, "validate_s": seconds, "median_s": statistics.median(seconds),
        "configurations": proposal.search_record.configurations, "decision": decision,
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    results = [measure(name, args.repeats) for name in CASES]
    print("| case | propose [s] | validate, median [s] | runs [s] | configurations | decision |")
    print("|---|---:|---:|---|---:|---|")
    for r in results:
        runs = ", ".join(f"{s:.1f}" for s in r["validate_s"])
        print(f"| {r['case']} | {r['propose_s']:.1f} | {r['median_s']:.1f} | {runs} | "
              f"{r['configurations']:,} | {r['decision']} |")  # fmt: skip
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    slow = [r["case"] for r in results if r["median_s"] > TARGET_S]
    if slow:
        print(f"over the {TARGET_S:.0f} s target: {', '.join(slow)}")
    return 1 if slow else 0


if __name__ == "__main__":
    raise SystemExit(main())
