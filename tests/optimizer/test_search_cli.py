"""``tradeloop optimize`` through typer's CliRunner, on the live ema_cross/SP500 pair of this repository."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from typer.testing import CliRunner

from tests.conftest import REPO_ROOT
from tradeloop.cli import app

runner = CliRunner()
BASE = ["--strategy", "ema_cross", "--symbol", "SP500", "--timeframe", "1d", "--cadence", "weekly"]


def test_optimize_json_writes_outputs_and_starts_from_the_live_params(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'optuna.db'}"
    out = str(tmp_path / "out")
    args = ["--json", "--repo", str(REPO_ROOT), "optimize", *BASE, "--trials", "12", "--seed", "3",
            "--top-k", "2", "--prescreen", "64", "--storage", storage, "--out", out]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["search"]["trials"] == 12 and summary["search"]["storage"] == storage
    assert summary["search"]["study"] == "ema_cross.SP500.1d.weekly.sharpe.tpe"
    assert summary["current_params"]["ema_fast"] == 12 and summary["stage_a"]["generated"] > 0
    rows = list(csv.DictReader((tmp_path / "out" / "trials.csv").open()))
    assert len(rows) == 12
    assert (float(rows[0]["params_ema_fast"]), float(rows[0]["params_ema_slow"])) == (12.0, 26.0)
    assert (tmp_path / "out" / "stage_a_top.json").exists()
    again = runner.invoke(app, args)  # same study name: resumed, 12 trials already there
    assert again.exit_code == 0 and json.loads(again.stdout)["search"]["trials"] == 12


def test_optimize_rejects_an_unknown_objective_with_the_fix(tmp_path: Path) -> None:
    args = ["--repo", str(REPO_ROOT), "optimize", *BASE, "--objective", "sharpness", "--trials", "2",
            "--storage", f"sqlite:///{tmp_path / 'o.db'}"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    assert "unknown objective 'sharpness'" in result.stderr and "Did you mean 'sharpe'" in result.stderr


def test_optimize_rejects_a_timeframe_other_than_the_live_one(tmp_path: Path) -> None:
    storage = f"sqlite:///{tmp_path / 'o.db'}"
    args = ["--repo", str(REPO_ROOT), "optimize", "--strategy", "ema_cross", "--symbol", "SP500",
            "--timeframe", "1w", "--cadence", "weekly", "--storage", storage]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 2 and "pass --timeframe 1d" in result.stderr
