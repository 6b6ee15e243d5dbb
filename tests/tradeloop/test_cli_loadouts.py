"""``tradeloop loadouts propose`` end to end on real git, the shipped bars and the local forge.

- the demo pair (seeded reverting market, 15-minute bars): the sideways regime's loadout is searched on its
  search bars, beats the set in force on its holdout bars (paired test) and is published as a loadouts-only
  pull request on its own branch, which ``pr check`` passes; an identical rerun pushes nothing;
- the real daily pair: every regime has too few holdout trades, keeps its set, and the table says why.
"""

from __future__ import annotations

import json
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gitops import branch_name
from tests.tradeloop.test_cli_ensemble import T0, git
from tradeloop.cli import app

runner = CliRunner()
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    (repo / "config").mkdir(parents=True)
    for path in ("config/constants.py", "feature_flags.json"):
        shutil.copyfile(ROOT / path, repo / path)
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "The shipped state")
    return repo


def cli(repo: Path, *args: str) -> Any:
    result = runner.invoke(
        app, ["--repo", str(repo), "--home", str(repo.parent / "home"), "--json", *args],
        env={"TRADELOOP_NOW": (T0 + timedelta(days=1)).isoformat()},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def propose(repo: Path, strategy: str, symbol: str, *extra: str) -> Any:
    return cli(repo, "loadouts", "propose", "-s", strategy, "--symbol", symbol, "--samples", "12", *extra)


def test_a_validated_loadout_is_its_own_pr_that_pr_check_passes(repo: Path) -> None:
    report = propose(repo, "rsi_reversion", "DEMO", "--apply", "--forge", "local")
    assert report["status"] == "proposed" and report["action"] == "created" and report["pr_number"] == 1
    regimes = {r["regime"]: r for r in report["regimes"]}
    sideways = regimes["sideways"]
    assert sideways["changed"] and sideways["p_value"] < 0.05 and sideways["holdout_trades"] >= 30
    assert sideways["sharpe_after"] > sideways["sharpe_before"]
    for name in ("bull", "bear", "high_vol"):
        assert not regimes[name]["changed"]
        assert regimes[name]["reason"] == f"kept: 0 {name} search bars, fewer than 60 to search on"
    branch = "tradeloop/loadouts/rsi_reversion/DEMO"
    assert report["branch"] == branch != branch_name("rsi_reversion", "DEMO", "15m")
    assert git(repo, "diff", "--name-only", "main", branch) == "config/constants.py"
    diff = git(repo, "diff", "-U0", "main", branch)
    changed = [line for line in diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")]
    [old, new] = [line for line in changed if line[1:].startswith("REGIME_LOADOUTS")]
    assert old == "-REGIME_LOADOUTS: Final = {}"
    moved = {k: v for k, v in sideways["after"].items() if v != sideways["before"][k]}
    assert new.startswith('+REGIME_LOADOUTS: Final = {"rsi_reversion": {"DEMO": {"sideways": {')
    assert moved and all(f'"{name}"' in new for name in moved)
    assert all("LIVE_PARAMS" not in line for line in changed)
    checked = cli(repo, "pr", "check", "--pr", "1", "--forge", "local")
    assert checked["passed"] is True, checked
    head = git(repo, "rev-parse", branch)
    again = propose(repo, "rsi_reversion", "DEMO", "--apply", "--forge", "local")
    assert (again["action"], again["pr_number"]) == ("none", 1)
    assert git(repo, "rev-parse", branch) == head


def test_regimes_with_too_few_holdout_trades_keep_their_set_and_say_why(repo: Path) -> None:
    report = propose(repo, "rsi_reversion", "SP500")
    assert report["status"] == "no_change" and report["pr_number"] is None
    sideways = next(r for r in report["regimes"] if r["regime"] == "sideways")
    assert not sideways["changed"] and sideways["holdout_trades"] < 30
    assert sideways["reason"] == (
        f"kept: {sideways['holdout_trades']} holdout trades in sideways bars, fewer than MIN_TRADES = 30"
    )


def test_a_pair_in_its_cooldown_gets_no_loadouts_and_says_why(repo: Path) -> None:
    constants = repo / "config" / "constants.py"
    constants.write_text(constants.read_text().replace('"rsi_period": 6,', '"rsi_period": 7,'))
    git(repo, "commit", "-q", "-am", "rsi_reversion/DEMO: a person's change", at=T0 + timedelta(hours=20))
    report = propose(repo, "rsi_reversion", "DEMO")
    assert report["status"] == "no_change" and report["regimes"] == []
    assert report["reason"].startswith("cooldown: the last applied change of rsi_reversion/DEMO was at")
