"""``tradeloop matrix merge`` via CliRunner: shard logs in; warehouse rows, flags and reports out."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from backtest_matrix.matrix import ResultLog, warehouse_row
from tests.backtest_matrix.matrix_records import make_record, matrix_records
from tradeloop import Settings
from tradeloop.cli import app
from warehouse import get_warehouse

runner = CliRunner()
RUN = "20240110T000000Z-tonight0"


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture(autouse=True)
def _no_step_summary(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests run inside GitHub Actions too: never append to the real step summary."""
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    failed = make_record(symbol="SOL", param_set="live", status="timeout", run_id=RUN)
    return [*matrix_records(RUN), failed]


@pytest.fixture
def shard_dirs(tmp_path: Path, records: list[dict[str, Any]]) -> list[Path]:
    dirs = [tmp_path / "shard-1", tmp_path / "shard-2"]
    ResultLog(dirs[0] / "shard-1-of-2.jsonl").append_many(records[:10])
    ResultLog(dirs[1] / "shard-2-of-2.jsonl").append_many(records[8:])  # two cells in both shards
    return dirs


def merge_json(*args: str | Path) -> dict[str, Any]:
    code, out, err = invoke("--json", "matrix", "merge", *map(str, args))
    assert code == 0, err
    payload: dict[str, Any] = json.loads(out)
    return payload


def test_merge_loads_writes_reports_and_is_idempotent(shard_dirs: list[Path], tmp_path: Path) -> None:
    summary = tmp_path / "step-summary.md"
    first = merge_json(*shard_dirs, "--summary", summary)
    assert first["run_id"] == RUN
    assert first["counts"] == {
        "files": 2, "cells": 17, "ok": 16, "error": 0, "timeout": 1, "duplicates": 2, "conflicts": 0,
        "corrupt_lines": 0, "torn_tails": 0,
    }  # fmt: skip
    assert first["warehouse"]["inserted"] == 17 and first["flags"] == []
    run_dir = Settings.from_env().run_dir(RUN)
    assert first["report"] == str(run_dir / "report.html") and Path(first["report"]).is_file()
    assert first["summary"] == str(run_dir / "summary.md")
    markdown = Path(first["summary"]).read_text()
    assert summary.read_text() == markdown and "Return [%]" in markdown
    second = merge_json(*shard_dirs, "--summary", summary)
    assert (second["warehouse"]["inserted"], second["warehouse"]["already_stored"]) == (0, 17)
    assert summary.read_text() == markdown * 2  # appended, as GitHub's step summary expects
    with get_warehouse(Settings.from_env()) as warehouse:
        assert [(r.run_id, r.status) for r in warehouse.runs("matrix")] == [(RUN, "ok")]


def test_merge_appends_to_github_step_summary(
    shard_dirs: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "github" / "summary"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(target))
    copies = tmp_path / "nightly-report"
    code, out, err = invoke(
        "matrix", "merge", *map(str, shard_dirs), "--run-id", "night-7", "--report-dir", str(copies)
    )
    assert code == 0, err
    assert target.read_text().startswith("## Nightly backtest matrix: run `night-7`")
    run_dir = Settings.from_env().run_dir("night-7")
    assert f"report: {run_dir / 'report.html'}" in out and f"summary: {run_dir / 'summary.md'}" in out
    for name in ("report.html", "summary.md", "plotly.min.js"):  # the workflow uploads --report-dir
        assert (copies / name).read_bytes() == (run_dir / name).read_bytes()


def test_merge_flags_against_planted_nights(shard_dirs: list[Path], records: list[dict[str, Any]]) -> None:
    live = next(r for r in records if (r["strategy"], r["symbol"], r["window"], r["param_set"])
                == ("rsi_reversion", "ETH", "full", "live"))  # fmt: skip
    with get_warehouse(Settings.from_env()) as warehouse:
        for night in range(1, 8):
            run_id = f"2024010{night}T000000Z-night00{night}"
            warehouse.start_run("matrix", git_sha="abc1234", run_id=run_id)
            past = copy.deepcopy(live)
            past["cell_hash"], past["data_hash"] = f"past-{night}", f"data-{night}"
            past["kpis"]["sharpe"] += 2.0
            created = datetime(2024, 1, night, tzinfo=UTC) + timedelta(hours=2)
            warehouse.add_backtest_results([{**warehouse_row(past, run_id), "created_at": created}])
    payload = merge_json(*shard_dirs)
    assert [(f["kind"], f["cell_hash"], f["nights"]) for f in payload["flags"]] == [
        ("underperformance", live["cell_hash"], 7)
    ]
    assert payload["flags"][0]["baseline"] == pytest.approx(live["kpis"]["sharpe"] + 2.0)
    assert "underperformance" in Path(payload["summary"]).read_text()
    relaxed = merge_json(*shard_dirs, "--sharpe-drop", "2.5")
    assert relaxed["flags"] == []


def test_merge_errors_name_the_path_and_the_run_id(tmp_path: Path, shard_dirs: list[Path]) -> None:
    code, _, err = invoke("matrix", "merge", str(tmp_path / "missing"))
    assert code == 2 and err.startswith("error: ") and "missing does not exist" in err
    code, _, err = invoke("matrix", "merge", str(shard_dirs[0]), "--run-id", "../escape")
    assert code == 2 and "--run-id '../escape' is not a run id" in err
