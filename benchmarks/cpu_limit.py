"""The CPU sweep at its limit: the library sweep against the hand-tuned 4-lane ceiling, and the whole-process
``tradeloop sweep`` against the library call, in one interleaved run.

Run from the repository root (about 10 minutes on 2 busy vCPUs; run it under ``nice`` on a shared machine)::

    nice -n 10 .venv/bin/python benchmarks/cpu_limit.py                       # 20,000 and 50,000 combinations
    nice -n 10 .venv/bin/python benchmarks/cpu_limit.py --ceiling-combos 2000 --cli-combos 5000 --repeats 1

1. **Library vs ceiling**: ``--ceiling-combos`` ema_cross combinations that share nothing (every one its own
   EMA pair, stop-loss 0.5-5 %, take-profit 0.5-10 %, fill at the close, 10 bps) on 730 days of 5-minute
   synthetic bars (210,240 bars): ``benchmarks/_ceiling4_nb.py`` (4 combinations per task in lockstep;
   return, trade count and Sharpe) against ``sweep`` (all 16 KPIs). Checks that return, trades and Sharpe
   are bit-identical.
2. **CLI vs library**: ``tradeloop sweep --random --cli-combos`` with a fixed stop-loss and take-profit, as a
   whole process (import, data load from Parquet, sweep with its progress chunks, result frame, CSV,
   provenance), against ``sweep`` called in this process on the same combinations and bars.

Runs are interleaved (ceiling, library; CLI, library) so a noisy neighbour slows both alike. Printed per
figure: the median wall seconds and process CPU seconds (the CPU seconds of this process; for the CLI, of
the child) and their ratios, with the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(ROOT), str(HERE)]

FEE_BPS = 10.0
INIT_CASH = 10_000.0


def distinct_combos(n: int, seed: int) -> pd.DataFrame:
    """``n`` combinations, each its own (ema_fast, ema_slow) pair, stop-loss 0.5-5 %, take-profit 0.5-10 %."""
    rng = np.random.default_rng(seed)
    pairs = np.array([(f, s) for f in range(2, 200) for s in range(f + 1, 501)], dtype=float)
    chosen = pairs[rng.choice(len(pairs), size=n, replace=False)]
    return pd.DataFrame(
        {
            "ema_fast": chosen[:, 0],
            "ema_slow": chosen[:, 1],
            "stop_loss_pct": rng.uniform(0.5, 5.0, n),
            "exit_tp0_pct": rng.uniform(0.5, 10.0, n),
        }
    )


def timed(fn: Any) -> tuple[float, float, Any]:
    """Wall and process CPU seconds of ``fn()``, and its result."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def section_ceiling(bars: pd.DataFrame, n: int, repeats: int) -> dict[str, Any]:
    from _ceiling4_nb import ceiling4_sweep_nb

    from backtest_matrix.engine import EngineConfig, bar_arrays, periods_per_year, sweep

    config = EngineConfig(fill="close", fee_bps=FEE_BPS, init_cash=INIT_CASH)
    combos = distinct_combos(n, seed=4)
    ts, open_, high, low, close, _ = bar_arrays(bars)
    params = np.ascontiguousarray(combos.to_numpy())
    ppy = periods_per_year(ts)

    def ceiling() -> np.ndarray:
        return ceiling4_sweep_nb(open_, high, low, close, params, FEE_BPS / 1e4, INIT_CASH, ppy)

    def library() -> pd.DataFrame:
        return sweep(bars, "ema_cross", combos, config=config, device="cpu")

    ceiling4_sweep_nb(open_, high, low, close, params[:8], FEE_BPS / 1e4, INIT_CASH, ppy)  # compile
    sweep(bars, "ema_cross", combos.iloc[:8], config=config, device="cpu")
    runs: dict[str, list[tuple[float, float]]] = {"ceiling": [], "library": []}
    for _ in range(repeats):
        wall, cpu, ceil = timed(ceiling)
        runs["ceiling"].append((wall, cpu))
        wall, cpu, ours = timed(library)
        runs["library"].append((wall, cpu))
        print(f"  ceiling {runs['ceiling'][-1][0]:.2f} s | library {wall:.2f} s", flush=True)
    mine = ours[["return_pct", "trades", "sharpe"]].to_numpy()
    identical = int(((mine == ceil) | (np.isnan(mine) & np.isnan(ceil))).all(axis=1).sum())
    return {"combinations": n, **_medians(runs, "library", "ceiling"), "bit_identical_rows": identical}


