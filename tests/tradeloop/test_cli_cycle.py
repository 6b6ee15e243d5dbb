"""``tradeloop cycle``: the whole loop on the embedded data, in a real git repository."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.validation.proposals import planted_bars, write_bars
from tradeloop.cli import app

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
SMALL_MATRIX = """\
symbols:
  SP500: sp500
  NASDAQ: nasdaq
  DEMO: reverting
strategies:
  ema_cross: [SP500]
timeframes: [1d]
windows: [365d, full]
neighbourhood:
  samples: 1
  seed: 7
"""
PLANTED_MATRIX = """\
symbols:
  DEMO: {source}
  SP500: sp500
  NASDAQ: nasdaq
strategies:
  rsi_reversion: [DEMO]
timeframes: [15m]
windows: [full]
neighbourhood:
  samples: 1
  seed: 7
"""
# The shipped demo pair (RSI 6, bands 35/55) on the tests' shorter planted market (a Parquet file).
PLANTED_LIVE: dict[str, str] = {}


def _git(*args: str, cwd: Path) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def _repo(tmp_path: Path, replacements: dict[str, str] | None = None, matrix: str = SMALL_MATRIX) -> Path:
    repo = tmp_path / "repo"
    (repo / "config").mkdir(parents=True)
    constants = (ROOT / "config" / "constants.py").read_text(encoding="utf-8")
    for old, new in (replacements or {}).items():
        assert old in constants, old
        constants = constants.replace(old, new)
    (repo / "config" / "constants.py").write_text(constants, encoding="utf-8")
    shutil.copy(ROOT / "feature_flags.json", repo / "feature_flags.json")
    (repo / "matrix.yaml").write_text(matrix, encoding="utf-8")
    _git("init", "-q", "-b", "main", cwd=repo)
    _git("add", "-A", cwd=repo)
    _git("-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-q", "-m", "live", cwd=repo)
    return repo


def _cycle(
    repo: Path, home: Path, *options: str, pair: tuple[str, str] = ("ema_cross", "SP500")
) -> dict[str, Any]:
    command = [
        "--json",
        "--repo",
        str(repo),
        "--home",
        str(home),
        "cycle",
        "--matrix",
        str(repo / "matrix.yaml"),
    ]
    command += ["--strategy", pair[0], "--symbol", pair[1], "--trials", "12", *options]
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 0, result.stdout + result.stderr
    document: dict[str, Any] = json.loads(result.stdout)
    return document


def test_a_cycle_runs_every_step_and_a_second_cycle_reuses_logs_and_study(tmp_path: Path) -> None:
    repo, home = _repo(tmp_path), tmp_path / "home"

    first = _cycle(repo, home, "--reps", "200")
    second = _cycle(repo, home, "--reps", "200")

    assert list(first["steps"])[:3] == ["matrix", "merge", "propose"]
    assert first["steps"]["matrix"]["ran"] == first["steps"]["matrix"]["cells"] > 0
    assert second["steps"]["matrix"]["ran"] == 0  # resumed from the kept log
    assert second["steps"]["merge"]["warehouse"]["inserted"] == 0
    assert first["decision"] in {"pass", "fail", "none"}
    assert Path(first["report"]).is_file() and Path(first["proposal"]).is_file()
    # The cycle ends with the home's dashboard, which shows the matrix it merged.
    site = Path(second["dashboard"])
    assert site == home / "cycle" / "dashboard" / "index.html" and (site.parent / "plotly.min.js").is_file()
    panels = {p["key"]: p for p in json.loads((site.parent / "dashboard.json").read_text())["panels"]}
    assert panels["matrix"]["rows"] > 0 and panels["matrix"]["start"] is not None
    same = ("decision", "outcome", "proposal_status")
    assert {key: second[key] for key in same} == {key: first[key] for key in same}
    assert second["steps"]["propose"]["proposal_hash"] == first["steps"]["propose"]["proposal_hash"]
    if first["proposal_status"] == "proposed":
        assert first["steps"]["validate"]["decision"] == first["decision"]
        body = Path(first["pr_body"]).read_text(encoding="utf-8")
        assert "tradeloop:metadata" in body and "`tradeloop rollback --pr`" in body
    else:
        assert first["outcome"].startswith("no change proposed: ")


def test_apply_commits_the_validated_proposal_on_its_branch(tmp_path: Path) -> None:
    """With the shipped thresholds, a planted improvement passes validation and is committed."""
    source = write_bars(planted_bars(), tmp_path / "data")
    repo = _repo(tmp_path, PLANTED_LIVE, PLANTED_MATRIX.format(source=source))
    home = tmp_path / "home"

    document = _cycle(repo, home, "--apply", "--cadence", "daily", pair=("rsi_reversion", "DEMO"))

    assert document["decision"] == "pass", document["outcome"]
    verdict = document["steps"]["validate"]
    assert verdict["decision"] == "pass"
    written = json.loads(Path(verdict["verdict"]).read_text(encoding="utf-8"))
    assert written["cis"]["reps"] == 2000  # BOOTSTRAP_REPLICATIONS, not a cycle-specific count
    opened = document["steps"]["pull request"]
    assert opened["action"] == "created" and opened["forge"] == "local"
    branch = opened["branch"]
    assert re.fullmatch(r"tradeloop/opt/rsi_reversion-DEMO-15m", branch)
    changed = _git("diff", "--name-only", f"main...{branch}", cwd=repo).split()
    assert set(changed) <= {"config/constants.py", "feature_flags.json"} and "config/constants.py" in changed
    assert _git("rev-parse", "--abbrev-ref", "HEAD", cwd=repo) == "main"  # the working tree was not switched
    # Both bodies, the cycle's and the local forge's, link the cycle's report relative to their own file.
    report = Path(document["report"]).resolve()
    forge_body = next((home / "runs").rglob("pr-tradeloop-opt-rsi_reversion-DEMO-15m.md"))
    for body_path in (Path(document["pr_body"]), forge_body):
        link = re.search(r"- Report: \[report\]\(([^)]+)\)", body_path.read_text(encoding="utf-8"))
        assert link is not None and not Path(link[1]).is_absolute(), body_path
        assert (body_path.parent / link[1]).resolve() == report


def test_the_shipped_cycle_reaches_a_validated_pull_request_for_the_demo_pair(tmp_path: Path) -> None:
    """The README's main job on the shipped state and matrix: the daily pairs end honestly in "not enough
    out-of-sample data", the demo pair in a validated proposal and the pull request it would open."""
    repo = tmp_path / "repo"
    (repo / "config").mkdir(parents=True)
    shutil.copy(ROOT / "config" / "constants.py", repo / "config" / "constants.py")
    shutil.copy(ROOT / "feature_flags.json", repo / "feature_flags.json")
    _git("init", "-q", "-b", "main", cwd=repo)
    _git("add", "-A", cwd=repo)
    _git("-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-q", "-m", "live", cwd=repo)
    result = CliRunner().invoke(
        app, ["--json", "--repo", str(repo), "--home", str(tmp_path / "home"), "cycle", "--trials", "12"]
    )
    assert result.exit_code == 0, result.stdout + result.stderr
    document = json.loads(result.stdout)
    pairs = {f"{p['strategy']}/{p['symbol']}": p for p in document["pairs"]}
    assert set(pairs) == {
        "ema_cross/NASDAQ", "ema_cross/SP500", "donchian_breakout/SP500", "rsi_reversion/DEMO",
        "rsi_reversion/SP500",
    }  # fmt: skip
    demo = pairs.pop("rsi_reversion/DEMO")
    assert (demo["decision"], demo["cadence"]) == ("pass", "daily"), demo["outcome"]
    assert demo["steps"]["pull request"]["action"] == "created" and demo["steps"]["pull request"]["dry_run"]
    assert Path(demo["pr_body"]).read_text(encoding="utf-8").startswith("**tradeloop** proposes")
    for pair in pairs.values():
        assert pair["outcome"].startswith("no change proposed: not enough out-of-sample data"), pair
    assert (document["decision"], document["pr_body"]) == ("pass", demo["pr_body"])
    # SP500 trades three live strategies: the cycle proposes their ensemble weights within the 5-40 % bounds
    # and the turnover cap, and judges them against the weights in force on the holdout.
    [ensemble] = document["ensembles"]
    assert ensemble["symbol"] == "SP500" and ensemble["status"] in {"proposed", "rejected", "no_change"}
    weights = ensemble["weights"]
    assert set(weights["after"]) == {"donchian_breakout", "ema_cross", "rsi_reversion"}
    assert sum(weights["after"].values()) == pytest.approx(1.0)
    assert all(0.05 - 1e-9 <= share <= 0.40 + 1e-9 for share in weights["after"].values())
    assert ensemble["holdout"]["bars"] > 0
