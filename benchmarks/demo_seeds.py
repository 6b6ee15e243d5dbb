"""The demo pair across generator seeds: the planted improvement passes, leverage-only and overfit fail.

Run from the repository root::

    .venv/bin/python benchmarks/demo_seeds.py                 # 20 seeds, 2 processes (~40 min here)
    .venv/bin/python benchmarks/demo_seeds.py --seeds 20 --json benchmarks/results/demo_seeds.json

Each seed is one run of what ``tradeloop cycle`` does for the demo pair (``rsi_reversion/DEMO``: RSI 6,
bands 35/55, 10 % per trade) on a year of the seeded mean-reverting market (35,040 15-minute bars, the
``reverting`` source), at the cycle's budget (Stage A 20,000 rows, Stage B 40 trials, daily cadence) and
with the shipped thresholds (``BOOTSTRAP_REPLICATIONS`` resamples, 2,000 sampled configurations):

- **demo**: the optimizer's own proposal; target: passes on at least 16 of 20 seeds;
- **leverage only**: the live parameters with only ``trade_fraction`` scaled by 1.2; target: fails on at
  least 19 of 20;
- **overfit**: the same live parameters on a market without reversion (a random walk) and without trading
  costs, where every parameter set's true Sharpe is about 0 and whatever the search finds is fitted noise
  (with costs, trading less would be a real improvement there); target: fails on at least 19 of 20.

Exit status 1 when a target is missed.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gitops import load_constants  # noqa: E402
from validation import Budget, Repetition, Scenario, Thresholds, run_repetition  # noqa: E402

DEMO_LIVE = {"rsi_period": 6, "oversold": 35.0, "overbought": 55.0, "trade_fraction": 0.1}
BUDGET = Budget(bars=35_040, prescreen_n=20_000, trials=40, reps=2_000, sample_size=2_000)
#: name -> (scenario, passes wanted: True = at least PASS_TARGET of the seeds pass, False = at most
#: the complement of FAIL_TARGET pass)
SCENARIOS = {
    "demo": Scenario("demo", "planted", DEMO_LIVE, deviation_pct=1.2),
    "leverage only": Scenario("leverage only", "null", DEMO_LIVE, proposed="leverage", deviation_pct=1.2),
    "overfit": Scenario("overfit", "null", DEMO_LIVE, deviation_pct=0.0, costs=False),
}
PASS_TARGET, FAIL_TARGET = 0.8, 0.95


def thresholds() -> Thresholds:
    constants = load_constants(ROOT / "config" / "constants.py")
    return Thresholds.from_constants(constants.guardrails, capital_usd=constants.trading_capital_usd)


def _one(job: tuple[str, int]) -> tuple[str, int, Repetition]:
    name, seed = job
    return name, seed, run_repetition(SCENARIOS[name], seed, thresholds(), budget=BUDGET)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    jobs = [(name, seed) for seed in range(args.seeds) for name in SCENARIOS]
    started = time.perf_counter()
    results: dict[str, list[tuple[int, Repetition]]] = {name: [] for name in SCENARIOS}
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        for name, seed, outcome in pool.map(_one, jobs, chunksize=1):
            results[name].append((seed, outcome))
            print(f"  seed {seed:2d} {name}: {'PASS' if outcome.passed else 'fail'} "
                  f"(true ΔSharpe {outcome.true_improvement:.3g})", file=sys.stderr, flush=True)  # fmt: skip
    missed = _report(results, args.seeds)
    print(
        f"\n{len(jobs)} runs in {(time.perf_counter() - started) / 60:.1f} min on {args.workers} process(es)"
    )
    if args.json:
        document: dict[str, Any] = {
            name: [{"seed": s, "passed": r.passed, "true_improvement": r.true_improvement} for s, r in rows]
            for name, rows in results.items()
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return 1 if missed else 0


def _report(results: dict[str, list[tuple[int, Repetition]]], seeds: int) -> list[str]:
    print("| scenario | seeds | passed | failed | target | met |")
    print("|---|---:|---:|---:|---|:---:|")
    missed = []
    for name, rows in results.items():
        passed = sum(outcome.passed for _, outcome in rows)
        if name == "demo":
            target, met = f"passes on ≥ {PASS_TARGET:.0%}", passed >= PASS_TARGET * seeds
        else:
            target, met = f"fails on ≥ {FAIL_TARGET:.0%}", seeds - passed >= FAIL_TARGET * seeds
        print(f"| {name} | {seeds} | {passed} | {seeds - passed} | {target} | {'yes' if met else 'NO'} |")
        missed += [] if met else [name]
    return missed


if __name__ == "__main__":
    raise SystemExit(main())
