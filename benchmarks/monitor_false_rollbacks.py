"""The false-rollback rate of the monitor's breach rules on a candidate equal to the baseline.

A candidate with the same parameters as the ones it replaced trades the same signals; live it differs from
their shadow paper run only by execution (fills, slippage): per-bar returns ``r_live = r_paper + e``. Over one
week of 15-minute bars at FULL, the monitor judges every interval with the shipped rules
(:func:`deployment.window_checks`, counted exactly as :func:`deployment.judge` does) and the first breach
ends the path. A rollback in the week is a false rollback; the target is at most 5 % per week.

Printed per scenario: paths, false rollbacks (all rules), those from the counted Sharpe-drop / no-data checks,
and those from the hard limits (daily loss, drawdown), with a 95 % Wilson upper bound.

Run: ``nice -n 10 python benchmarks/monitor_false_rollbacks.py --paths 400``.
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from deployment import HARD_CHECKS, Series, window_checks
from gitops import load_constants

ROOT = Path(__file__).resolve().parents[1]
BAR_MINUTES = 15.0
WEEK_BARS = 7 * 24 * 4


@dataclass(frozen=True)
class Scenario:
    name: str
    bar_sigma: float  # per-bar volatility of the strategy's returns (fraction of capital)
    bar_mean: float
    tracking: float  # execution noise of live against paper, as a share of bar_sigma
    t_df: float | None = None  # Student-t returns (fat tails) when set
    shortfall: float = 0.0  # a planted degradation: the live per-bar mean below paper's (0: equal)


SCENARIOS = (
    Scenario("calm, tight execution", 0.00015, 0.00001, 0.1),
    Scenario("calm, loose execution", 0.00015, 0.00001, 0.3),
    Scenario("fat tails (t, 4 df), loose", 0.00015, 0.00001, 0.3, t_df=4.0),
    Scenario("volatile (daily sd 2.9 USD), loose", 0.0003, 0.00002, 0.3),
)
PLANTED = (
    Scenario("planted: live 0.2 sd/bar worse", 0.00015, 0.00001, 0.3, shortfall=0.00003),
    Scenario("planted: live 0.5 sd/bar worse", 0.00015, 0.00001, 0.3, shortfall=0.000075),
)


def wilson_upper(hits: int, n: int, z: float = 1.96) -> float:
    p = hits / n
    centre = p + z * z / (2 * n)
    spread = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (centre + spread) / (1 + z * z / n)


def one_path(
    rng: np.random.Generator, scenario: Scenario, constants: object, capital: float
) -> tuple[str | None, int]:
    """The rule that rolled the path back within the week (``hard`` or ``counted``, or ``None``) and the
    interval it happened at."""
    if scenario.t_df is None:
        shocks = rng.standard_normal(WEEK_BARS)
    else:
        shocks = rng.standard_t(scenario.t_df, WEEK_BARS) / math.sqrt(scenario.t_df / (scenario.t_df - 2))
    paper = scenario.bar_mean + scenario.bar_sigma * shocks
    live = paper - scenario.shortfall + rng.normal(0.0, scenario.tracking * scenario.bar_sigma, WEEK_BARS)
    step = np.int64(15 * 60 * 10**9)
    start = np.int64(1_717_200_000 * 10**9)  # a Saturday-free start: 2024-06-01T00:00Z
    times = start + step * np.arange(1, WEEK_BARS + 1, dtype=np.int64)
    candidate = Series(times, capital * np.cumprod(1.0 + live))
    baseline = Series(times, capital * np.cumprod(1.0 + paper))
    threshold = constants.monitor_failure_threshold  # type: ignore[attr-defined]
    in_row = 0
    for k in range(1, WEEK_BARS + 1):
        checks = window_checks(
            candidate, baseline, constants,  # type: ignore[arg-type]
            end=start + step * k, interval_ns=step, bar_minutes=BAR_MINUTES,
        )  # fmt: skip
        if any(c.outcome == "fail" for c in checks if c.name in HARD_CHECKS):
            return "hard", k
        counted = any(c.outcome in ("fail", "error") for c in checks if c.name not in HARD_CHECKS)
        in_row = in_row + 1 if counted else 0
        if in_row >= threshold:
            return "counted", k
    return None, WEEK_BARS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paths", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    constants = load_constants(ROOT / "config" / "constants.py")
    capital = constants.trading_capital_usd
    print(
        f"one week of 15-minute checks ({WEEK_BARS}) per path, capital {capital:g} USD, threshold "
        f"{constants.monitor_failure_threshold}, Sharpe drop > {constants.monitor_max_sharpe_drop_pct:g} %, "
        f"MONITOR_MIN_RETURNS {constants.monitor_min_returns}, daily loss > {constants.max_daily_loss_usd:g} "
        f"USD, drawdown > {constants.max_drawdown_pct:g} %"
    )
    print("| scenario | paths | rollbacks / week | 95 % upper | counted | hard | median hours | seconds |")
    print("|---|---|---|---|---|---|---|---|")
    for index, scenario in enumerate(SCENARIOS + PLANTED):
        rng = np.random.default_rng([args.seed, index])
        began = time.perf_counter()
        results = [one_path(rng, scenario, constants, capital) for _ in range(args.paths)]
        outcomes = [rule for rule, _ in results]
        hits = sum(o is not None for o in outcomes)
        counted = sum(o == "counted" for o in outcomes)
        hard = sum(o == "hard" for o in outcomes)
        times = [k * BAR_MINUTES / 60 for rule, k in results if rule is not None]
        median = f"{float(np.median(times)):.1f}" if times else "—"
        print(
            f"| {scenario.name} | {args.paths} | {hits / args.paths:.2%} | "
            f"{wilson_upper(hits, args.paths):.2%} | {counted} | {hard} | {median} | "
            f"{time.perf_counter() - began:.0f} |"
        )


if __name__ == "__main__":
    main()
