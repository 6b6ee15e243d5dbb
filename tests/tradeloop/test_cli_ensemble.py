"""``tradeloop ensemble propose`` end to end on real git, real bars and the local forge.

The ``repo`` fixture trades the three shipped live strategies on the shipped SP500 bars, with ``ema_cross``
churning at EMA 2/4 and ``ENSEMBLE_WEIGHTS`` in force. The ``demo`` fixture is the ensemble demo
(``tests/gitops/constants_text.py``): three live strategies on the seeded mean-reverting DEMO market with
weights that favour the two trend followers. The clock is injected with ``TRADELOOP_NOW`` relative to the
commit times: nothing sleeps.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gitops import parse_constants
from optimizer import EnsembleTarget
from tests.gitops.constants_text import ENSEMBLE_DEMO_WEIGHTS, ensemble_demo, without_donchian
from tradeloop import Settings
from tradeloop.cli import app
from tradeloop.loop import WeightsOptions, WeightsResult, publish_weights

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]
T0 = datetime.fromisoformat("2025-03-03T09:00:00+00:00")
IN_FORCE = (
    'ENSEMBLE_WEIGHTS: Final = {"SP500": {"donchian_breakout": 0.2, "ema_cross": 0.4, "rsi_reversion": 0.4}}'
)


def git(repo: Path, *args: str, at: datetime = T0) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "Ada", "GIT_AUTHOR_EMAIL": "ada@example.com",
           "GIT_COMMITTER_NAME": "Ada", "GIT_COMMITTER_EMAIL": "ada@example.com", "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_DATE": at.isoformat(), "GIT_COMMITTER_DATE": at.isoformat()}  # fmt: skip
    done = subprocess.run(
        ["git", "-C", str(repo), *args], env=env, check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


def _state_repo(repo: Path, constants: str, message: str) -> Path:
    """A git repository at ``repo`` holding ``constants`` and the shipped flags, committed a month before
    ``T0`` (out of every cooldown)."""
    (repo / "config").mkdir(parents=True)
    shutil.copyfile(ROOT / "feature_flags.json", repo / "feature_flags.json")
    (repo / "config" / "constants.py").write_text(constants)
    git(repo.parent, "init", "-q", "-b", "main", str(repo))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message, at=T0 - timedelta(days=30))
    return repo


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    text = (ROOT / "config" / "constants.py").read_text()
    text = text.replace(
        '"ema_fast": 12,\n            "ema_slow": 26,', '"ema_fast": 2,\n            "ema_slow": 4,'
    )
    repo = _state_repo(tmp_path / "repo", text, "Three strategies on SP500")
    (repo / "config" / "constants.py").write_text(text.replace("ENSEMBLE_WEIGHTS: Final = {}", IN_FORCE))
    git(repo, "commit", "-q", "-am", "SP500: weights")
    return repo


@pytest.fixture
def demo(tmp_path: Path) -> Path:
    """The ensemble demo, committed a month before ``T0`` (out of every cooldown)."""
    shipped = (ROOT / "config" / "constants.py").read_text()
    return _state_repo(tmp_path / "demo", ensemble_demo(shipped), "Three strategies on DEMO")


def propose(repo: Path, now: datetime, *extra: str, symbol: str = "SP500") -> tuple[int, Any]:
    """``tradeloop --json ensemble propose`` on the local forge; SP500 reads the shipped ``sp500`` bars, other
    symbols their source in the shipped ``backtest_matrix/matrix.yaml``."""
    data = ["--data", "sp500"] if symbol == "SP500" else []
    result = runner.invoke(
        app,
        ["--repo", str(repo), "--home", str(repo.parent / "home"), "--json", "ensemble", "propose",
         "--symbol", symbol, *data, "--forge", "local", *extra],
        env={"TRADELOOP_NOW": now.isoformat()},
    )  # fmt: skip
    return result.exit_code, json.loads(result.stdout) if result.exit_code == 0 else result.stderr


def changed_lines(repo: Path, branch: str) -> list[str]:
    """The lines of ``config/constants.py`` that ``branch`` adds or removes against ``main``."""
    diff = git(repo, "diff", "main", branch, "--", "config/constants.py")
    return [
        line
        for line in diff.splitlines()
        if line.startswith(("+", "-")) and not line.startswith(("+++", "---"))
    ]


def only_weights_and_provenance(changed: list[str]) -> bool:
    """Every changed line is ``ENSEMBLE_WEIGHTS`` or the provenance the writer stamps."""
    return all("ENSEMBLE_WEIGHTS" in line or "PROVENANCE" in line or "run_id" in line or "git_sha" in line
               or "written_at" in line or "run id:" in line or "git sha:" in line or "written at:" in line
               for line in changed)  # fmt: skip


def test_weights_that_do_not_beat_those_in_force_on_the_holdout_open_no_pr(repo: Path) -> None:
    code, report = propose(repo, T0 + timedelta(days=2), "--apply")
    assert code == 0, report
    assert report["status"] == "rejected" and report["pr_number"] is None and report["action"] == "none"
    weights = report["weights"]
    assert weights["before"] == {"donchian_breakout": 0.2, "ema_cross": 0.4, "rsi_reversion": 0.4}
    after = weights["after"]
    assert sum(after.values()) == pytest.approx(1.0, abs=1e-9)
    assert all(0.05 <= share <= 0.4 for share in after.values())
    assert weights["turnover"] <= 0.2 and weights["method"] == "max_sharpe"
    holdout = report["holdout"]
    assert holdout["bars"] == 189 and holdout["passed"] is False and holdout["p_value"] >= 0.05
    assert report["reason"].startswith(
        "on 189 holdout bars the proposed weights do not beat the weights in force"
    )
    assert git(repo, "branch", "--list", "tradeloop/ensemble/*") == ""


def test_a_symbol_in_its_cooldown_gets_no_weights_and_says_why(repo: Path) -> None:
    code, report = propose(repo, T0 + timedelta(hours=1))
    assert code == 0, report
    assert report["status"] == "no_change" and report["weights"] is None
    assert report["reason"].startswith("donchian_breakout/SP500: cooldown:")


def test_bounds_that_two_strategies_cannot_meet_are_a_clear_error(tmp_path: Path) -> None:
    repo = tmp_path / "two"
    (repo / "config").mkdir(parents=True)
    shutil.copyfile(ROOT / "feature_flags.json", repo / "feature_flags.json")
    text = without_donchian((ROOT / "config" / "constants.py").read_text())  # SP500: two strategies
    (repo / "config" / "constants.py").write_text(text)
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "two strategies on SP500")
    code, error = propose(repo, T0 + timedelta(days=2))
    assert code == 2
    assert "ensemble weight bounds [0.05, 0.4] are infeasible for 2 strategies" in error
    code, error = (
        runner.invoke(app, ["--repo", str(repo), "ensemble", "propose", "--symbol", "NASDAQ"]).exit_code,
        "",
    )
    assert code == 2


def test_a_proposal_is_published_as_a_weights_only_pr_and_not_pushed_again(repo: Path) -> None:
    target = EnsembleTarget(
        "max_sharpe", {"donchian_breakout": 0.2, "ema_cross": 0.4, "rsi_reversion": 0.4},
        {"donchian_breakout": 0.35, "ema_cross": 0.25, "rsi_reversion": 0.4},
        {"donchian_breakout": 0.4, "ema_cross": 0.2, "rsi_reversion": 0.4}, 0.15, "sideways",
        {"donchian_breakout": 1e-4, "ema_cross": -1e-4, "rsi_reversion": 1e-4},
        {"donchian_breakout": 0.1, "ema_cross": -0.2, "rsi_reversion": 0.1},
        {"donchian_breakout": 0.5, "ema_cross": 0.5, "rsi_reversion": 0.5},
        {"donchian_breakout": 5e-6, "ema_cross": -1e-5, "rsi_reversion": 5e-6},
    )  # fmt: skip
    proposed = WeightsResult(
        "SP500",
        "1d",
        "proposed",
        "validated",
        target,
        {},
        "## Ensemble weights for SP500",
        "tradeloop/ensemble/SP500",
    )
    settings = dataclasses.replace(Settings.from_env(), repo=repo, home=repo.parent / "home")
    options = WeightsOptions(symbol="SP500", apply=True, forge="local")
    first = publish_weights(settings, options, proposed)
    assert (first.action, first.pr_number) == ("created", 1)
    changed = changed_lines(repo, "tradeloop/ensemble/SP500")
    assert [line for line in changed if "ENSEMBLE_WEIGHTS" in line] == [
        "-" + IN_FORCE,
        '+ENSEMBLE_WEIGHTS: Final = {"SP500": {"donchian_breakout": 0.35, "ema_cross": 0.25, '
        '"rsi_reversion": 0.4}}',
    ]
    assert only_weights_and_provenance(changed), changed
    head = git(repo, "rev-parse", "tradeloop/ensemble/SP500")
    branch_text = git(repo, "show", f"{head}:config/constants.py")
    assert parse_constants(branch_text).ensemble_weights["SP500"] == target.after
    checked = runner.invoke(
        app, ["--repo", str(repo), "--home", str(settings.home), "--json", "pr", "check", "--pr", "1",
              "--forge", "local"],
    )  # fmt: skip
    assert checked.exit_code == 0, checked.output
    assert json.loads(checked.stdout)["passed"] is True
    again = publish_weights(settings, options, proposed)
    assert (again.action, again.pr_number) == ("none", 1)
    assert git(repo, "rev-parse", "tradeloop/ensemble/SP500") == head


def test_stale_demo_weights_move_to_the_reverting_strategy_in_a_weights_only_pr(demo: Path) -> None:
    code, report = propose(demo, T0 + timedelta(days=2), "--apply", symbol="DEMO")
    assert code == 0, report
    assert (report["status"], report["action"], report["pr_number"]) == ("proposed", "created", 1), report
    weights = report["weights"]
    before, after = weights["before"], weights["after"]
    assert before == ENSEMBLE_DEMO_WEIGHTS and weights["method"] == "max_sharpe"
    assert sum(after.values()) == pytest.approx(1.0, abs=1e-9)
    assert all(0.05 <= share <= 0.4 for share in after.values())
    turnover = 0.5 * sum(abs(after[name] - before[name]) for name in after)
    assert weights["turnover"] == pytest.approx(turnover, abs=1e-4) and turnover <= 0.2
    # The capital moves from the trend followers to the strategy that trades the reversion.
    assert after["rsi_reversion"] > before["rsi_reversion"]
    assert all(after[name] <= before[name] for name in ("donchian_breakout", "ema_cross"))
    # The holdout is the last quarter (VALIDATION_HOLDOUT_FRACTION) of the year of 15-minute bars.
    holdout = report["holdout"]
    assert holdout["bars"] == 365 * 96 // 4 and holdout["passed"] is True
    assert holdout["p_value"] < holdout["alpha"] == 0.05 and holdout["delta_sharpe"] > holdout["margin"]
    assert holdout["after"]["sharpe"] > holdout["before"]["sharpe"]
    assert report["reason"].startswith(f"on {holdout['bars']} holdout bars the proposed weights beat")

    changed = changed_lines(demo, "tradeloop/ensemble/DEMO")
    assert [line[0] for line in changed if "ENSEMBLE_WEIGHTS" in line] == ["-", "+"]
    assert only_weights_and_provenance(changed), changed
    head = git(demo, "rev-parse", "tradeloop/ensemble/DEMO")
    assert parse_constants(git(demo, "show", f"{head}:config/constants.py")).ensemble_weights["DEMO"] == after
    checked = runner.invoke(
        app, ["--repo", str(demo), "--home", str(demo.parent / "home"), "--json", "pr", "check", "--pr", "1",
              "--forge", "local"],
    )  # fmt: skip
    assert checked.exit_code == 0 and json.loads(checked.stdout)["passed"] is True, checked.output

    code, again = propose(demo, T0 + timedelta(days=2), "--apply", symbol="DEMO")
    assert code == 0, again
    assert (again["status"], again["action"], again["pr_number"]) == ("proposed", "none", 1)
    assert git(demo, "rev-parse", "tradeloop/ensemble/DEMO") == head
