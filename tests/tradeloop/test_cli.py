"""The CLI through typer's CliRunner, plus the installed console script once, as a user runs it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from tradeloop.cli import app

runner = CliRunner()
REPO_ROOT = Path(__file__).resolve().parents[2]


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_help_lists_the_command_groups() -> None:
    code, out, _ = invoke("--help")
    assert code == 0
    for command in ("version", "data", "state", "--json", "--home", "--debug"):
        assert command in out


def test_version_text_and_json() -> None:
    code, out, _ = invoke("version")
    assert code == 0 and out.startswith("tradeloop ")
    code, out, _ = invoke("--json", "version")
    payload = json.loads(out)
    assert code == 0
    assert payload["python"] and "pandas" in payload["components"]


def test_a_tradeloop_error_is_one_line_and_exit_2() -> None:
    code, out, err = invoke("data", "show", "sp5000")
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ") and "sp5000" in lines[0] and "sp500" in lines[0]
    assert "Traceback" not in out + err


def test_json_mode_errors_are_machine_readable_too() -> None:
    code, out, err = invoke("--json", "data", "show", "sp5000")
    assert code == 2
    payload = json.loads(out)
    assert payload["ok"] is False and payload["error"]["type"] == "DataSourceError"
    assert err.startswith("error: ")


def test_debug_shows_the_traceback_instead() -> None:
    from tradeloop.errors import DataSourceError

    result = runner.invoke(app, ["--debug", "data", "show", "sp5000"])
    assert isinstance(result.exception, DataSourceError)


def test_bad_environment_setting_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRADELOOP_DB_URL", "not-a-url")
    code, _, err = invoke("version")
    assert code == 2 and "TRADELOOP_DB_URL" in err and "not-a-url" in err


def test_data_list_names_the_embedded_sources() -> None:
    code, out, _ = invoke("--json", "data", "list")
    names = {row["name"] for row in json.loads(out)["sources"]}
    assert code == 0 and {"sp500", "nasdaq", "synthetic"} <= names


@pytest.mark.parametrize("source", ["sp500", "nasdaq"])
def test_data_check_passes_on_the_real_embedded_data(source: str) -> None:
    code, out, _ = invoke("--json", "data", "check", source)
    report = json.loads(out)
    assert code == 0, out
    assert report["ok"] is True and report["bars"] == 5031
    assert report["first"].startswith("1999-01-04") and report["last"].startswith("2018-12-31")


def test_data_show_synthetic_is_about_210k_bars_and_identical_every_run(tmp_path: Path) -> None:
    args = ["--json", "data", "show", "synthetic", "--timeframe", "5m", "--days", "730", "--seed", "7"]
    first = json.loads(invoke(*args)[1])
    second = json.loads(invoke("--home", str(tmp_path), *args)[1])  # a cold cache, so generated again
    assert first["bars"] == 210_240
    assert first["data_hash"] == second["data_hash"]
    other_seed = json.loads(invoke(*args[:-1], "8")[1])
    assert other_seed["data_hash"] != first["data_hash"]


def test_data_show_prints_a_table() -> None:
    code, out, _ = invoke("data", "show", "nasdaq", "--rows", "2")
    assert code == 0 and "data_hash" in out and "2018-12-31" in out


def test_data_check_on_a_bad_csv_exits_1_and_names_row_and_column(tmp_path: Path) -> None:
    csv = tmp_path / "bad.csv"
    stamps = [ts.isoformat() for ts in pd.date_range("2024-01-01", periods=120, freq="D", tz="UTC")]
    body = "\n".join(f"{ts},100,{99.0 if i == 30 else 102.0},99,101,10" for i, ts in enumerate(stamps))
    csv.write_text("timestamp,open,high,low,close,volume\n" + body + "\n")
    code, out, _ = invoke("data", "check", str(csv))
    assert code == 1, out
    assert "row 31" in out and "high" in out and stamps[30][:10] in out


def test_data_export_round_trips_through_csv_and_parquet(tmp_path: Path) -> None:
    original = json.loads(invoke("--json", "data", "show", "nasdaq")[1])
    for name in ("nasdaq.csv", "nasdaq.parquet"):
        out_path = tmp_path / name
        code, out, _ = invoke("--json", "data", "export", "nasdaq", "--out", str(out_path))
        assert code == 0, out
        reloaded = json.loads(
            invoke(
                "--json", "data", "check", str(out_path), "--calendar", "weekdays", "--max-missing-bars", "4"
            )[1]
        )
        assert reloaded["data_hash"] == original["data_hash"], name


def test_data_export_refuses_an_unknown_format(tmp_path: Path) -> None:
    code, _, err = invoke("data", "export", "sp500", "--out", str(tmp_path / "x.xlsx"))
    assert code == 2 and "'.xlsx'" in err and ".csv or .parquet" in err


def test_state_check_passes_on_the_shipped_files() -> None:
    code, out, _ = invoke("--repo", str(REPO_ROOT), "state", "check")
    assert code == 0, out
    assert "PASS" in out


def test_state_show_json_has_guardrails_and_config_hash() -> None:
    code, out, _ = invoke("--json", "--repo", str(REPO_ROOT), "state", "show")
    state = json.loads(out)
    assert code == 0
    assert "config_hash" in json.dumps(state) and "OPTIMIZER_MAX_DELTA" in json.dumps(state)


def test_state_check_reports_a_broken_flags_file_and_leaves_it(tmp_path: Path) -> None:
    (tmp_path / "config").mkdir()
    shutil.copy(REPO_ROOT / "config" / "constants.py", tmp_path / "config" / "constants.py")
    broken = '{"schema_version": 1, "rollouts": {'
    (tmp_path / "feature_flags.json").write_text(broken)
    code, out, _ = invoke("--repo", str(tmp_path), "state", "check")
    assert code == 1
    assert "feature_flags.json" in out
    assert (tmp_path / "feature_flags.json").read_text() == broken


def test_console_script_runs_as_installed(tmp_path: Path) -> None:
    script = shutil.which("tradeloop", path=str(Path(sys.executable).parent))
    assert script, "the tradeloop console script is not installed next to this Python"
    env = {**os.environ, "TRADELOOP_HOME": str(tmp_path)}
    done = subprocess.run(
        [script, "data", "check", "sp500"], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "PASS" in done.stdout
    failed = subprocess.run(
        [script, "data", "show", "nope"], capture_output=True, text=True, env=env, check=False
    )
    assert failed.returncode == 2 and failed.stderr.count("\n") == 1 and "Traceback" not in failed.stderr


def test_a_reader_that_goes_away_stops_the_output_quietly(monkeypatch: pytest.MonkeyPatch) -> None:
    """`tradeloop strategies | head -1`: the closed pipe ends the command, exit 1, with no error line."""
    import backtest_matrix.strategies

    def closed_pipe() -> list[str]:
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(backtest_matrix.strategies, "strategy_names", closed_pipe)
    result = runner.invoke(app, ["strategies"])
    assert result.exit_code == 1, result.output
    assert "error" not in result.output
