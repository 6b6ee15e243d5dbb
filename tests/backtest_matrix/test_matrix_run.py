"""Shard runs end to end: contract-1 records, determinism across shards and workers, faults, resume, CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from backtest_matrix.engine import KPI_NAMES
from backtest_matrix.matrix import FAULTS_ENV, Plan, ResultLog, RunInfo, load_matrix_spec, plan, run_shard
from backtest_matrix.regimes import REGIME_LABELS
from gitops import load_constants
from tests.backtest_matrix.matrix_helpers import LIVE_BTC, SMALL_MATRIX, make_repo, write_matrix
from tradeloop.cli import app

RECORD_KEYS = {
    "cell_hash", "run_id", "git_sha", "config_hash", "data_hash", "engine_version", "strategy", "symbol",
    "timeframe", "window", "source", "param_set", "params", "seed", "window_start", "window_end", "bars",
    "regime", "regime_confidence", "kpis", "regime_kpis", "status", "error", "elapsed_s", "shard",
}  # fmt: skip


def small_plan(tmp_path: Path, shards: int) -> Plan:
    spec = load_matrix_spec(write_matrix(tmp_path, SMALL_MATRIX), live_params=LIVE_BTC)
    return plan(spec, shards, cache_dir=tmp_path / "cache")


def info_for(planned: Plan, tmp_path: Path) -> RunInfo:
    return RunInfo(
        run_id="run-1", git_sha="abc", config_hash="cfg", engine_version=planned.engine_version,
        seed=planned.spec.neighbourhood.seed, shard="", fee_bps=10.0, slippage_bps=5.0,
        cache_dir=str(tmp_path / "cache"),
    )  # fmt: skip


def run_all(planned: Plan, tmp_path: Path, out: Path, workers: int, **kwargs: Any) -> list[dict[str, Any]]:
    records = []
    for index in range(1, planned.shards + 1):
        report = run_shard(planned, index, planned.shards, out, info=info_for(planned, tmp_path),
                           workers=workers, **kwargs)  # fmt: skip
        assert report.summary.corrupt == 0 and report.summary.duplicates == 0
        records += ResultLog(report.log_path).read(strict=True)
    return records


def test_a_small_matrix_runs_end_to_end_with_contract_records(tmp_path: Path) -> None:
    planned = small_plan(tmp_path, 1)
    records = run_all(planned, tmp_path, tmp_path / "out", workers=2)
    assert len(records) == planned.cells == 18
    assert {r["cell_hash"] for r in records} == {c.cell_hash for u in planned.units for c in u.cells}
    for record in records:
        assert set(record) - {"equity"} == RECORD_KEYS
        assert record["status"] == "ok", record["error"]
        assert set(record["kpis"]) == set(KPI_NAMES)
        assert record["regime"] in REGIME_LABELS
        assert set(record["regime_kpis"]) <= set(REGIME_LABELS)
        assert record["shard"] == "1/1" and record["run_id"] == "run-1" and record["seed"] == 5
        assert ("equity" in record) == (record["param_set"] in {"live", "base"})
        assert record["bars"] > 0 and record["window_start"] < record["window_end"]
    live = [r for r in records if r["param_set"] == "live"]
    assert {(r["strategy"], r["symbol"]) for r in live} == {("ema_cross", "BTC")}
    assert all(r["params"]["ema_fast"] == 10.0 and r["params"]["stop_loss_pct"] == 3.0 for r in live)
    assert {r["source"] for r in records} == {"sp500", "synthetic"}


def test_one_shard_one_worker_equals_three_shards_two_workers(tmp_path: Path) -> None:
    single = run_all(small_plan(tmp_path, 1), tmp_path, tmp_path / "a", workers=1)
    sharded = run_all(small_plan(tmp_path, 3), tmp_path, tmp_path / "b", workers=2)
    assert len(list((tmp_path / "b").glob("shard-*-of-3.jsonl"))) == 3
    by_hash = {r["cell_hash"]: r for r in single}
    assert set(by_hash) == {r["cell_hash"] for r in sharded}
    for record in sharded:
        twin = by_hash[record["cell_hash"]]
        for key in ("kpis", "regime_kpis", "regime", "regime_confidence", "params", "bars", "equity"):
            assert record.get(key) == twin.get(key), key


def test_hanging_memory_hungry_and_crashing_cells_are_recorded_and_the_rest_completes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    faults = {"ema_cross/BTC/90d/n01": "hang", "rsi_reversion/BTC/full/n02": "memory",
              "ema_cross/SP500/90d/base": "crash"}  # fmt: skip
    monkeypatch.setenv(FAULTS_ENV, json.dumps(faults))
    planned = small_plan(tmp_path, 1)
    records = run_all(
        planned, tmp_path, tmp_path / "out", workers=2, cell_timeout_s=5.0, memory_limit_mb=1536
    )
    assert len(records) == 18
    by_cell = {f"{r['strategy']}/{r['symbol']}/{r['window']}/{r['param_set']}": r for r in records}
    hung, hog, crashed = (by_cell[key] for key in faults)
    assert hung["status"] == "timeout" and hung["error"] == "killed after 5 s timeout"
    assert hog["status"] == "error" and hog["error"] == "memory limit 1536 MiB exceeded (MemoryError)"
    assert crashed["status"] == "error" and "killed by SIGKILL" in crashed["error"]
    for failed in (hung, hog, crashed):
        assert failed["kpis"] == {} and failed["regime_kpis"] == {}
    others = [r for key, r in by_cell.items() if key not in faults]
    assert len(others) == 15 and all(r["status"] == "ok" for r in others)


def test_a_rerun_skips_the_done_cells_and_completes_a_partial_log(tmp_path: Path) -> None:
    planned = small_plan(tmp_path, 1)
    out = tmp_path / "out"
    lines: list[str] = []
    run_shard(planned, 1, 1, out, info=info_for(planned, tmp_path), workers=2, echo=lines.append)
    log_path = out / "shard-1-of-1.jsonl"
    kept = log_path.read_text().splitlines(keepends=True)[:7]
    log_path.write_text("".join(kept) + kept[7 - 1][:40])  # 7 records and a torn tail
    report = run_shard(planned, 1, 1, out, info=info_for(planned, tmp_path), workers=2, echo=lines.append)
    assert lines == ["done 0, remaining 18", "done 7, remaining 11"]
    assert (report.done_before, report.ran, report.ok) == (7, 11, 11)
    assert report.summary.records == 18 and not report.summary.torn_tail and report.summary.duplicates == 0
    report = run_shard(planned, 1, 1, out, info=info_for(planned, tmp_path), workers=2, echo=lines.append)
    assert lines[-1] == "done 18, remaining 0" and report.ran == 0


# -- the CLI ---------------------------------------------------------------------------------------------

runner = CliRunner()


def cli(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    repo = make_repo(tmp_path / "repo")
    result = runner.invoke(app, ["--home", str(tmp_path / "home"), "--repo", str(repo), *args])
    return result.exit_code, result.stdout, result.stderr


def test_cli_plan_prints_the_actions_matrix(tmp_path: Path) -> None:
    matrix = write_matrix(tmp_path, SMALL_MATRIX)
    code, out, err = cli(tmp_path, "--json", "matrix", "plan", "--shards", "2", "--matrix", str(matrix))
    assert code == 0, err
    document = json.loads(out)
    assert document["shard"] == ["1/2", "2/2"]
    assert sum(entry["cells"] for entry in document["include"]) == 18
    code, out, err = cli(tmp_path, "matrix", "plan", "--shards", "2", "--matrix", str(matrix))
    assert code == 0 and "largest / smallest shard cost" in out


def test_cli_run_writes_the_shard_log_and_resumes(tmp_path: Path) -> None:
    matrix = write_matrix(tmp_path, SMALL_MATRIX)
    args = ["matrix", "run", "--shard", "2/2", "--out", str(tmp_path / "logs"), "--matrix", str(matrix)]
    code, out, err = cli(tmp_path, "--json", *args)
    assert code == 0, err
    result = json.loads(out)
    assert result["ok"] is True and result["shard"] == "2/2"
    assert result["ran"] == result["counts"]["ok"] == result["cells"] > 0
    assert "done 0, remaining" in err
    records = ResultLog(tmp_path / "logs" / "shard-2-of-2.jsonl").read(strict=True)
    constants = load_constants(tmp_path / "repo" / "config" / "constants.py")
    assert {r["config_hash"] for r in records} == {constants.config_hash}
    assert {r["run_id"] for r in records} == {result["run_id"]}
    code, out, err = cli(tmp_path, *args)
    assert code == 0 and f"done {result['cells']}, remaining 0" in out


def test_cli_refuses_a_bad_matrix_before_any_work(tmp_path: Path) -> None:
    matrix = write_matrix(tmp_path, SMALL_MATRIX.replace("windows: [90d, full]", "windows: [90d, fortnight]"))
    out_dir = tmp_path / "logs"
    code, _, err = cli(
        tmp_path, "matrix", "run", "--shard", "1/1", "--out", str(out_dir), "--matrix", str(matrix)
    )
    assert code == 2
    assert "windows[1] must be a number of days like 30d or 'full', got 'fortnight'" in err
    assert not out_dir.exists()
    code, _, err = cli(
        tmp_path, "matrix", "run", "--shard", "3/2", "--out", str(out_dir), "--matrix", str(matrix)
    )
    assert code == 2 and "--shard '3/2' is not i/N" in err


@pytest.mark.slow
def test_workers_compile_on_an_empty_kernel_cache_under_a_small_memory_limit(tmp_path: Path) -> None:
    """The limit is what a cell may add to its warmed-up worker: numba's start-up and compilation (well
    over 1 GiB of address space) happen before it, so 256 MiB is plenty for these cells."""
    repo = make_repo(tmp_path / "repo")
    matrix = write_matrix(tmp_path, SMALL_MATRIX)
    env = {**os.environ, "TRADELOOP_HOME": str(tmp_path / "home"), "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    done = subprocess.run(
        [sys.executable, "-m", "tradeloop", "--json", "--repo", str(repo), "matrix", "run", "--shard", "1/1",
         "--out", str(tmp_path / "logs"), "--matrix", str(matrix), "--memory-limit", "256"],
        env=env, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-4000:]
    result = json.loads(done.stdout)
    assert result["counts"] == {"ok": 18, "error": 0, "timeout": 0}, [
        (r["strategy"], r["error"]) for r in ResultLog(tmp_path / "logs" / "shard-1-of-1.jsonl").read()
    ]
    assert any((tmp_path / "numba").rglob("*.nbi"))  # the kernels were compiled, not loaded


def test_a_worker_limits_what_a_cell_may_add_to_its_address_space() -> None:
    from backtest_matrix.matrix._worker import address_space_in_use

    mapped = address_space_in_use()
    assert mapped > 100 << 20  # this process has Python, numpy, pandas and numba mapped
    block = np.ones(64 << 20, dtype=np.uint8)
    assert address_space_in_use() >= mapped + block.nbytes
