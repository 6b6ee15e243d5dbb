"""PBO benchmark: CSCV with S = 16 (12,870 splits) on a T x N return matrix, from block aggregates.

Run from the repository root::

    .venv/bin/python benchmarks/pbo.py                      # N = 1,000 trials, T = 2,000, S = 16
    .venv/bin/python benchmarks/pbo.py --trials 5000 --obs 5000

Each figure is the median of ``--repeats`` timed calls after a warm-up call.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--obs", type=int, default=2000)
    parser.add_argument("--blocks", type=int, default=16)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    from validation import probability_of_backtest_overfitting

    matrix = np.random.default_rng(7).normal(0.0, 0.01, size=(args.obs, args.trials))
    splits = math.comb(args.blocks, args.blocks // 2)
    print(f"PBO: N = {args.trials} trials, T = {args.obs} observations, S = {args.blocks} ({splits} splits)")
    probability_of_backtest_overfitting(matrix, S=args.blocks)  # warm-up
    times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        result = probability_of_backtest_overfitting(matrix, S=args.blocks)
        times.append(time.perf_counter() - start)
    print(f"  median {statistics.median(times):.3f} s  runs {[round(t, 3) for t in times]}")
    print(f"  pbo {result.pbo:.3f} (pure noise), degradation slope {result.degradation_slope:.3f}")


if __name__ == "__main__":
    main()
