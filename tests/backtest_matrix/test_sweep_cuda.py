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
