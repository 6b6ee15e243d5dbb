"""``tradeloop backtest``, ``sweep`` and ``strategies`` through CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from backtest_matrix.data import load_bars
from backtest_matrix.engine import EngineConfig, backtest
from tradeloop.cli import app

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_backtest_prints_kpis_and_writes_trades_to_the_run_directory(tmp_path: Path) -> None:
    code, out, err = run(
        "--json", "--home", str(tmp_path), "backtest", "-s", "ema_cross", "-d", "sp500",
        "-p", "ema_fast=10", "-p", "ema_slow=40", "-p", "stop_loss_pct=4",
        "--fill", "close", "--fee-bps", "10",
    )  # fmt: skip
    assert code == 0, err
    summary = json.loads(out)
    expected = backtest(
        load_bars("sp500").bars,
        "ema_cross",
        {"ema_fast": 10, "ema_slow": 40, "stop_loss_pct": 4},
        config=EngineConfig(fill="close", fee_bps=10),
    )
    assert summary["kpis"]["return_pct"] == pytest.approx(expected.kpis["return_pct"], rel=1e-12)
    trades = pd.read_csv(summary["trades_csv"])
    assert Path(summary["trades_csv"]).is_relative_to(tmp_path / "runs" / summary["run_id"])
    assert len(trades) == expected.kpis["trades"]
    assert {"entry_time", "exit_time", "entry_price", "exit_price", "size", "reason"} <= set(trades.columns)
    run_record = json.loads((tmp_path / "runs" / summary["run_id"] / "run.json").read_text())
    assert run_record["data_hash"] == load_bars("sp500").data_hash


def test_unknown_parameter_gets_did_you_mean() -> None:
    code, _, err = run("backtest", "-s", "ema_cross", "-d", "sp500", "-p", "ema_fats=3")
    assert code == 2 and "Did you mean 'ema_fast'?" in err


def test_out_of_bounds_parameter_names_the_bounds() -> None:
    code, _, err = run("backtest", "-s", "ema_cross", "-d", "sp500", "-p", "ema_fast=1")
    assert code == 2 and "ema_fast must be within [2, 200], got 1.0" in err


def test_unknown_strategy_gets_did_you_mean() -> None:
    code, _, err = run("backtest", "-s", "ema_crossing", "-d", "sp500")
    assert code == 2 and "Did you mean 'ema_cross'?" in err


def test_sweep_grid_ranks_by_the_chosen_kpi(tmp_path: Path) -> None:
    code, out, err = run(
        "--json", "--home", str(tmp_path), "sweep", "-s", "ema_cross", "-d", "nasdaq",
        "-g", "ema_fast=5:20:5", "-g", "ema_slow=10:60:10", "--sort", "return_pct", "--top", "3",
    )  # fmt: skip
    assert code == 0, err
    summary = json.loads(out)
    assert summary["combinations"] == 4 * 6 - 4  # (10,10) (15,10) (20,10) (20,20) break ema_fast < ema_slow
    returns = [row["return_pct"] for row in summary["top"]]
    assert returns == sorted(returns, reverse=True) and len(returns) == 3
    table = pd.read_csv(summary["results_csv"])
    assert table["return_pct"].max() == pytest.approx(returns[0])
    assert (table["ema_fast"] < table["ema_slow"]).all()


def test_sweep_random_is_seeded() -> None:
    args = ["--json", "sweep", "-s", "rsi_reversion", "-d", "sp500", "--random", "40", "--seed", "5"]
    first, second = (json.loads(run(*args)[1]) for _ in range(2))
    assert first["top"] == second["top"]
    other = json.loads(run(*args[:-1], "6")[1])
    assert other["top"] != first["top"]


def test_sweep_needs_a_search_space() -> None:
    code, _, err = run("sweep", "-s", "ema_cross", "-d", "sp500")
    assert code == 2 and "--grid" in err and "--random" in err


def test_strategies_lists_every_strategy_and_a_space() -> None:
    code, out, _ = run("--json", "strategies")
    assert code == 0
    assert set(json.loads(out)) == {"ema_cross", "mtf_ema", "rsi_reversion", "donchian_breakout"}
    code, out, _ = run("--json", "strategies", "ema_cross")
    names = [p["name"] for p in json.loads(out)["ema_cross"]["params"]]
    assert names[:2] == ["ema_fast", "ema_slow"] and "stop_loss_pct" in names
