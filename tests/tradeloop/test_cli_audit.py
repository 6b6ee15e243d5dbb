"""A new user's audit of the CLI: each test is one defect found by running the commands as the docs show."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tradeloop.cli import app

runner = CliRunner()
REPO_ROOT = Path(__file__).resolve().parents[2]


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def _state_copy(tmp_path: Path) -> Path:
    (tmp_path / "config").mkdir(parents=True)
    shutil.copy(REPO_ROOT / "config" / "constants.py", tmp_path / "config" / "constants.py")
    shutil.copy(REPO_ROOT / "feature_flags.json", tmp_path / "feature_flags.json")
    return tmp_path


def test_state_check_prints_the_annotation_as_written_not_as_markup(tmp_path: Path) -> None:
    repo = _state_copy(tmp_path)
    constants = repo / "config" / "constants.py"
    text = constants.read_text()
    assert "MIN_TRADES: Final[int] = 30\n" in text
    constants.write_text(text.replace("MIN_TRADES: Final[int] = 30\n", 'MIN_TRADES: Final[int] = "thirty"\n'))
    code, out, _ = invoke("--repo", str(repo), "state", "check")
    assert code == 1, out
    assert "annotated `Final[int]`" in out


def test_the_data_option_help_names_every_built_in_source() -> None:
    for command in (["backtest"], ["sweep"], ["data", "check"], ["regime", "detect"]):
        code, out, _ = invoke(*command, "--help")
        assert code == 0, out
        assert "reverting" in " ".join(out.split()), command


def test_optimize_says_why_no_trial_qualified_instead_of_best_nan(tmp_path: Path) -> None:
    # The README's example: daily cadence on daily bars searches 3 years, ~10 trades, fewer than MIN_TRADES.
    args = ["--home", str(tmp_path), "--repo", str(REPO_ROOT), "optimize", "--strategy", "ema_cross"]
    args += [
        "--symbol",
        "SP500",
        "--timeframe",
        "1d",
        "--cadence",
        "daily",
        "--trials",
        "2",
        "--prescreen",
        "20",
    ]
    code, out, _ = invoke(*args)
    assert code == 0, out
    text = " ".join(out.split())
    assert "best sharpe nan" not in text
    assert "no trial of 2 met the constraints (at least 30 trades (MIN_TRADES)" in text
    assert "--cadence weekly" in text
    code, out, _ = invoke("--json", *args)
    assert code == 0, out
    assert json.loads(out)["search"]["feasible"] == 0


def test_deploy_plan_points_at_a_command_that_runs_as_written(tmp_path: Path) -> None:
    code, out, _ = invoke("--home", str(tmp_path), "--repo", str(REPO_ROOT), "deploy", "plan")
    assert code == 0, out
    assert "regime unknown (no stored detection: run tradeloop regime refresh)" in out
    # the hint it used to print needs --data and exits 2
    code, _, err = invoke("--home", str(tmp_path), "--repo", str(REPO_ROOT), "regime", "detect", "--store")
    assert code == 2 and "--data" in err


def test_json_and_debug_after_the_command_as_the_docs_write_them(tmp_path: Path) -> None:
    # README: `tradeloop matrix plan --shards 4 --json`; docs/deployment.md: `tradeloop deploy plan --json`
    code, out, err = invoke("--repo", str(REPO_ROOT), "matrix", "plan", "--shards", "4", "--json")
    assert code == 0, err
    assert len(json.loads(out)["include"]) == 4
    code, out, err = invoke("--home", str(tmp_path), "--repo", str(REPO_ROOT), "deploy", "plan", "--json")
    assert code == 0, err
    assert json.loads(out)["pairs"]
    code, out, err = invoke("backtest", "-s", "ema_cros", "-d", "sp500", "--json")
    assert code == 2
    assert json.loads(out)["error"]["message"].startswith("--strategy: unknown strategy 'ema_cros'")
    result = runner.invoke(app, ["backtest", "-s", "ema_cros", "-d", "sp500", "--debug"])
    assert result.exit_code != 0 and result.exception is not None and "error:" not in result.stderr


def _cells(*args: str) -> int:
    code, out, err = invoke("--json", *args, "matrix", "plan", "--shards", "1")
    assert code == 0, err
    return int(sum(shard["cells"] for shard in json.loads(out)["include"]))


def test_the_repositorys_own_matrix_yaml_is_the_default(tmp_path: Path) -> None:
    # With `pip install .` the package's matrix.yaml is a copy in site-packages: an edit of the repository's
    # backtest_matrix/matrix.yaml (docs/demo.md: "point DEMO at a file of your own bars") must count.
    repo = _state_copy(tmp_path / "repo")
    shipped = _cells("--repo", str(repo))  # no backtest_matrix/ in the repo: the shipped definition
    (repo / "backtest_matrix").mkdir()
    lines = ["symbols:", "  SP500: sp500", "  NASDAQ: nasdaq", "  DEMO: reverting", "strategies:"]
    lines += ["  ema_cross: [SP500]", "timeframes: [1d]", "windows: [full]", "neighbourhood:", "  samples: 0"]
    (repo / "backtest_matrix" / "matrix.yaml").write_text("\n".join(lines) + "\n")
    own = _cells("--repo", str(repo))
    assert own != shipped
    assert own == 5  # the five live pairs, one window, no neighbours
    pair = ["-s", "ema_cross", "--symbol", "XYZ", "-t", "1d", "--cadence", "weekly"]
    code, _, err = invoke("--repo", str(repo), "--home", str(tmp_path / "home"), "optimize", *pair)
    assert code == 2 and str(repo / "backtest_matrix" / "matrix.yaml") in err


def test_rollback_without_a_target_names_all_three_ways(tmp_path: Path) -> None:
    code, _, err = invoke("--home", str(tmp_path), "--repo", str(REPO_ROOT), "rollback", "--forge", "local")
    assert code == 2
    assert "--commit SHA or --pr N" in err and "--pair STRATEGY/SYMBOL" in err


def test_a_typo_in_the_cadence_or_sampler_gets_did_you_mean(tmp_path: Path) -> None:
    pair = ["--strategy", "ema_cross", "--symbol", "SP500", "--timeframe", "1d"]
    code, _, err = invoke(
        "--home", str(tmp_path), "--repo", str(REPO_ROOT), "optimize", *pair, "--cadence", "weekley"
    )
    assert code == 2 and "--cadence 'weekley' is unknown. Did you mean weekly?" in err
    code, _, err = invoke(
        "--home",
        str(tmp_path),
        "--repo",
        str(REPO_ROOT),
        "optimize",
        *pair,
        "--cadence",
        "weekly",
        "--sampler",
        "tp",
    )
    assert code == 2 and "--sampler 'tp' is unknown. Did you mean tpe?" in err


def test_the_short_history_fix_names_an_option_the_loading_commands_have(tmp_path: Path) -> None:
    # The short-history finding says "(CLI: --min-history-days, ...)": backtest, sweep, data show and data
    # export refused 30 days of bars and then refused that option too.
    home = ["--home", str(tmp_path)]
    short = ["--days", "30"]
    code, _, err = invoke(*home, "backtest", "-s", "ema_cross", "-d", "synthetic", *short)
    assert code == 2 and "--min-history-days" in err
    code, out, err = invoke(
        *home, "backtest", "-s", "ema_cross", "-d", "synthetic", *short, "--min-history-days", "10"
    )
    assert code == 0, err
    sweep = ["sweep", "-s", "ema_cross", "-d", "synthetic", "-g", "ema_fast=5:10:5", *short]
    code, _, err = invoke(*home, *sweep, "--min-history-days", "10")
    assert code == 0, err
    code, out, err = invoke(*home, "--json", "data", "show", "synthetic", *short, "--min-history-days", "10")
    assert code == 0, err
    assert json.loads(out)["bars"] == 720
    out_file = tmp_path / "short.csv"
    code, _, err = invoke(
        *home, "data", "export", "synthetic", *short, "--min-history-days", "10", "--out", str(out_file)
    )
    assert code == 0, err
    assert out_file.is_file()
    code, _, err = invoke(
        *home, "backtest", "-s", "ema_cross", "-d", str(out_file), "--min-history-days", "10"
    )
    assert code == 0, err


def test_backtest_and_sweep_read_a_file_the_way_data_show_does(tmp_path: Path) -> None:
    # The missing-column error says "(CLI: --map close=<column>)"; backtest and sweep had no --map.
    lines = ["Date,Open,High,Low,Adj_Close,Volume"]
    for i in range(120):
        price = 100 + 10 * math.sin(i / 5)
        lines.append(f"{(1_577_836_800 + 86_400 * i) * 1000},{price},{price + 1},{price - 1},{price},100")
    prices = tmp_path / "prices.csv"
    prices.write_text("\n".join(lines) + "\n")
    home = ["--home", str(tmp_path / "home")]
    code, _, err = invoke(*home, "backtest", "-s", "ema_cross", "-d", str(prices))
    assert code == 2 and "--map close=<column>" in err
    file_options = ["--map", "close=Adj_Close", "--unit", "ms", "--timestamp-column", "Date", "--tz", "UTC"]
    code, out, err = invoke(*home, "--json", "backtest", "-s", "ema_cross", "-d", str(prices), *file_options)
    assert code == 0, err
    assert json.loads(out)["kpis"]["trades"] > 0
    sweep = ["sweep", "-s", "ema_cross", "-d", str(prices), "-g", "ema_fast=3:6:1", *file_options]
    code, _, err = invoke(*home, *sweep)
    assert code == 0, err


def test_pr_open_on_the_local_forge_with_the_default_relative_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.github_standin import git, seed_bare_repo
    from tests.github_standin.fixtures import seed_files
    from tests.gitops.proposals import realistic_proposal

    bare = seed_bare_repo(tmp_path, seed_files())
    work = tmp_path / "work"
    git("clone", "--quiet", str(bare.path), str(work), cwd=tmp_path)
    proposal = tmp_path / "proposal.json"
    proposal.write_text(json.dumps(realistic_proposal()))
    monkeypatch.chdir(work)  # as a user runs it: --home defaults to the relative .tradeloop/
    args = ["pr", "open", "--proposal", str(proposal), "--forge", "local"]
    code, out, err = invoke(*args, "--dry-run")
    assert code == 0, err
    assert out.count("dry run") == 1, out
    code, out, err = invoke(*args)
    assert code == 0, err
    assert out.startswith("created #1 file://"), out


def test_a_group_without_its_command_says_so() -> None:
    code, _, err = invoke("data")
    assert code == 2
    assert err.strip().splitlines()[-1] == (
        "error: `tradeloop data` needs a command: list, show, check, export (see `tradeloop data --help`)"
    )


def test_an_unknown_command_under_json_is_a_json_error_too() -> None:
    code, out, err = invoke("--json", "backtst")
    assert code == 2
    error = json.loads(out)["error"]
    assert error["type"] == "UsageError" and "Did you mean 'backtest'?" in error["message"]
    assert err.startswith("error: No such command 'backtst'.")


def test_a_typo_in_the_loadouts_cadence_gets_did_you_mean(tmp_path: Path) -> None:
    args = ["loadouts", "propose", "-s", "rsi_reversion", "--symbol", "DEMO", "--cadence", "weekley"]
    code, _, err = invoke("--home", str(tmp_path), "--repo", str(REPO_ROOT), *args)
    assert code == 2 and "--cadence 'weekley' is not a cadence. Did you mean weekly? Use one of" in err


def test_the_failed_checks_hint_keeps_the_loading_options_in_mind(tmp_path: Path) -> None:
    code, _, err = invoke(
        "--home", str(tmp_path), "backtest", "-s", "ema_cross", "-d", "synthetic", "--days", "30"
    )
    assert code == 2
    assert "`tradeloop data check synthetic` with the same loading options (--map, --days, ...)" in err


def test_sweep_sorted_by_drawdown_shows_the_smallest_first(tmp_path: Path) -> None:
    args = [
        "--home",
        str(tmp_path),
        "--json",
        "sweep",
        "-s",
        "ema_cross",
        "-d",
        "sp500",
        "-g",
        "ema_fast=5:30:5",
    ]
    code, out, err = invoke(*args, "--sort", "max_drawdown_pct", "--top", "6")
    assert code == 0, err
    drawdowns = [row["max_drawdown_pct"] for row in json.loads(out)["top"]]
    assert drawdowns == sorted(drawdowns), drawdowns
    code, out, err = invoke(*args, "--sort", "sharpe", "--top", "6")
    sharpes = [row["sharpe"] for row in json.loads(out)["top"]]
    assert sharpes == sorted(sharpes, reverse=True), sharpes


def test_data_check_prints_each_findings_check_name(tmp_path: Path) -> None:
    lines = ["timestamp,open,high,low,close,volume"]
    lines += [f"{1_577_836_800 + 86_400 * i},10,11,9,10.5,100" for i in range(100)]
    lines[5] = f"{1_577_836_800 + 86_400 * 4},10,11,9,nan,-5"
    bad = tmp_path / "bad.csv"
    bad.write_text("\n".join(lines) + "\n")
    code, out, _ = invoke("--home", str(tmp_path), "data", "check", str(bad))
    assert code == 1, out
    assert f"error [nan] {bad}: row 5" in out
    assert f"error [negative_volume] {bad}: row 5" in out


def test_a_typo_in_the_fill_or_direction_gets_did_you_mean(tmp_path: Path) -> None:
    run = ["--home", str(tmp_path), "backtest", "-s", "ema_cross", "-d", "sp500"]
    code, _, err = invoke(*run, "--fill", "clse")
    assert code == 2 and "'clse' is not a fill mode; use next_open or close. Did you mean close?" in err
    code, _, err = invoke(*run, "--direction", "long_shrt")
    assert code == 2 and "use long or long_short. Did you mean long_short?" in err


def test_paper_run_checks_its_feed_before_looking_for_rollouts(tmp_path: Path) -> None:
    # The shipped state has no rollout: the run used to print "no rollouts" and exit 0 on any --feed.
    base = ["--home", str(tmp_path), "--repo", str(REPO_ROOT), "paper", "run", "--feed"]
    code, _, err = invoke(*base, str(tmp_path / "missing.csv"))
    assert code == 2 and "missing.csv: no such file" in err
    code, _, err = invoke(*base, "revertng")
    assert code == 2 and "Did you mean 'reverting'?" in err
    code, out, err = invoke(*base, "reverting")
    assert code == 0 and "no rollouts" in out, err
