"""The CUDA sweep equals the CPU sweep bit for bit under numba's CUDA simulator, and ``--device`` says
clearly what is missing when there is no GPU.

numba reads ``NUMBA_ENABLE_CUDASIM`` when it is imported, so the simulated runs go in a subprocess
(``tests/backtest_matrix/cuda_sim_parity.py``): every strategy, both fills, both directions, several
signal groups sharing their signals, risk rows with stops, take-profit tiers and trailing stops, and the
groups sent to the device in one batch and in one batch each. CI has no GPU: it never needs one.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from backtest_matrix.strategies import strategy_names

ROOT = Path(__file__).resolve().parents[2]


def test_cuda_sweep_equals_the_cpu_sweep_under_the_simulator() -> None:
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "tests.backtest_matrix.cuda_sim_parity"],
        cwd=ROOT, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    ok = [line.split()[1:4] for line in done.stdout.splitlines() if line.startswith("ok ")]
    expected = [
        [name, fill, direction]
        for name in strategy_names()
        for fill in ("next_open", "close")
        for direction in ("long", "long_short")
    ]
    assert ok == expected
    assert f"cases={len(expected)}" in done.stdout


@pytest.mark.parametrize("strategy", ["ema_cross"])
def test_simulated_device_is_picked_by_auto(strategy: str) -> None:
    """``--device auto`` takes the (simulated) CUDA device when it is there."""
    code = (
        "from backtest_matrix.engine._device import resolve_device;"
        "print(resolve_device('auto'), resolve_device(None), resolve_device('cpu'))"
    )
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1", "TRADELOOP_DEVICE": "auto"}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["cuda", "cuda", "cpu"]


# The rule on a device (docs/engine.md): NVVM contracts `a * b + c` into fused multiply-adds, so a KPI can
# differ in its last bits, and a last-bit difference can move a stop or a crossing by a bar, which changes
# that row's trades. Such rows must stay rare and the others close.
MAX_SHARE_OTHER_TRADES = 0.01
MAX_RELATIVE_KPI_DIFFERENCE = 1e-9


def _real_device_problem() -> str | None:
    from backtest_matrix.engine._device import cuda_problem

    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        return "the CUDA simulator is on: this test is for a real device"
    return cuda_problem()


@pytest.mark.skipif(_real_device_problem() is not None, reason="needs a CUDA device (CI has none)")
def test_on_a_device_the_kpis_differ_only_as_the_rule_allows() -> None:
    import numpy as np

    from backtest_matrix import load_bars
    from backtest_matrix.engine import KPI_NAMES, sweep
    from backtest_matrix.strategies import get_strategy
    from optimizer import search_space
    from optimizer._prescreen import generate_combinations

    bars = load_bars("synthetic", timeframe="5m", days=60, seed=0).bars
    strategy = "ema_cross"
    cls = get_strategy(strategy)
    combos = generate_combinations(search_space(cls, {}, "weekly"), 4000, "sobol", 0)
    combos = combos[cls.feasible(combos.reindex(columns=cls.param_names()).to_numpy(np.float64))]
    cpu = sweep(bars, strategy, combos, device="cpu")[list(KPI_NAMES)].to_numpy()
    gpu = sweep(bars, strategy, combos, device="cuda")[list(KPI_NAMES)].to_numpy()
    trades = KPI_NAMES.index("trades")
    other_trades = cpu[:, trades] != gpu[:, trades]
    assert other_trades.mean() <= MAX_SHARE_OTHER_TRADES, f"{other_trades.sum()} of {len(cpu)} rows"
    same_trades_cpu, same_trades_gpu = cpu[~other_trades], gpu[~other_trades]
    assert np.array_equal(np.isnan(same_trades_cpu), np.isnan(same_trades_gpu))
    finite = np.isfinite(same_trades_cpu)
    scale = np.maximum(np.abs(same_trades_cpu[finite]), 1.0)
    relative = np.abs(same_trades_cpu[finite] - same_trades_gpu[finite]) / scale
    assert relative.max(initial=0.0) <= MAX_RELATIVE_KPI_DIFFERENCE
