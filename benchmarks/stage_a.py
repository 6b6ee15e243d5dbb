"""Stage A benchmark: prescreen 250,000 ema_cross combinations on 730 days of 5-minute synthetic bars.

Run from the repository root (the target is <= 60 s on 2 cores)::

    NUMBA_NUM_THREADS=2 .venv/bin/python benchmarks/stage_a.py            # 250,000 x 210,240 bars
    NUMBA_NUM_THREADS=2 .venv/bin/python benchmarks/stage_a.py --quick    # 10,000 combinations
    NUMBA_NUM_THREADS=2 .venv/bin/python benchmarks/stage_a.py --signal-levels 0   # no signal lattice

The combinations are Sobol points in ema_cross's full hard bounds (the ``weekly`` cadence: strategy and
risk parameters), filtered by the strategy's constraints, evaluated by ``sweep`` in chunks and ranked
by Sharpe with MIN_TRADES = 30. By default the EMA spans are snapped onto prescreen's automatic lattice
(about 64 rows share each EMA pair); ``--signal-levels 0`` draws them freely, as before the lattice.
A warm-up run on a small slice compiles the kernels first, so compilation is not timed. The figure
printed is the median of ``--repeats`` timed runs of the whole ``prescreen`` (generation + feasibility +
sweep + filter + ranking); the process CPU seconds of each run are printed too, as on a shared machine
they show how much of the wall time was waiting for a core.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

from backtest_matrix import load_bars
from backtest_matrix.strategies import get_strategy
from optimizer import Constraints, prescreen, search_space
from optimizer.objectives import get_objective


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--combinations", type=int, default=250_000)
    parser.add_argument("--days", type=float, default=730)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="10,000 combinations, 1 repeat")
    parser.add_argument("--signal-levels", type=int, default=None, help="lattice levels; 0: off")
    args = parser.parse_args()
    if args.quick:
        args.combinations, args.repeats = 10_000, 1
    bars = load_bars("synthetic", timeframe="5m", days=args.days, seed=0).bars
    cls = get_strategy("ema_cross")
    space = search_space(cls, {}, "weekly")
    sharpe = get_objective("sharpe")
    prescreen(bars.iloc[:2_000], cls, space, sharpe, n=64, seed=0)  # compile
    times, cpu_times = [], []
    for repeat in range(args.repeats):
        start, cpu_start = time.perf_counter(), time.process_time()
        result = prescreen(
            bars, cls, space, sharpe, n=args.combinations, seed=repeat, top_k=20,
            constraints=Constraints(min_trades=30), signal_levels=args.signal_levels,
        )  # fmt: skip
        times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu_start)
        print(f"run {repeat}: {times[-1]:.1f} s, {cpu_times[-1]:.1f} CPU s "
              f"({result.feasible:,} feasible, {result.passed:,} passed)", flush=True)  # fmt: skip
    median = statistics.median(times)
    evaluations = result.feasible * len(bars)
    report = {
        "bars": len(bars), "combinations": args.combinations, "feasible": result.feasible,
        "signal_levels": "auto" if args.signal_levels is None else args.signal_levels,
        "threads": os.environ.get("NUMBA_NUM_THREADS", "all"),
        "cpu": platform.processor() or platform.machine(),
        "seconds_median": round(median, 2), "seconds": [round(t, 2) for t in times],
        "cpu_seconds": [round(t, 2) for t in cpu_times], "load_average": list(os.getloadavg()),
        "bar_evaluations_per_s": round(evaluations / median),
    }  # fmt: skip
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
