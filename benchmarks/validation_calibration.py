"""Calibration of the whole validation decision: false-pass rates under nulls, power under planted effects.

Run from the repository root::

    .venv/bin/python benchmarks/validation_calibration.py                      # 60 nulls, 20 planted
    .venv/bin/python benchmarks/validation_calibration.py --null 100 --planted 30 --workers 2 \\
        --json benchmarks/results/validation_calibration.json

Every repetition is a fresh seeded mean-reverting market (15-minute bars), the real optimizer (holdout,
Stage A 2,000 rows, Stage B 12 trials, the shipped guardrails) and the real validation with the shipped
thresholds of ``config/constants.py`` (bootstrap 200 resamples, 500 sampled configurations for N and PBO);
see ``validation/_calibration.py`` for the scenarios and the definition of a false pass (a pass whose true
improvement, measured on 200,000 independent bars, is at most ``MIN_SHARPE_IMPROVEMENT``).

Printed per scenario: repetitions, proposals validated, passes, the (false-)pass rate with its Monte Carlo
standard error and, for nulls, the one-sided 95 % Clopper–Pearson upper bound; the target is an upper bound
of at most 5 % for every null. Exit status 1 when a null misses it.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gitops import load_constants  # noqa: E402
from validation import SCENARIOS, Repetition, Scenario, Thresholds, run_repetition, summarise  # noqa: E402

TARGET = 0.05


def thresholds() -> Thresholds:
    constants = load_constants(ROOT / "config" / "constants.py")
    return Thresholds.from_constants(constants.guardrails, capital_usd=constants.trading_capital_usd)


def _one(job: tuple[Scenario, int, int, int]) -> tuple[str, Repetition]:
    scenario, index, seed, bars = job
    return scenario.name, run_repetition(scenario, index, thresholds(), seed=seed, bars=bars)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--null", type=int, default=60, help="repetitions per null scenario")
    parser.add_argument("--planted", type=int, default=20, help="repetitions per planted scenario")
    parser.add_argument("--workers", type=int, default=2, help="processes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--first", type=int, default=0, help="first repetition index (to resume an interrupted run)"
    )
    parser.add_argument("--bars", type=int, default=24_000, help="bars per market")
    parser.add_argument("--only", action="append", help="run only the scenarios with these names")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument(
        "--summarise", type=Path, nargs="+", metavar="LOG",
        help="run nothing: rebuild the table from the progress lines (stderr) of earlier runs",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if args.summarise:
        return _finish(_from_logs(args.summarise), math.nan, args)
    chosen = [s for s in SCENARIOS if not args.only or s.name in args.only]
    jobs = [
        (scenario, index, args.seed, args.bars)
        for scenario in chosen
        for index in range(args.first, args.first + (args.null if scenario.kind == "null" else args.planted))
    ]
    started = time.perf_counter()
    outcomes: dict[str, list[Repetition]] = {scenario.name: [] for scenario in chosen}
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        for done, (name, outcome) in enumerate(pool.map(_one, jobs, chunksize=1), start=1):
            outcomes[name].append(outcome)
            print(f"  {done}/{len(jobs)} {name}: {'PASS' if outcome.passed else 'fail'} "
                  f"(true ΔSharpe {outcome.true_improvement:.3g})", file=sys.stderr, flush=True)  # fmt: skip
    print(f"\n{len(jobs)} repetitions in {(time.perf_counter() - started) / 60:.1f} min on {args.workers} "
          "process(es)")  # fmt: skip
    return _finish(outcomes, time.perf_counter() - started, args)


_PROGRESS = re.compile(r"^\s*\d+/\d+ (?P<name>.+): (?P<result>PASS|fail) \(true ΔSharpe (?P<truth>\S+)\)$")


def _from_logs(paths: list[Path]) -> dict[str, list[Repetition]]:
    """The repetitions that progress lines report (a NaN truth: no proposal was made)."""
    outcomes: dict[str, list[Repetition]] = {}
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            if (found := _PROGRESS.match(line)) is not None:
                truth = float(found["truth"])
                outcome = Repetition(not math.isnan(truth), found["result"] == "PASS", truth)
                outcomes.setdefault(found["name"], []).append(outcome)
    return outcomes


def _finish(outcomes: dict[str, list[Repetition]], elapsed: float, args: argparse.Namespace) -> int:
    margin = thresholds().min_sharpe_improvement
    results = [summarise(s, outcomes[s.name], margin) for s in SCENARIOS if outcomes.get(s.name)]
    print(_table(results))
    if args.json:
        document: dict[str, Any] = {"seconds": None if math.isnan(elapsed) else elapsed, "bars": args.bars,
                                    "seed": args.seed,
                                    "results": [r.as_dict() for r in results]}  # fmt: skip
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    missed = [r.scenario.name for r in results if r.scenario.kind == "null" and r.upper_bound > TARGET]
    if missed:
        print(f"null scenarios above the {TARGET:.0%} target: {', '.join(missed)}")
    return 1 if missed else 0


def _table(results: list[Any]) -> str:
    header = (
        "| scenario | kind | reps | proposals | passes | rate ± MC s.e. | 95 % upper bound | true ΔSharpe |"
    )
    lines = [header, "|---|---|---:|---:|---:|---:|---:|---:|"]
    for result in results:
        null = result.scenario.kind == "null"
        rate = result.false_pass_rate if null else result.pass_rate
        label = "false pass" if null else "pass"
        bound = f"{result.upper_bound:.1%}" if null else "—"
        scenario, error, truth = result.scenario, result.standard_error, result.mean_true_improvement
        counts = f"{result.repetitions} | {result.proposals} | {result.passes}"
        lines.append(
            f"| {scenario.name} | {scenario.kind} | {counts} | {label} {rate:.1%} ± {error:.1%} | {bound} | "
            f"{truth:.2f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
