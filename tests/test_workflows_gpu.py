"""The jobs on self-hosted GPU runners sweep on the GPU when there is one: ``TRADELOOP_DEVICE=auto`` and the
``cuda`` extra installed by the shared setup action (the engine falls back to the CPU without a GPU)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

WORKFLOWS = Path(__file__).resolve().parents[1] / ".github" / "workflows"


def gpu_jobs() -> list[tuple[str, str, dict[str, Any]]]:
    jobs = []
    for path in sorted(WORKFLOWS.glob("*.yml")):
        for name, job in yaml.safe_load(path.read_text(encoding="utf-8"))["jobs"].items():
            if job.get("runs-on") == ["self-hosted", "gpu"]:
                jobs.append((path.name, name, job))
    return jobs


def test_every_gpu_job_sweeps_with_device_auto_and_installs_the_cuda_extra() -> None:
    jobs = gpu_jobs()
    assert {(workflow, name) for workflow, name, _ in jobs} >= {
        ("nightly-matrix.yml", "backtest"),
        ("optimizer.yml", "optimize"),
        ("validation.yml", "validate"),
    }
    for workflow, name, job in jobs:
        assert job.get("env", {}).get("TRADELOOP_DEVICE") == "auto", (workflow, name)
        setups = [step for step in job["steps"] if step.get("uses") == "./.github/actions/setup"]
        assert setups, (workflow, name)
        extras = setups[0].get("with", {}).get("extras", "").split(",")
        assert "cuda" in extras, (workflow, name)