def section_cli(bars_path: Path, bars: pd.DataFrame, n: int, repeats: int) -> dict[str, Any]:
    from backtest_matrix.engine import EngineConfig, sweep
    from backtest_matrix.strategies import get_strategy
    from tradeloop.cli._backtest import _combinations

    fixed = {"stop_loss_pct": 2.0, "exit_tp0_pct": 4.0}
    combos = _combinations(get_strategy("ema_cross"), {}, n, 0, fixed)
    config = EngineConfig(fill="close", fee_bps=FEE_BPS)
    home = Path(tempfile.mkdtemp(prefix="cpu-limit-"))
    command = [
        str(Path(sys.executable).parent / "tradeloop"), "--json", "--home", str(home), "sweep",
        "-s", "ema_cross", "-d", str(bars_path), "--random", str(n), "--seed", "0",
        "-p", "stop_loss_pct=2", "-p", "exit_tp0_pct=4", "--fill", "close", "--fee-bps", str(FEE_BPS),
        "--device", "cpu",
    ]  # fmt: skip
    env = {**os.environ, "TRADELOOP_REPO": str(ROOT)}

    def cli() -> dict[str, Any]:
        done = subprocess.run(command, capture_output=True, text=True, check=True, env=env)
        return dict(json.loads(done.stdout))

    sweep(bars, "ema_cross", combos.iloc[:8], config=config, device="cpu")  # compile
    runs: dict[str, list[tuple[float, float]]] = {"cli": [], "library": []}
    summary: dict[str, Any] = {}
    for _ in range(repeats):
        before = children_cpu()
        wall, _, summary = timed(cli)
        runs["cli"].append((wall, children_cpu() - before))
        wall, cpu, _ = timed(lambda: sweep(bars, "ema_cross", combos, config=config, device="cpu"))
        runs["library"].append((wall, cpu))
        print(f"  cli {runs['cli'][-1][0]:.2f} s | library {wall:.2f} s", flush=True)
    assert summary["combinations"] == len(combos), (summary["combinations"], len(combos))
    return {"combinations": len(combos), **_medians(runs, "cli", "library")}


def _medians(runs: dict[str, list[tuple[float, float]]], slow: str, fast: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, values in runs.items():
        out[f"{name}_wall_s"] = round(statistics.median(v[0] for v in values), 3)
        out[f"{name}_cpu_s"] = round(statistics.median(v[1] for v in values), 3)
        out[f"{name}_wall_runs"] = [round(v[0], 3) for v in values]
    out[f"{slow}_over_{fast}_wall"] = round(out[f"{slow}_wall_s"] / out[f"{fast}_wall_s"], 3)
    out[f"{slow}_over_{fast}_cpu"] = round(out[f"{slow}_cpu_s"] / out[f"{fast}_cpu_s"], 3)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--ceiling-combos", type=int, default=20_000)
    parser.add_argument("--cli-combos", type=int, default=50_000)
    parser.add_argument("--days", type=float, default=730)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip", default="", help="comma-separated: ceiling,cli")
    args = parser.parse_args()
    from backtest_matrix.data import generate_synthetic

    bars = generate_synthetic(timeframe="5m", days=args.days, seed=7).bars
    folder = Path(tempfile.mkdtemp(prefix="cpu-limit-bars-"))
    bars_path = folder / "bars.parquet"
    bars.to_parquet(bars_path)
    bars = pd.read_parquet(bars_path)  # what the CLI loads
    import numba

    report: dict[str, Any] = {
        "bars": len(bars), "threads": numba.get_num_threads(), "load_before": list(os.getloadavg()),
    }  # fmt: skip
    if "ceiling" not in args.skip:
        print(f"[1] library sweep vs 4-lane ceiling, {args.ceiling_combos:,} distinct combos", flush=True)
        report["ceiling"] = section_ceiling(bars, args.ceiling_combos, args.repeats)
    if "cli" not in args.skip:
        print(f"[2] tradeloop sweep --random {args.cli_combos:,} vs the library call", flush=True)
        report["cli"] = section_cli(bars_path, bars, args.cli_combos, args.repeats)
    report["load_after"] = list(os.getloadavg())
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
