"""``--device`` and ``TRADELOOP_DEVICE`` on the sweeping commands, on this GPU-less machine (CliRunner).

``cuda`` without a GPU stops with exit code 2 and a message naming the missing part (the package, the
driver) and the fix; ``auto`` falls back to the CPU and gives the CPU's results.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from backtest_matrix.engine import cuda_problem
from tradeloop.cli import app

runner = CliRunner()
SWEEP = ["sweep", "-s", "ema_cross", "-d", "sp500", "-g", "ema_fast=5:15:5", "-g", "ema_slow=20:40:10"]


@pytest.fixture(autouse=True)
def no_simulator(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The real device probe of this machine (no simulator), probed afresh by each test."""
    monkeypatch.delenv("NUMBA_ENABLE_CUDASIM", raising=False)
    monkeypatch.delenv("TRADELOOP_DEVICE", raising=False)
    cuda_problem.cache_clear()
    yield
    cuda_problem.cache_clear()


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def no_gpu() -> None:
    if cuda_problem() is None:
        pytest.skip("this machine has a CUDA GPU")


def test_sweep_on_cuda_without_a_driver_names_the_driver_and_the_fix(no_gpu: None, tmp_path: Path) -> None:
    code, out, err = run("--home", str(tmp_path), *SWEEP, "--device", "cuda")
    assert code == 2, out
    assert "--device cuda" in err and "NVIDIA driver" in err and "libcuda" in err
    assert "--device cpu" in err
    assert not (tmp_path / "runs").exists()  # stopped before any work


def test_the_setting_asks_for_cuda_too(no_gpu: None, tmp_path: Path) -> None:
    code, _, err = run("--home", str(tmp_path), *SWEEP, env={"TRADELOOP_DEVICE": "cuda"})
    assert code == 2 and "NVIDIA driver" in err
    code, _, err = run("--home", str(tmp_path), *SWEEP, env={"TRADELOOP_DEVICE": "gpu"})
    assert code == 2 and "TRADELOOP_DEVICE: 'gpu'" in err and "auto, cpu, cuda" in err


def test_missing_package_is_named_with_its_install_command(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, *args: Any, **kwargs: Any) -> Any:
        return None if name == "numba_cuda" else real(name, *args, **kwargs)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    code, _, err = run("--home", str(tmp_path), *SWEEP, "--device", "cuda")
    assert code == 2 and "numba-cuda is not installed" in err and "pip install 'tradeloop[cuda]'" in err


def test_auto_without_a_gpu_sweeps_on_the_cpu_with_the_cpus_results(no_gpu: None, tmp_path: Path) -> None:
    results = {}
    for device in ("auto", "cpu"):
        code, out, err = run("--json", "--home", str(tmp_path), *SWEEP, "--device", device)
        assert code == 0, err
        summary = json.loads(out)
        assert summary["device"] == "cpu"
        results[device] = summary["top"]
    assert results["auto"] == results["cpu"]


def test_bad_device_value_lists_the_choices(tmp_path: Path) -> None:
    code, _, err = run("--home", str(tmp_path), *SWEEP, "--device", "tpu")
    assert code == 2 and "--device: 'tpu'" in err and "auto, cpu, cuda" in err


def test_optimize_on_cuda_without_a_gpu_stops_before_loading_anything(no_gpu: None, tmp_path: Path) -> None:
    code, _, err = run(
        "--home", str(tmp_path), "optimize", "-s", "ema_cross", "--symbol", "SP500", "-t", "1d",
        "--cadence", "weekly", "--device", "cuda",
    )  # fmt: skip
    assert code == 2 and "--device cuda" in err and "NVIDIA driver" in err
