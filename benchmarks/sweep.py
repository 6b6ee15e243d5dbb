"""Sweep benchmark: the engine against vectorbt and against a hand-written numba ceiling.

Run from the repository root::

    .venv/bin/python benchmarks/sweep.py            # full run (about 15 minutes on 2 vCPUs)
    .venv/bin/python benchmarks/sweep.py --quick    # small sizes, about a minute
    .venv/bin/python benchmarks/sweep.py --json benchmarks/results.json

Everything runs in one process, except the memory and compilation measurements, which need fresh
interpreters: the script starts itself again (``--child memory`` / ``--child compile``) for those.

Throughput is in bar-evaluations per second: bars x combinations / seconds. Every timed figure is the
median of ``--repeats`` runs (``--big-repeats`` for the 100,000-combination run) after a warm-up call, so
numba compilation is never inside a timing except in the compilation section. Compared runs (vectorbt and
the engine, the ceiling and the engine) are interleaved, so a noisy neighbour slows both alike.

Sweep shapes (the engine computes the signals once per distinct (ema_fast, ema_slow) pair, the ceiling
and vectorbt once per combination):

- ``distinct``: every combination has its own EMA pair; the engine's worst case, no sharing at all.
- ``grid``: a realistic grid, a few EMA pairs x many stop-loss / take-profit values.
- ``scaled``: combinations / 100 EMA pairs x 10 stops x 10 targets; the same sharing at every size, for
  the scaling and memory runs.
"""

from __future__ import annotations

import argparse
import atexit
import gc
import json
import math
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

FEE_BPS = 10.0
INIT_CASH = 10_000.0
GRID_PAIRS = ((5, 20), (12, 26), (20, 100), (50, 200), (9, 21), (30, 90), (10, 50), (100, 300))
SPAN_FAST = (2, 200)  # ema_fast within [2, 200)
SPAN_SLOW_MAX = 500  # ema_slow within (ema_fast, 500]


# ----------------------------------------------------------------------------------------------- inputs


def load(days: int) -> pd.DataFrame:
    from backtest_matrix.data import load_bars

    return load_bars("synthetic", timeframe="5m", days=days, seed=7).bars


def engine_config() -> Any:
    from backtest_matrix.engine import EngineConfig

    return EngineConfig(fill="close", fee_bps=FEE_BPS, init_cash=INIT_CASH)


def _frame(fast: np.ndarray, slow: np.ndarray, stop: np.ndarray, target: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {"ema_fast": fast, "ema_slow": slow, "stop_loss_pct": stop, "exit_tp0_pct": target}
    ).astype(float)


def distinct_combos(n: int, seed: int = 1) -> pd.DataFrame:
    """``n`` combinations, each with its own (ema_fast, ema_slow) pair and random stop / target."""
    fast_all = np.arange(*SPAN_FAST)
    counts = SPAN_SLOW_MAX - fast_all  # slow in fast+1 .. 500
    total = int(counts.sum())
    if n > total:
        raise SystemExit(f"distinct shape: at most {total} distinct EMA pairs, asked for {n}")
    rng = np.random.default_rng(seed)
    flat = rng.choice(total, size=n, replace=False)
    ends = np.cumsum(counts)
    which = np.searchsorted(ends, flat, side="right")
    offset = flat - (ends[which] - counts[which])
    fast = fast_all[which]
    slow = fast + 1 + offset
    return _frame(fast, slow, rng.uniform(0.5, 8.0, n), rng.uniform(0.5, 15.0, n))


def grid_combos(n: int, pairs: int = 4) -> pd.DataFrame:
    """``pairs`` EMA pairs x a square stop-loss x take-profit grid, about ``n`` combinations in all."""
    side = max(1, math.ceil(math.sqrt(n / pairs)))
    stops = np.linspace(0.5, 8.0, side)
    targets = np.linspace(0.5, 15.0, side)
    rows = [(f, s, a, b) for f, s in GRID_PAIRS[:pairs] for a in stops for b in targets]
    arr = np.array(rows[:n], dtype=float)
    return _frame(arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3])


