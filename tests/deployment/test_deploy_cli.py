"""``tradeloop deploy`` end to end through the CLI on a real git repository and the local forge.

A merged optimizer change walks COLD → WARM → LIMITED → FULL: COLD on a backtest of the seeded reverting
market, WARM and LIMITED on the evidence the bot reports (``deploy ingest``); every move is a deployment pull
request that ``pr check`` accepts for the evidence it carries and a person merges. The guardrails stop the
bad cases: no data fails the rollout, a jump or a move without evidence is refused by ``pr check``.
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

from deployment import deploy_branch
from gitops import BotIdentity, LocalForge, build_commit, load_feature_flags, save_feature_flags
from tests.deployment.conftest import (
    KEY,
    PAIR,
    T0,
    DeployRepo,
    bot_rows,
    git,
    merge_optimizer_change,
    write_csv,
    write_jsonl,
)
from tradeloop import Provenance
from warehouse import Warehouse

BRANCH = deploy_branch(*PAIR)
MONTH = timedelta(days=30)


def _demo(plan: dict[str, Any]) -> dict[str, Any]:
    return next(pair for pair in plan["pairs"] if (pair["strategy"], pair["symbol"]) == PAIR)


def _step(target: DeployRepo, now: Any, *extra: str) -> dict[str, Any]:
    out = target.cli(
        "deploy", "step", "--forge", "local", "--data", "reverting", *extra, now=now, json_output=True
    )
    assert isinstance(out, dict), out.output
    [rollout] = out["rollouts"]
    return dict(rollout)


def _check_pr(target: DeployRepo, number: int) -> tuple[int, dict[str, Any]]:
    result = target.cli("--json", "pr", "check", "--forge", "local", "--pr", str(number))
    return result.exit_code, json.loads(result.stdout)


def _hashes(target: DeployRepo) -> tuple[str, str]:
    rollout = load_feature_flags(target.repo / "feature_flags.json").rollout(*PAIR)
    assert rollout is not None and rollout.previous_config_hash is not None
    return rollout.config_hash, rollout.previous_config_hash


def test_a_merged_change_walks_cold_warm_limited_full_through_pull_requests(
    deploy_repo: DeployRepo, tmp_path: Path
) -> None:
    target = deploy_repo
    merge_optimizer_change(target)
    new_hash, old_hash = _hashes(target)
    pair = _demo(target.cli("deploy", "plan", json_output=True))
    assert (pair["stage"], [s["role"] for s in pair["sets"]]) == ("COLD", ["previous"])
    assert pair["sets"][0]["params"]["rsi_period"] == 6 and pair["sets"][0]["config_hash"] == old_hash

    early = _step(target, T0 + timedelta(minutes=30))
    assert not early["analyzed"] and "first analysis of COLD due at" in early["notes"][0]

    # COLD: a month of bars the search never saw; the backtest clears every COLD threshold.
    cold = _step(target, T0 + MONTH)
    assert cold["verdict"]["decision"] == "promote", cold["checks"]
    checks = {check["name"]: check for check in cold["checks"]}
    assert checks["trades"]["figure"] >= 30 and checks["sharpe"]["figure"] >= 0.5
    assert cold["pull_request"]["action"] == "created"
    number = cold["pull_request"]["number"]
    tip = git(target.repo, "rev-parse", BRANCH)
    # The next interval decides the same: nothing is pushed, the pull request keeps its checks and reviews.
    again = _step(target, T0 + MONTH + timedelta(hours=1))
    assert (
        again["pull_request"]["action"] == "none"
        and "already proposes COLD → WARM" in again["pull_request"]["reason"]
    )
    assert git(target.repo, "rev-parse", BRANCH) == tip
    code, report = _check_pr(target, number)
    assert code == 0 and report["passed"], report["violations"]

    t1 = T0 + MONTH + timedelta(hours=2)
    target.merge(BRANCH, t1)
    pair = _demo(target.cli("deploy", "plan", json_output=True))
    assert [(s["role"], s["mode"], s["capital_fraction"]) for s in pair["sets"]] == [
        ("previous", "live", 1.0), ("candidate", "paper", 0.0),
    ]  # fmt: skip

    # WARM: twelve hours of paper trading beside the live previous parameters, reported by the bot.
    warm_rows = bot_rows(start=t1, bars=48, candidate=(new_hash, "paper"), baseline=(old_hash, "live"),
                         edge=0.0004, trades=(9, 3, 5, 5), seed=1)  # fmt: skip
    export = write_csv(tmp_path / "warm.csv", warm_rows)
    stored = target.cli("deploy", "ingest", str(export), json_output=True)
    assert (stored["trades_new"], stored["equity_new"]) == (22, 96)
    again_stored = target.cli("deploy", "ingest", str(export), json_output=True)
    assert (again_stored["trades_new"], again_stored["trades_known"], again_stored["equity_known"]) == (
        0,
        22,
        96,
    )
    warm = _step(target, t1 + timedelta(hours=12))
    assert warm["stage"] == "WARM" and warm["verdict"]["decision"] == "promote", warm["checks"]
    code, report = _check_pr(target, warm["pull_request"]["number"])
    assert code == 0, report["violations"]
    t2 = t1 + timedelta(hours=13)
    target.merge(BRANCH, t2)
    pair = _demo(target.cli("deploy", "plan", json_output=True))
    assert [(s["role"], s["capital_fraction"]) for s in pair["sets"]] == [
        ("candidate", 0.1),
        ("previous", 0.9),
    ]

    # LIMITED: a day of the canary trading live beside the previous parameters.
    limited_rows = bot_rows(start=t2, bars=104, candidate=(new_hash, "live"), baseline=(old_hash, "live"),
                            edge=0.0004, trades=(11, 3, 6, 6), seed=2, capital=(100.0, 900.0))  # fmt: skip
    target.cli("deploy", "ingest", str(write_jsonl(tmp_path / "limited.jsonl", limited_rows)))
    held = _step(target, t2 + timedelta(hours=12))
    assert held["verdict"]["decision"] == "hold"
    assert "dwell" in held["verdict"]["waiting_for"]  # 48 of LIMITED's 96 bars on 15m
    limited = _step(target, t2 + timedelta(hours=26))
    assert limited["verdict"]["decision"] == "promote", limited["checks"]
    code, report = _check_pr(target, limited["pull_request"]["number"])
    assert code == 0, report["violations"]
    target.merge(BRANCH, t2 + timedelta(hours=27))

    pair = _demo(target.cli("deploy", "plan", json_output=True))
    assert (pair["stage"], pair["phase"]) == ("FULL", "succeeded")
    assert [(s["role"], s["mode"], s["capital_fraction"]) for s in pair["sets"]] == [
        ("candidate", "live", 1.0)
    ]
    assert target.cli("state", "check").exit_code == 0
    status = target.cli("deploy", "status", now=t2 + timedelta(hours=28), json_output=True)
    [row] = status["rollouts"]
    assert (row["stage"], row["phase"], row["canary_fraction"]) == ("FULL", "succeeded", 1.0)
    with Warehouse(f"sqlite:///{target.home / 'warehouse.db'}") as warehouse:
        recorded = warehouse.rollout_checks(*PAIR)
    assert {r.stage for r in recorded} == {"COLD", "WARM", "LIMITED"}
    assert {r.name for r in recorded if r.stage == "WARM"} >= {"harm", "non_inferiority", "sharpe_gain_pct"}


def _warm_on_main(target: DeployRepo) -> None:
    """main with the demo rollout in WARM since T0 + a month (a person's commit: no evidence needed here)."""
    merge_optimizer_change(target)
    flags = load_feature_flags(target.repo / "feature_flags.json")
    rollout = flags.rollout(*PAIR)
    assert rollout is not None
    from dataclasses import replace

    from gitops import Stage

    warm = replace(rollout, stage=Stage.WARM, updated_at=T0 + MONTH)
    save_feature_flags(target.repo / "feature_flags.json", flags.with_rollout(*PAIR, warm),
                       Provenance(run_id="by-hand", git_sha="nogit"))  # fmt: skip
    git(target.repo, "commit", "-q", "-am", "WARM by hand", at=T0 + MONTH)


def test_no_data_fails_the_rollout_after_three_failed_analyses(deploy_repo: DeployRepo) -> None:
    target = deploy_repo
    _warm_on_main(target)
    for hour in (1, 2):
        held = _step(target, T0 + MONTH + timedelta(hours=hour))
        assert held["verdict"]["decision"] == "hold" and held["verdict"]["outcome"] == "fail"
        data = next(check for check in held["checks"] if check["name"] == "data")
        assert (data["outcome"], data["figure"]) == ("fail", 0.0)
        assert held["verdict"]["failed_checks"] == hour
    failed = _step(target, T0 + MONTH + timedelta(hours=3))
    assert failed["verdict"]["decision"] == "fail" and failed["verdict"]["phase"] == "failed"
    assert "3 failed analyses in WARM" in failed["verdict"]["reason"]
    code, report = _check_pr(target, failed["pull_request"]["number"])
    assert code == 0, report["violations"]
    target.merge(BRANCH, T0 + MONTH + timedelta(hours=4))
    pair = _demo(target.cli("deploy", "plan", json_output=True))
    assert (pair["stage"], pair["phase"]) == ("WARM", "failed")
    assert [(s["role"], s["mode"], s["capital_fraction"]) for s in pair["sets"]] == [
        ("previous", "live", 1.0)
    ]


def _hand_made_pr(target: DeployRepo, branch: str, edit: Any) -> int:
    """A person's pull request whose one commit edits the demo rollout of main's feature_flags.json."""
    document = json.loads(target.file("feature_flags.json"))
    edit(document["rollouts"][KEY])
    text = json.dumps(document, indent=2) + "\n"
    base = git(target.repo, "rev-parse", "main")
    sha = build_commit(target.repo, base, {"feature_flags.json": text.encode()}, branch, BotIdentity())
    git(target.repo, "update-ref", f"refs/heads/{branch}", sha)
    forge = LocalForge(target.repo, home=target.home)
    return forge.open_or_update(branch=branch, base="main", title=branch, body="", existing=None).number


def test_pr_check_refuses_a_jump_and_a_move_without_evidence(deploy_repo: DeployRepo) -> None:
    target = deploy_repo
    merge_optimizer_change(target)

    def jump(rollout: dict[str, Any]) -> None:
        rollout.update(stage="FULL", phase="succeeded", canary_fraction=1.0)

    code, report = _check_pr(target, _hand_made_pr(target, "jump", jump))
    assert code == 1
    [violation] = report["violations"]
    assert violation == (
        "feature_flags.json: rollouts.rsi_reversion/DEMO.stage moves COLD → FULL, skipping WARM, LIMITED; "
        "stages advance one at a time, each on its own evidence: move it to WARM"
    )

    def bare(rollout: dict[str, Any]) -> None:
        rollout.update(stage="WARM")

    code, report = _check_pr(target, _hand_made_pr(target, "bare", bare))
    assert code == 1
    assert report["violations"] == [
        "feature_flags.json: rollouts.rsi_reversion/DEMO moves COLD → WARM without evidence (status is "
        "null); "
        "a promotion carries the analysis of COLD that passed: run `tradeloop deploy step`, which writes the "
        "analysis into the move"
    ]


def test_pr_check_refuses_evidence_held_to_other_thresholds(deploy_repo: DeployRepo) -> None:
    target = deploy_repo
    merge_optimizer_change(target)
    cold = _step(target, T0 + MONTH)
    assert cold["verdict"]["decision"] == "promote"
    moved = json.loads(git(target.repo, "show", f"{BRANCH}:feature_flags.json"))["rollouts"][KEY]

    def forged(rollout: dict[str, Any]) -> None:
        rollout.update(moved)
        sharpe = next(check for check in rollout["status"]["checks"] if check["name"] == "sharpe")
        sharpe.update(threshold=0.1)

    code, report = _check_pr(target, _hand_made_pr(target, "forged", forged))
    assert code == 1
    [violation] = report["violations"]
    assert violation.startswith(
        "feature_flags.json: rollouts.rsi_reversion/DEMO.status.checks.sharpe is held to >= 0.1, but "
        "config/constants.py sets >= 0.5 for COLD on 15m bars"
    )


def test_apply_writes_the_analysis_into_the_working_tree(deploy_repo: DeployRepo) -> None:
    target = deploy_repo
    merge_optimizer_change(target)
    before = load_feature_flags(target.repo / "feature_flags.json").rollout(*PAIR)
    out = target.cli(
        "deploy", "step", "--apply", "--data", "reverting", now=T0 + timedelta(hours=2), json_output=True
    )
    [rollout] = out["rollouts"]
    assert rollout["verdict"]["decision"] == "hold"  # two hours of bars: too few trades, it waits
    after = load_feature_flags(target.repo / "feature_flags.json").rollout(*PAIR)
    assert after is not None and before is not None
    assert after.stage == before.stage and after.status is not None
    assert after.status.decision == "hold" and after.status.check("trades") is not None
    assert target.cli("state", "check").exit_code == 0
    refused = target.cli("deploy", "step", "--apply", "--forge", "local")
    assert refused.exit_code == 2 and "drop --forge or --apply" in refused.stderr


def test_status_shows_stage_time_in_stage_last_checks_and_what_it_waits_for(deploy_repo: DeployRepo) -> None:
    target = deploy_repo
    empty = target.cli("deploy", "status")
    assert empty.exit_code == 0 and "no rollouts" in empty.stdout
    merge_optimizer_change(target)
    held = _step(target, T0 + timedelta(hours=2))
    assert held["verdict"]["decision"] == "hold"
    result = target.cli("deploy", "status", now=T0 + timedelta(hours=2, minutes=30))
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert (
        "rsi_reversion/DEMO COLD (progressing) at 0 of the capital, 10.0 bars of 15m in stage since "
        "2024-06-01" in text
    )
    assert "waits for: trades" in text and "(needs >= 30)" in text
    assert "next analysis: 2024-06-01T03:00:00+00:00" in text
    document = target.cli("deploy", "status", now=T0 + timedelta(hours=2, minutes=30), json_output=True)
    [row] = document["rollouts"]
    assert (row["stage"], row["bars_in_stage"], row["last_analysis"]["decision"]) == ("COLD", 10.0, "hold")
    assert {check["name"] for check in row["last_analysis"]["checks"]} >= {
        "trades",
        "sharpe",
        "dwell",
        "deadline",
    }


def test_a_declined_move_is_not_proposed_again_and_a_stale_one_is_closed(deploy_repo: DeployRepo) -> None:
    target = deploy_repo
    merge_optimizer_change(target)
    first = _step(target, T0 + MONTH)
    number = first["pull_request"]["number"]
    forge = LocalForge(target.repo, home=target.home)
    forge.close(forge.get_pr(number), delete_branch=True)  # a person says no
    declined = _step(target, T0 + MONTH + timedelta(hours=1))
    assert declined["verdict"]["decision"] == "promote"
    assert declined["pull_request"]["action"] == "none"
    assert f"#{number} made this move and was closed without merging" in declined["pull_request"]["reason"]
    assert git(target.repo, "branch", "--list", BRANCH) == ""

    # A move whose base moved on (the rollout failed by hand, say) is closed as tradeloop's own decision.
    other = deploy_repo.repo.parent / "other-home"
    fresh = DeployRepo(target.repo, other)
    opened = _step(fresh, T0 + MONTH + timedelta(hours=2))
    assert opened["pull_request"]["action"] == "created"
    flags = load_feature_flags(target.repo / "feature_flags.json")
    rollout = flags.rollout(*PAIR)
    assert rollout is not None
    from dataclasses import replace

    failed = replace(rollout, phase="failed", updated_at=T0 + MONTH + timedelta(hours=2))
    save_feature_flags(target.repo / "feature_flags.json", flags.with_rollout(*PAIR, failed),
                       Provenance(run_id="by-hand", git_sha="nogit"))  # fmt: skip
    git(target.repo, "commit", "-q", "-am", "fail the rollout by hand", at=T0 + MONTH + timedelta(hours=2))
    closed = _step(fresh, T0 + MONTH + timedelta(hours=3))
    assert closed["pull_request"]["action"] == "closed", closed
    assert "the move no longer applies" in closed["pull_request"]["reason"]
    pull = LocalForge(target.repo, home=other).get_pr(opened["pull_request"]["number"])
    assert pull.state == "closed" and pull.title.endswith(" - autoclosed") and not pull.merged
