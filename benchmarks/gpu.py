"""GPU benchmark: Stage A's 250,000 ema_cross combinations × 210,240 5-minute bars on the CUDA device, next to
the CPU engine on the same machine, and how far the device's KPIs are from the CPU's.

Run from the repository root on a machine with an NVIDIA GPU (``pip install -e '.[cuda13]'``, or ``.[cuda]``
with a CUDA toolkit installed)::

    .venv/bin/python benchmarks/gpu.py                        # 250,000 x 210,240 bars, < 5 minutes
    .venv/bin/python benchmarks/gpu.py --quick                # 20,000 combinations
    .venv/bin/python benchmarks/gpu.py --cpu-combinations 50000   # time the CPU on a subset, scaled

It imports only the engine and the synthetic data generator (a GPU machine may have nothing else
installed, and no network). The combinations are Stage A's: uniform draws in ema_cross's full hard bounds
(strategy and risk parameters), the EMA spans snapped onto a lattice so that about 64 rows share each
EMA pair (as ``optimizer.prescreen`` does), ``ema_fast < ema_slow``. Each timed figure is warm (a small
run first compiles the kernels) and includes everything ``sweep`` does: the host's signal pass, the
transfers to and from the device, the kernels, the result frame; then the rows with at least 30 trades are
ranked by Sharpe, as Stage A does. Printed: seconds (median of ``--repeats``), bar-evaluations per second
(rows × bars / seconds) per device, and the device's agreement with the CPU: the count of combinations
whose KPIs are not bit-identical, of those whose trade count differs, and the largest KPI difference.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import time

import numpy as np
import pandas as pd

from backtest_matrix.data import generate_synthetic
from backtest_matrix.engine import KPI_NAMES, cuda_problem, sweep

RISK = {
    "stop_loss_pct": (0.0, 50.0),
    "exit_tp0_pct": (0.0, 200.0),
    "exit_tp0_fraction": (0.01, 1.0),
    "exit_tp1_pct": (0.0, 200.0),
    "exit_tp1_fraction": (0.01, 1.0),
    "exit_tp2_pct": (0.0, 200.0),
    "exit_tp2_fraction": (0.01, 1.0),
    "exit_trailing_stop_pct": (0.0, 50.0),
    "trade_fraction": (0.01, 1.0),
}
ROWS_PER_EMA_PAIR = 64


def stage_a_combinations(n: int, seed: int) -> pd.DataFrame:
    """``n`` Stage A draws (fewer after the ``ema_fast < ema_slow`` filter)."""
    rng = np.random.default_rng(seed)
    levels = max(16, math.ceil(math.sqrt(n / ROWS_PER_EMA_PAIR)))
    lattice = (np.floor(rng.random((n, 2)) * levels) + 0.5) / levels
    frame = pd.DataFrame(
        {
            "ema_fast": np.round(2.0 + lattice[:, 0] * 198.0),
            "ema_slow": np.round(3.0 + lattice[:, 1] * 497.0),
        }
    )
    for name, (low, high) in RISK.items():
        frame[name] = np.round(rng.uniform(low, high, n), 3)
    return frame[frame["ema_fast"] < frame["ema_slow"]].reset_index(drop=True)


def timed_sweep(
    bars: pd.DataFrame, combos: pd.DataFrame, device: str, repeats: int
) -> tuple[pd.DataFrame, list[float]]:
    """The sweep and Stage A's ranking, ``repeats`` times; the last result and every run's seconds."""
    times = []
    result = pd.DataFrame()
    for _ in range(repeats):
        start = time.perf_counter()
        result = sweep(bars, "ema_cross", combos, device=device)
        passed = result[result["trades"] >= 30]
        passed.nlargest(20, "sharpe")
        times.append(time.perf_counter() - start)
        print(f"  {device}: {times[-1]:.2f} s", flush=True)
    return result, times


def agreement(cpu: pd.DataFrame, gpu: pd.DataFrame) -> dict[str, object]:
    """How the device's KPIs differ from the CPU's on the same rows."""
    a = cpu[list(KPI_NAMES)].to_numpy()
    b = gpu[list(KPI_NAMES)].to_numpy()
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    finite = np.isfinite(a) & np.isfinite(b)
    diff = np.abs(np.where(finite, a, 0.0) - np.where(finite, b, 0.0))
    trades = KPI_NAMES.index("trades")
    largest = {name: float(diff[:, i].max()) for i, name in enumerate(KPI_NAMES) if diff[:, i].max() > 0}
    return {
        "rows": len(a),
        "rows_not_bit_identical": int((~same.all(axis=1)).sum()),
        "rows_with_other_trade_count": int((a[:, trades] != b[:, trades]).sum()),
        "rows_nan_mismatch": int((np.isnan(a) != np.isnan(b)).any(axis=1).sum()),
        "largest_abs_difference": largest,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--combinations", type=int, default=250_000)
    parser.add_argument("--days", type=float, default=730)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cpu-combinations", type=int, default=None, help="CPU on the first N rows")
    parser.add_argument("--quick", action="store_true", help="20,000 combinations, 1 repeat")
    args = parser.parse_args()
    if args.quick:
        args.combinations, args.repeats = 20_000, 1
    problem = cuda_problem()
    if problem is not None:
        raise SystemExit(f"benchmarks/gpu.py: no CUDA device: {problem}")
    from numba import cuda

    device = cuda.get_current_device()
    bars = generate_synthetic(timeframe="5m", days=args.days, seed=0).bars
    combos = stage_a_combinations(args.combinations, seed=0)
    name = getattr(device, "name", b"CUDA simulator")
    name = name.decode() if isinstance(name, bytes) else str(name)
    print(f"{len(combos):,} combinations x {len(bars):,} bars on {name}", flush=True)
    start = time.perf_counter()
    for on in ("cuda", "cpu"):  # compile both engines on a small slice
        sweep(bars.iloc[:5_000], "ema_cross", combos.iloc[:256], device=on)
    print(f"warm-up (compilation): {time.perf_counter() - start:.1f} s", flush=True)
    gpu, gpu_times = timed_sweep(bars, combos, "cuda", args.repeats)
    cpu_rows = combos if args.cpu_combinations is None else combos.iloc[: args.cpu_combinations]
    cpu, cpu_times = timed_sweep(bars, cpu_rows, "cpu", 1)
    gpu_s, cpu_s = statistics.median(gpu_times), statistics.median(cpu_times)
    cpu_rate = len(cpu_rows) * len(bars) / cpu_s
    report = {
        "device": name,
        "compute_capability": list(getattr(device, "compute_capability", ())),
        "cpu": platform.processor() or platform.machine(),
        "cpu_threads": os.cpu_count(),
        "bars": len(bars),
        "combinations": len(combos),
        "stage_a_seconds_gpu": round(gpu_s, 3),
        "stage_a_seconds_gpu_runs": [round(t, 3) for t in gpu_times],
        "stage_a_seconds_cpu": round(len(combos) * len(bars) / cpu_rate, 2),
        "cpu_rows_timed": len(cpu_rows),
        "bar_evaluations_per_s_gpu": round(len(combos) * len(bars) / gpu_s),
        "bar_evaluations_per_s_cpu": round(cpu_rate),
        "speedup": round(cpu_rate and (len(combos) * len(bars) / gpu_s) / cpu_rate, 2),
        "agreement": agreement(cpu, gpu.iloc[: len(cpu_rows)]),
        "load_average": list(os.getloadavg()),
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