def scaled_combos(n: int) -> pd.DataFrame:
    """``n / 100`` distinct EMA pairs x 10 stops x 10 targets (the same sharing at every size)."""
    pairs = distinct_combos(max(1, n // 100), seed=2)
    stops = np.linspace(0.5, 8.0, 10)
    targets = np.linspace(0.5, 15.0, 10)
    fast = np.repeat(pairs["ema_fast"].to_numpy(), 100)[:n]
    slow = np.repeat(pairs["ema_slow"].to_numpy(), 100)[:n]
    stop = np.tile(np.repeat(stops, 10), len(pairs))[:n]
    target = np.tile(np.tile(targets, 10), len(pairs))[:n]
    return _frame(fast, slow, stop, target)


# ----------------------------------------------------------------------------------------------- timing


def timed(fn: Callable[[], Any], repeats: int) -> tuple[float, list[float], Any]:
    """Median wall time of ``repeats`` calls (warm up before calling this) and the last result."""
    times = []
    result = None
    for _ in range(repeats):
        gc.collect()
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times, result


def timed_pair(
    first: Callable[[], Any], second: Callable[[], Any], repeats: int
) -> tuple[tuple[float, list[float], Any], tuple[float, list[float], Any]]:
    """``timed`` for two functions, their runs interleaved so both see the same machine noise."""
    times: tuple[list[float], list[float]] = ([], [])
    results: list[Any] = [None, None]
    for _ in range(repeats):
        for k, fn in enumerate((first, second)):
            results[k] = None
            gc.collect()
            start = time.perf_counter()
            results[k] = fn()
            times[k].append(time.perf_counter() - start)
    return (
        (statistics.median(times[0]), times[0], results[0]),
        (statistics.median(times[1]), times[1], results[1]),
    )


def rate(bars: int, combos: int, seconds: float) -> float:
    return bars * combos / seconds


def fmt_rate(value: float) -> str:
    return f"{value / 1e6:,.1f} M/s"


# ----------------------------------------------------------------------------------------------- runners


def run_engine(bars: pd.DataFrame, combos: pd.DataFrame) -> pd.DataFrame:
    from backtest_matrix.engine import sweep

    return sweep(bars, "ema_cross", combos, config=engine_config())


def run_ceiling(arrays: tuple[np.ndarray, ...], combos: pd.DataFrame) -> np.ndarray:
    sys.path.insert(0, str(HERE))
    from _ceiling_nb import ceiling_sweep_nb

    _, open_, high, low, close, _ = arrays
    params = np.ascontiguousarray(
        combos[["ema_fast", "ema_slow", "stop_loss_pct", "exit_tp0_pct"]].to_numpy()
    )
    return ceiling_sweep_nb(open_, high, low, close, params, FEE_BPS / 1e4, INIT_CASH)


def run_vectorbt(bars: pd.DataFrame, combos: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """The same sweep the idiomatic vectorbt way, end to end: EMAs and crossings, then the portfolio.

    The MA indicator is run once per distinct window, then each combination's column is picked, so the grid
    shape does not pay for repeated EMAs either.
    """
    import vectorbt as vbt

    close = bars["close"]
    pairs = combos[["ema_fast", "ema_slow"]].astype(int)
    unique = pairs.drop_duplicates().reset_index(drop=True)
    fast_ma = vbt.MA.run(close, window=unique["ema_fast"].tolist(), ewm=True, short_name="fast")
    slow_ma = vbt.MA.run(close, window=unique["ema_slow"].tolist(), ewm=True, short_name="slow")
    entries = fast_ma.ma_crossed_above(slow_ma).to_numpy()
    exits = fast_ma.ma_crossed_below(slow_ma).to_numpy()
    column = pd.MultiIndex.from_frame(unique).get_indexer(pd.MultiIndex.from_frame(pairs))
    if not np.array_equal(column, np.arange(len(unique))):
        entries, exits = entries[:, column], exits[:, column]
    as_stop = lambda pct: np.where(pct > 0, pct / 100.0, np.nan)[None, :]  # noqa: E731 - (1, N)
    portfolio = vbt.Portfolio.from_signals(
        close.to_numpy()[:, None],
        entries=entries,
        exits=exits,
        open=bars["open"].to_numpy()[:, None],
        high=bars["high"].to_numpy()[:, None],
        low=bars["low"].to_numpy()[:, None],
        sl_stop=as_stop(combos["stop_loss_pct"].to_numpy()),
        tp_stop=as_stop(combos["exit_tp0_pct"].to_numpy()),
        fees=FEE_BPS / 1e4,
        init_cash=INIT_CASH,
    )
    return np.asarray(portfolio.total_return()) * 100.0, np.asarray(portfolio.trades.count())


# ----------------------------------------------------------------------------------------------- children


def _proc_status(field: str) -> int:
    """A ``/proc/self/status`` figure in bytes (VmRSS, VmHWM)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    return -1


def _reset_peak_rss() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0: ``echo 5 > /proc/self/clear_refs``)."""
    before = _proc_status("VmHWM")
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return _proc_status("VmHWM") <= before


def child_memory(args: argparse.Namespace) -> dict[str, Any]:
    """Fresh process: load, compile, baseline RSS, then one sweep of ``--memory-combos``; its peak RSS."""
    bars = load(args.days)
    combos = scaled_combos(args.memory_combos)
    run_engine(bars, scaled_combos(100))  # compile (or load the cache) and touch every code path
    gc.collect()
    baseline = _proc_status("VmRSS")
    hwm_before = _proc_status("VmHWM")
    reset = _reset_peak_rss()
    start = time.perf_counter()
    result = run_engine(bars, combos)
    seconds = time.perf_counter() - start
    peak = _proc_status("VmHWM")
    return {
        "bars": len(bars),
        "combinations": len(combos),
        "ema_pairs": int(combos[["ema_fast", "ema_slow"]].drop_duplicates().shape[0]),
        "baseline_rss_bytes": baseline,
        "hwm_before_sweep_bytes": hwm_before,
        "peak_rss_bytes": peak,
        "peak_reset": reset,
        "sweep_peak_minus_baseline_bytes": peak - baseline,
        "result_frame_bytes": int(result.memory_usage(deep=True).sum()),
        "seconds": seconds,
    }


def child_compile(args: argparse.Namespace) -> dict[str, Any]:
    """Fresh process: import, first sweep call (compiles or loads the cache), warm call."""
    import numba  # noqa: F401 - imported before the clock starts, like numpy and pandas

    start = time.perf_counter()
    import backtest_matrix.engine
    import backtest_matrix.strategies  # noqa: F401 - ema_cross's signal kernel has a signature: eager

    import_s = time.perf_counter() - start
    bars = load(args.days)
    combos = distinct_combos(args.compile_combos)
    start = time.perf_counter()
    run_engine(bars, combos)
    first_s = time.perf_counter() - start
    warm = []
    for _ in range(3):
        start = time.perf_counter()
        run_engine(bars, combos)
        warm.append(time.perf_counter() - start)
    return {
        "numba_cache_dir": os.environ.get("NUMBA_CACHE_DIR"),
        "import_s": import_s,
        "first_call_s": first_s,
        "warm_call_s": statistics.median(warm),
        "combinations": len(combos),
        "bars": len(bars),
    }


def spawn(args: argparse.Namespace, kind: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    argv = [sys.executable, str(Path(__file__).resolve()), "--child", kind, "--days", str(args.days)]
    argv += ["--memory-combos", str(args.memory_combos), "--compile-combos", str(args.compile_combos)]
    done = subprocess.run(
        argv, env={**os.environ, **(env or {})}, capture_output=True, text=True, check=False, cwd=ROOT
    )
    if done.returncode != 0:
        raise SystemExit(f"child {kind} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    out = json.loads(done.stdout.strip().splitlines()[-1])
    out["ru_maxrss_children_bytes"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    return out


# ----------------------------------------------------------------------------------------------- sections


def section_vectorbt(args: argparse.Namespace, bars: pd.DataFrame, log: Callable[[str], None]) -> dict:
    n_bars = len(bars)
    shapes = {
        "distinct": distinct_combos(args.vbt_combos, seed=3),
        "grid": grid_combos(args.vbt_combos, pairs=min(4, args.vbt_combos)),
    }
    run_vectorbt(bars.iloc[:2000], shapes["distinct"].iloc[:2])  # warm vectorbt's own numba cache
    out = {}
    for name, combos in shapes.items():
        (vbt_s, vbt_times, (vbt_ret, vbt_trades)), (eng_s, eng_times, ours) = timed_pair(
            lambda c=combos: run_vectorbt(bars, c), lambda c=combos: run_engine(bars, c), args.repeats
        )
        ret_diff = float(np.nanmax(np.abs(ours["return_pct"].to_numpy() - vbt_ret)))
        trade_mismatch = int((ours["trades"].to_numpy() != vbt_trades).sum())
        vbt_rate, eng_rate = rate(n_bars, len(combos), vbt_s), rate(n_bars, len(combos), eng_s)
        out[name] = {
            "combinations": len(combos),
            "ema_pairs": int(combos[["ema_fast", "ema_slow"]].drop_duplicates().shape[0]),
            "vectorbt_s": vbt_s,
            "vectorbt_times": vbt_times,
            "vectorbt_rate": vbt_rate,
            "engine_s": eng_s,
            "engine_times": eng_times,
            "engine_rate": eng_rate,
            "ratio": eng_rate / vbt_rate,
            "max_abs_return_diff_pct": ret_diff,
            "trade_count_mismatches": trade_mismatch,
        }
        log(
            f"  {name:8s} {len(combos):5d} combos: vectorbt {vbt_s:7.3f}s {fmt_rate(vbt_rate):>12s} | "
            f"engine {eng_s:6.3f}s {fmt_rate(eng_rate):>12s} | engine/vectorbt {eng_rate / vbt_rate:6.1f}x | "
            f"agreement: max |d return| {ret_diff:.2e} pp, trade-count mismatches {trade_mismatch}"
        )
        del vbt_ret, vbt_trades
        gc.collect()
    return out


def section_ceiling(args: argparse.Namespace, bars: pd.DataFrame, log: Callable[[str], None]) -> dict:
    from backtest_matrix.engine import bar_arrays

    arrays = bar_arrays(bars)
    n_bars = len(bars)
    run_ceiling(arrays, distinct_combos(4))  # compile (or load the cache)
    shapes = {
        "distinct": distinct_combos(args.ceiling_combos, seed=4),
        "grid": grid_combos(args.ceiling_combos, pairs=4),
    }
    out = {}
    for name, combos in shapes.items():
        (ceil_s, ceil_times, ceil), (eng_s, eng_times, ours) = timed_pair(
            lambda c=combos: run_ceiling(arrays, c), lambda c=combos: run_engine(bars, c), args.repeats
        )
        ret_diff = float(np.max(np.abs(ours["return_pct"].to_numpy() - ceil[:, 0])))
        trade_diff = float(np.max(np.abs(ours["trades"].to_numpy() - ceil[:, 1])))
        ceil_rate, eng_rate = rate(n_bars, len(combos), ceil_s), rate(n_bars, len(combos), eng_s)
        out[name] = {
            "combinations": len(combos),
            "ema_pairs": int(combos[["ema_fast", "ema_slow"]].drop_duplicates().shape[0]),
            "ceiling_s": ceil_s,
            "ceiling_times": ceil_times,
            "ceiling_rate": ceil_rate,
            "engine_s": eng_s,
            "engine_times": eng_times,
            "engine_rate": eng_rate,
            "ceiling_over_engine": ceil_rate / eng_rate,
            "max_abs_return_diff_pct": ret_diff,
            "max_abs_trades_diff": trade_diff,
        }
        log(
            f"  {name:8s} {len(combos):6d} combos ({out[name]['ema_pairs']} EMA pairs): "
            f"ceiling {ceil_s:6.3f}s "
            f"{fmt_rate(ceil_rate):>12s} | engine {eng_s:6.3f}s {fmt_rate(eng_rate):>12s} | "
            f"ceiling/engine {ceil_rate / eng_rate:5.2f}x | agreement on all {len(combos)}: "
            f"max |d return| {ret_diff:.2e} pp, max |d trades| {trade_diff:g}"
        )
    return out


def section_scaling(args: argparse.Namespace, bars: pd.DataFrame, log: Callable[[str], None]) -> dict:
    out: dict[str, list] = {"combinations": [], "bars": []}
    run_engine(bars, scaled_combos(100))
    for n in args.scale_combos:
        combos = scaled_combos(n)
        repeats = args.big_repeats if n >= 100_000 else args.repeats
        seconds, times, _ = timed(lambda c=combos: run_engine(bars, c), repeats)
        r = rate(len(bars), n, seconds)
        out["combinations"].append(
            {
                "bars": len(bars),
                "combinations": n,
                "repeats": repeats,
                "s": seconds,
                "times": times,
                "rate": r,
            }
        )
        log(
            f"  {len(bars):7d} bars x {n:7d} combos: {seconds:8.3f}s  {fmt_rate(r):>12s}  "
            f"(median of {repeats})"
        )
    for n_bars in args.scale_bars:
        sub = bars.iloc[:n_bars]
        combos = scaled_combos(args.scale_bars_combos)
        seconds, times, _ = timed(lambda s=sub, c=combos: run_engine(s, c), args.repeats)
        r = rate(len(sub), len(combos), seconds)
        out["bars"].append(
            {
                "bars": len(sub),
                "combinations": len(combos),
                "repeats": args.repeats,
                "s": seconds,
                "times": times,
                "rate": r,
            }
        )
        log(f"  {len(sub):7d} bars x {len(combos):7d} combos: {seconds:8.3f}s  {fmt_rate(r):>12s}")
    return out


def machine() -> dict[str, Any]:
    import numba

    cpu = "unknown"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    info = {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "numba_threads": numba.config.NUMBA_NUM_THREADS,
        "python": platform.python_version(),
        "numba": numba.__version__,
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "loadavg_at_start": os.getloadavg(),
    }
    try:
        git = ["git", "-C", str(ROOT)]
        info["commit"] = subprocess.run(
            [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=False
        ).stdout.strip()
        dirty = subprocess.run(
            [*git, "status", "--porcelain", "--", "backtest_matrix"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.split("\n")
        info["engine_uncommitted"] = [line[3:] for line in dirty if line.strip()]
    except OSError:
        info["commit"] = None
    try:
        import vectorbt

        info["vectorbt"] = vectorbt.__version__
    except ImportError:
        info["vectorbt"] = None
    return info


# ----------------------------------------------------------------------------------------------- main


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes (90 days, fewer combinations)")
    p.add_argument("--json", type=Path, help="also write the figures as JSON here")
    p.add_argument("--days", type=int, help="days of synthetic 5-minute bars (default 730)")
    p.add_argument("--repeats", type=int, default=3, help="timed repeats per figure (median)")
    p.add_argument("--big-repeats", type=int, help="repeats for the 100,000-combination run (default 1)")
    p.add_argument("--vbt-combos", type=int, help="combinations run through vectorbt (default 32)")
    p.add_argument(
        "--ceiling-combos", type=int, help="combinations for the ceiling comparison (default 2000)"
    )
    p.add_argument("--scale-combos", type=lambda s: [int(x) for x in s.split(",")], help="e.g. 1000,10000")
    p.add_argument("--scale-bars", type=lambda s: [int(x) for x in s.split(",")], help="e.g. 50000,210240")
    p.add_argument("--scale-bars-combos", type=int, help="combinations for the bar-scaling runs")
    p.add_argument("--memory-combos", type=int, help="combinations in the memory run (default 100000)")
    p.add_argument("--compile-combos", type=int, help="combinations in the compilation run (default 100)")
    p.add_argument(
        "--skip", default="", help="comma-separated sections to skip: vectorbt,ceiling,scaling,memory,compile"
    )
    p.add_argument(
        "--keep-numba-cache",
        action="store_true",
        help="use numba's usual cache (__pycache__) instead of a fresh one; may load stale kernels",
    )
    p.add_argument("--child", choices=("memory", "compile"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    quick = args.quick
    defaults = {
        "days": 90 if quick else 730,
        "big_repeats": 1,
        "vbt_combos": 8 if quick else 32,
        "ceiling_combos": 200 if quick else 2000,
        "scale_combos": [100, 1000, 10000] if quick else [1000, 10000, 100000],
        "scale_bars": [10000, 25920] if quick else [50000, 210240],
        "scale_bars_combos": 1000 if quick else 10000,
        "memory_combos": 10000 if quick else 100000,
        "compile_combos": 100,
    }
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    args.skip = {s for s in args.skip.split(",") if s}
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if not args.child and not args.keep_numba_cache and "NUMBA_CACHE_DIR" not in os.environ:
        # numba's cache only checks the cached function's own file: a kernel cached before a change to a
        # kernel it calls (sweep_nb -> the row kernel -> the order code) would be loaded stale. A fresh
        # cache measures the code as it is now (the warm-up calls below absorb the compilation). Must
        # happen before numba loads.
        cache_dir = tempfile.mkdtemp(prefix="sweep-bench-numba-")
        os.environ["NUMBA_CACHE_DIR"] = cache_dir
        atexit.register(shutil.rmtree, cache_dir, ignore_errors=True)
    if args.child:
        fn = child_memory if args.child == "memory" else child_compile
        print(json.dumps(fn(args)))
        return 0

    def log(line: str) -> None:
        print(line, flush=True)

    def plain(value: Any) -> Any:
        return sorted(value) if isinstance(value, set) else str(value) if isinstance(value, Path) else value

    report: dict[str, Any] = {"machine": machine(), "args": {k: plain(v) for k, v in vars(args).items()}}
    m = report["machine"]
    log(
        f"machine: {m['nproc']} CPUs ({m['cpu']}), numba threads {m['numba_threads']}, python {m['python']}, "
        f"numba {m['numba']}, vectorbt {m['vectorbt']}, {m['date']}"
    )
    log(
        f"code: commit {m.get('commit')}, uncommitted changes under backtest_matrix/: "
        f"{', '.join(m.get('engine_uncommitted') or []) or 'none'}"
    )
    log(f"numba cache: {os.environ.get('NUMBA_CACHE_DIR') or 'default (__pycache__ next to the sources)'}")
    start = time.perf_counter()
    bars = load(args.days)
    log(
        f"data: synthetic 5m, {args.days} days, {len(bars):,} bars "
        f"(loaded in {time.perf_counter() - start:.1f}s)"
    )
    run_engine(bars.iloc[:1000], distinct_combos(4))  # compile / load the engine's cache once

    if "vectorbt" not in args.skip:
        log(f"\n[1] engine vs vectorbt, same ema_cross SL/TP sweep end to end, median of {args.repeats}")
        report["vectorbt"] = section_vectorbt(args, bars, log)
    if "ceiling" not in args.skip:
        log(
            f"\n[2] engine vs hand-written ceiling kernel (benchmarks/_ceiling_nb.py), "
            f"median of {args.repeats}"
        )
        report["ceiling"] = section_ceiling(args, bars, log)
    if "scaling" not in args.skip:
        log("\n[4] engine scaling (shape 'scaled': combinations/100 EMA pairs x 100 SL/TP)")
        report["scaling"] = section_scaling(args, bars, log)
    if "memory" not in args.skip:
        log(f"\n[3] peak memory: fresh process, {args.memory_combos:,} combinations x {len(bars):,} bars")
        mem = spawn(args, "memory")
        report["memory"] = mem
        log(
            f"  baseline RSS after load+compile {mem['baseline_rss_bytes'] / 2**20:,.0f} MiB, "
            f"peak during sweep "
            f"{mem['peak_rss_bytes'] / 2**20:,.0f} MiB "
            f"(VmHWM {'reset' if mem['peak_reset'] else 'NOT reset'} "
            f"before the sweep) -> sweep adds {mem['sweep_peak_minus_baseline_bytes'] / 2**20:,.1f} MiB "
            f"(result DataFrame {mem['result_frame_bytes'] / 2**20:,.1f} MiB); "
            f"sweep took {mem['seconds']:.1f}s"
        )
    if "compile" not in args.skip:
        log(
            f"\n[5] numba compilation: fresh processes, "
            f"{args.compile_combos} combinations x {len(bars):,} bars"
        )
        with tempfile.TemporaryDirectory(prefix="numba-cache-") as cache:
            env = {"NUMBA_CACHE_DIR": cache}
            cold = spawn(args, "compile", env)
            files = sum(1 for p in Path(cache).rglob("*") if p.is_file())
            hot = spawn(args, "compile", env)
        report["compile"] = {"cold": cold, "cached": hot, "cache_files": files}
        for name, c in (("empty cache", cold), ("cache hit", hot)):
            log(
                f"  {name:11s}: import {c['import_s']:6.2f}s  first call {c['first_call_s']:6.2f}s  "
                f"warm call {c['warm_call_s']:6.3f}s  -> compile overhead "
                f"{c['import_s'] + c['first_call_s'] - c['warm_call_s']:6.2f}s"
            )
        log(f"  ({files} files written to the empty NUMBA_CACHE_DIR by the first process)")

    report["loadavg_at_end"] = os.getloadavg()
    log(f"\nload average (1/5/15 min): {m['loadavg_at_start']} at start, {report['loadavg_at_end']} at end")
    log("\n" + summary(report))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=float) + "\n")
        log(f"\nwrote {args.json}")
    return 0


def summary(report: dict[str, Any]) -> str:
    rows: list[tuple[str, str, str]] = []
    if "vectorbt" in report:
        for name, v in report["vectorbt"].items():
            rows.append(
                (
                    f"vectorbt vs engine, {name} ({v['combinations']} combos, {v['ema_pairs']} EMA pairs)",
                    f"{fmt_rate(v['vectorbt_rate'])} vs {fmt_rate(v['engine_rate'])} = {v['ratio']:.0f}x",
                    "engine >= 100x: " + ("met" if v["ratio"] >= 100 else "MISSED"),
                )
            )
    if "ceiling" in report:
        for name, v in report["ceiling"].items():
            rows.append(
                (
                    f"ceiling vs engine, {name} ({v['combinations']} combos, {v['ema_pairs']} EMA pairs)",
                    f"{fmt_rate(v['ceiling_rate'])} vs {fmt_rate(v['engine_rate'])} = "
                    f"{v['ceiling_over_engine']:.2f}x",
                    "within 2x: " + ("met" if v["ceiling_over_engine"] <= 2 else "MISSED"),
                )
            )
    if "memory" in report:
        mem = report["memory"]
        added = mem["sweep_peak_minus_baseline_bytes"]
        rows.append(
            (
                f"peak RSS added, {mem['combinations']:,} combos x {mem['bars']:,} bars",
                f"{added / 2**20:,.1f} MiB (baseline {mem['baseline_rss_bytes'] / 2**20:,.0f} MiB)",
                "< 1 GB: " + ("met" if added < 1e9 else "MISSED"),
            )
        )
    if "scaling" in report:
        for row in report["scaling"]["combinations"] + report["scaling"]["bars"]:
            rows.append(
                (
                    f"engine {row['bars']:,} bars x {row['combinations']:,} combos",
                    f"{row['s']:.2f}s  {fmt_rate(row['rate'])}  (median of {row['repeats']})",
                    "",
                )
            )
    if "compile" in report:
        for name in ("cold", "cached"):
            c = report["compile"][name]
            rows.append(
                (
                    f"compile: {'empty cache' if name == 'cold' else 'cache hit'}",
                    f"import {c['import_s']:.2f}s + first call {c['first_call_s']:.2f}s; warm call "
                    f"{c['warm_call_s']:.3f}s",
                    "",
                )
            )
    widths = [max(len(r[i]) for r in rows) for i in range(3)] if rows else [0, 0, 0]
    lines = ["summary (medians)", "-" * (sum(widths) + 6)]
    lines += [f"{a:<{widths[0]}}  {b:<{widths[1]}}  {c}" for a, b, c in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
