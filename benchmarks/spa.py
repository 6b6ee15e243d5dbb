"""SPA benchmark: tradeloop's studentized SPA against arch's ``SPA`` on the same input, in one process.

Run from the repository root::

    .venv/bin/python benchmarks/spa.py                      # 1,000 models x 2,000 obs x 1,000 reps
    .venv/bin/python benchmarks/spa.py --models 200 --repeats 3

Both get the same benchmark and model losses, the same block size and the same seed (so the same
stationary-bootstrap indices). Runs alternate (ours, arch, ours, arch, ...) so a noisy neighbour slows
both alike; every figure is the median of ``--repeats`` timed runs after one warm-up run of each. Each
run constructs the test object and calls ``compute()`` (variance estimation, bootstrap, p-values).
"""

from __future__ import annotations

import argparse
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
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--obs", type=int, default=2000)
    parser.add_argument("--reps", type=int, default=1000)
    parser.add_argument("--block-size", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()

    import arch.bootstrap as arch_bootstrap

    from validation import SPA

    rng = np.random.default_rng(2026)
    benchmark = rng.standard_normal(args.obs)
    vols = np.linspace(0.2, 3.0, args.models)
    models = benchmark[:, None] - (0.01 + rng.standard_normal((args.obs, args.models)) * vols)

    def ours() -> object:
        spa = SPA(benchmark, models, reps=args.reps, block_size=args.block_size, seed=args.seed)
        spa.compute()
        return spa.pvalues

    def arch() -> object:
        spa = arch_bootstrap.SPA(
            benchmark, models, reps=args.reps, block_size=args.block_size, seed=args.seed
        )
        spa.compute()
        return spa.pvalues

    print(f"SPA: {args.models} models x {args.obs} observations x {args.reps} reps, block {args.block_size}")
    ours(), arch()  # warm-up (imports, arch's numba sampler)
    times: dict[str, list[float]] = {"ours": [], "arch": []}
    for _ in range(args.repeats):
        for name, run in (("ours", ours), ("arch", arch)):
            start = time.perf_counter()
            result = run()
            times[name].append(time.perf_counter() - start)
    ours_s, arch_s = statistics.median(times["ours"]), statistics.median(times["arch"])
    print(f"  ours (studentized):    median {ours_s:.3f} s  runs {[round(t, 3) for t in times['ours']]}")
    print(f"  arch 8 SPA:            median {arch_s:.3f} s  runs {[round(t, 3) for t in times['arch']]}")
    print(f"  ratio arch / ours:     {arch_s / ours_s:.1f}x")
    print(f"  p-values ours {ours()}; arch {dict(result)}")  # type: ignore[call-overload]


if __name__ == "__main__":
    main()
