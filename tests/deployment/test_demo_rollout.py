"""``tradeloop demo rollout`` end to end: the demo pair's validated proposal from the merge to FULL.

On the demo market's held-back bars and a simulated clock (one step a day), the real paper run, the simulated
bot (consumer contract in, ``deploy ingest`` out), ``deploy step`` on the local forge and ``pr check`` take
the rollout COLD → WARM → LIMITED → FULL through three deployment pull requests a person merges; the
replaced parameters keep being paper-traded after FULL. With a planted degradation (the canary's live fills
cost 200 bps more, which paper trading does not see) the same run stops at LIMITED and says why.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from deployment import ReplayFeed, paper_run, read_plan
from gitops import load_state
from tradeloop.cli import app
from tradeloop.loop import DEMO_PROPOSAL, demo_market
from warehouse import Warehouse

REPO_ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


def _demo_rollout(tmp_path: Path, *extra: str) -> dict[str, Any]:
    result = runner.invoke(app, ["--repo", str(REPO_ROOT), "--home", str(tmp_path / "home"), "--json", "demo",
                                 "rollout", "--out", str(tmp_path / "run"), *extra])  # fmt: skip
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.stdout))


def test_the_demo_proposal_goes_from_the_merge_to_full_on_evidence(tmp_path: Path) -> None:
    run = _demo_rollout(tmp_path)
    assert (run["outcome"], run["stage"], run["phase"]) == ("FULL", "FULL", "succeeded"), run["reason"]
    assert [move["move"] for move in run["moves"]] == ["COLD → WARM", "WARM → LIMITED", "LIMITED → FULL"]
    assert all(move["pr_check_passed"] and move["merge_commit"] for move in run["moves"])
    cold, warm, limited = ({c["name"]: c for c in move["checks"]} for move in run["moves"])
    assert cold["trades"]["figure"] >= 30 and cold["sharpe"]["outcome"] == "pass"
    assert warm["trades"]["figure"] >= 10 and warm["non_inferiority"]["outcome"] == "pass"
    assert limited["winning_trades"]["figure"] >= 10 and limited["harm"]["outcome"] == "pass"
    evidence = run["evidence"]
    assert evidence["candidate_paper_trades"] >= 10 and evidence["candidate_live_trades"] >= 10
    assert evidence["previous_live_equity"] > 0 and evidence["candidate_live_equity"] > 0

    repo = Path(run["repo"])
    [pair] = [p for p in read_plan(repo).pairs if p.key == "rsi_reversion/DEMO"]
    assert [(s.role, s.mode, s.capital_fraction) for s in pair.sets] == [("candidate", "live", 1.0)]
    bodies = sorted((tmp_path / "run" / "home" / "forge").glob("*.md"))
    assert bodies and "### Evidence (LIMITED" in "".join(body.read_text() for body in bodies)

    # After FULL, the replaced parameters are still paper-traded: the monitor's counterfactual.
    constants, flags = load_state(repo)
    rollout = flags.rollout("rsi_reversion", "DEMO")
    assert rollout is not None and rollout.previous_config_hash is not None
    full_at = datetime.fromisoformat(run["moves"][-1]["at"])
    feed = ReplayFeed("demo", demo_market(60))
    with Warehouse(run["warehouse_url"]) as warehouse:
        [after] = paper_run(constants, flags, lambda *_: feed, warehouse, tmp_path / "run" / "paper",
                            full_at + timedelta(days=2))  # fmt: skip
        shadow = warehouse.equity_points("rsi_reversion", "DEMO", rollout.previous_config_hash, "paper",
                                         start=full_at)  # fmt: skip
    assert [s.role for s in after.sets] == ["candidate", "previous"]
    assert len(shadow) == 2 * 96


def test_a_planted_degradation_stops_the_rollout_at_limited_and_says_why(tmp_path: Path) -> None:
    run = _demo_rollout(tmp_path, "--degrade-bps", "200")
    assert (run["outcome"], run["stage"], run["phase"]) == ("failed", "LIMITED", "failed")
    assert [move["move"] for move in run["moves"]] == ["COLD → WARM", "WARM → LIMITED", "LIMITED → failed"]
    assert "3 failed analyses in LIMITED" in run["reason"] and "realised_loss_usd" in run["reason"]
    failed = {c["name"]: c for c in run["moves"][-1]["checks"]}
    assert failed["realised_loss_usd"]["outcome"] == "fail" and failed["realised_loss_usd"]["figure"] > 5
    repo = Path(run["repo"])
    [pair] = [p for p in read_plan(repo).pairs if p.key == "rsi_reversion/DEMO"]
    assert [(s.role, s.mode, s.capital_fraction) for s in pair.sets] == [("previous", "live", 1.0)]


def test_the_shipped_demo_proposal_is_the_one_the_cycle_wrote() -> None:
    golden = REPO_ROOT / "tests" / "gitops" / "golden" / "demo_proposal.json"
    assert DEMO_PROPOSAL.read_bytes() == golden.read_bytes()


def test_bad_options_are_refused_before_any_work(tmp_path: Path) -> None:
    used = tmp_path / "used"
    used.mkdir()
    (used / "keep.txt").write_text("mine", encoding="utf-8")
    base = ["--repo", str(REPO_ROOT), "--home", str(tmp_path / "home"), "demo", "rollout"]
    taken = runner.invoke(app, [*base, "--out", str(used)])
    assert taken.exit_code == 2 and "is not an empty directory" in taken.output
    assert sorted(p.name for p in used.iterdir()) == ["keep.txt"]
    still = runner.invoke(app, [*base, "--out", str(tmp_path / "new"), "--tick-hours", "0"])
    assert still.exit_code == 2 and "--tick-hours must be a number > 0, got 0" in still.output
    assert not (tmp_path / "new").exists()
