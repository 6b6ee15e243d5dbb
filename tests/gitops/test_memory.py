"""The guardrail memory read from git: all three GitHub merge methods, reverts by tradeloop and by hand.

Every scenario runs on the GitHub API stand-in: the bot opens its pull request through the CLI, a person
merges it with one of GitHub's three buttons (a real push to the bare repository), and the memory is read
from a fresh clone, as a new runner would, with an empty warehouse.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gitops import AUTOCLOSED_SUFFIX, GitHubForge, load_proposal, publish_proposal, read_memory
from tests.github_standin import GitHubEnv, git
from tests.gitops.proposals import live_params, make_proposal, realistic_proposal, typed
from tradeloop.cli import app
from warehouse import get_warehouse

runner = CliRunner()
CONSTANTS = "config/constants.py"


@pytest.fixture
def gh(github_env: GitHubEnv, monkeypatch: pytest.MonkeyPatch) -> GitHubEnv:
    for key, value in github_env.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("TRADELOOP_GITHUB_TOKEN", raising=False)
    return github_env


def invoke(repo: Path, *args: str) -> dict[str, Any]:
    result = runner.invoke(app, ["--repo", str(repo), "--json", *args])
    assert result.exit_code == 0, result.stdout + result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def fresh_clone(env: GitHubEnv, tmp_path: Path, name: str = "runner") -> Path:
    """A new runner's checkout of main: the whole history, nothing else."""
    clone = tmp_path / name
    git("clone", "--quiet", str(env.bare.path), str(clone), cwd=tmp_path)
    return clone


def open_realistic(env: GitHubEnv, tmp_path: Path) -> tuple[dict[str, Any], int]:
    path = tmp_path / "proposal.json"
    path.write_text(json.dumps(realistic_proposal()))
    opened = invoke(env.clone, "pr", "open", "--proposal", str(path))
    assert opened["action"] == "created"
    return load_proposal(path).to_json(), int(opened["pr_number"])


@pytest.mark.parametrize("method", ["merge", "squash", "rebase"])
def test_a_merged_proposal_is_one_applied_change_whatever_the_merge_method(
    gh: GitHubEnv, tmp_path: Path, method: str
) -> None:
    proposal, number = open_realistic(gh, tmp_path)
    head = gh.standin.merge_pr(number, method)
    memory = read_memory(fresh_clone(gh, tmp_path))
    [change] = memory.changes
    assert (change.strategy, change.symbol, change.commit, change.kind) == (
        "ema_cross",
        "SP500",
        head,
        "change",
    )
    assert dict(change.parameters) == {"ema_fast": (12.0, 13.0), "stop_loss_pct": (2.0, 2.4)}
    assert change.identity_after == proposal["proposal_hash"]
    assert change.identity_before == make_proposal("ema_cross", "SP500", {})["proposal_hash"]
    assert change.config_hash_after == proposal["config_hash_after"]
    assert change.at.isoformat() == gh.bare.commit(head).committer_date.replace("Z", "+00:00")
    # The PR number survives where GitHub writes it into the subject; a rebase keeps the bot's own subject.
    assert change.pr_number == (None if method == "rebase" else number)
    [applied] = memory.applied_changes()
    assert (applied.applied_at, applied.parameters) == (change.at, ("ema_fast", "stop_loss_pct"))
    assert memory.rejections == ()


@pytest.mark.parametrize("method", ["merge", "squash", "rebase"])
def test_tradeloop_rollback_makes_the_proposal_never_come_back(
    gh: GitHubEnv, tmp_path: Path, method: str
) -> None:
    proposal, number = open_realistic(gh, tmp_path)
    head = gh.standin.merge_pr(number, method)
    git("fetch", "--quiet", "origin", cwd=gh.clone)
    rolled = invoke(gh.clone, "rollback", "--commit", head, "--apply", "--reason", "drawdown breach")
    assert rolled["action"] == "committed"
    runner_clone = fresh_clone(gh, tmp_path)
    memory = read_memory(runner_clone)
    change, revert = memory.changes
    assert revert.kind == "revert" and revert.reverts == (change.commit,)
    assert dict(revert.parameters) == {"ema_fast": (13.0, 12.0), "stop_loss_pct": (2.4, 2.0)}
    [rejection] = memory.rejections
    assert (rejection.kind, rejection.proposal_hash) == ("reverted", proposal["proposal_hash"])
    assert rejection.config_hash == proposal["config_hash_after"]
    assert memory.rejection_for(typed(proposal)) == rejection
    # The bot, on the fresh runner, refuses to open it again, and says why.
    path = tmp_path / "again.json"
    path.write_text(json.dumps(proposal))
    again = invoke(runner_clone, "pr", "open", "--proposal", str(path), "--forge", "github")
    assert again["action"] == "none"
    assert again["reason"].startswith("rolled back before: ema_fast 12 -> 13, stop_loss_pct 2 -> 2.4 in ")
    assert "a rolled-back configuration is never proposed again" in again["reason"]
    assert len(gh.standin.calls("POST", r"/repos/acme/trading-bot/pulls")) == 1


def test_a_revert_by_hand_counts_as_a_rollback(gh: GitHubEnv, tmp_path: Path) -> None:
    proposal, number = open_realistic(gh, tmp_path)
    gh.standin.merge_pr(number, "squash")
    merged = gh.bare.file_at("main", CONSTANTS) or ""
    restored = merged.replace('"ema_fast": 13,', '"ema_fast": 12,').replace(
        '"stop_loss_pct": 2.4,', '"stop_loss_pct": 2.0,'
    )
    by_hand = gh.bare.human_commit("main", {CONSTANTS: restored}, "Put SP500 back: the new stop hurt")
    memory = read_memory(fresh_clone(gh, tmp_path))
    assert memory.changes[-1].commit == by_hand and memory.changes[-1].kind == "revert"
    rejection = memory.rejection_for(typed(proposal))
    assert rejection is not None and "Put SP500 back" in rejection.reason()


def test_a_git_revert_after_a_later_change_of_the_pair_is_still_a_rollback(
    gh: GitHubEnv, tmp_path: Path
) -> None:
    proposal, number = open_realistic(gh, tmp_path)
    merge = gh.standin.merge_pr(number, "merge")
    loadout = 'REGIME_LOADOUTS: Final = {"ema_cross": {"SP500": {"bull": {"trade_fraction": 0.11}}}}'
    tuned = (gh.bare.file_at("main", CONSTANTS) or "").replace("REGIME_LOADOUTS: Final = {}", loadout)
    later = gh.bare.human_commit("main", {CONSTANTS: tuned}, "Trade a little more in bull markets")
    git("fetch", "--quiet", "origin", cwd=gh.clone)
    invoke(gh.clone, "rollback", "--commit", merge, "--apply")
    memory = read_memory(fresh_clone(gh, tmp_path))
    change, loadout_change, revert = memory.changes
    assert loadout_change.commit == later and loadout_change.kind == "change"
    assert dict(loadout_change.parameters) == {"REGIME_LOADOUTS.bull.trade_fraction": (None, 0.11)}
    # The live parameters go back, the loadout stays: the revert undoes the merge and only the merge.
    assert revert.identity_after == change.identity_before
    assert revert.reverts == (merge,)
    [rejection] = memory.rejections
    assert rejection == memory.rejection_for(typed(proposal))


def test_returning_to_an_earlier_state_rolls_back_every_change_since(gh: GitHubEnv, tmp_path: Path) -> None:
    shipped = gh.bare.file_at("main", CONSTANTS) or ""
    step1 = shipped.replace('"ema_fast": 12,', '"ema_fast": 13,')
    step2 = step1.replace('"ema_fast": 13,', '"ema_fast": 14,')
    first = gh.bare.human_commit("main", {CONSTANTS: step1}, "12 -> 13")
    second = gh.bare.human_commit("main", {CONSTANTS: step2}, "13 -> 14")
    back = gh.bare.human_commit("main", {CONSTANTS: shipped}, "back to 12")
    memory = read_memory(fresh_clone(gh, tmp_path))
    assert [c.commit for c in memory.changes] == [first, second, back]
    assert set(memory.changes[-1].reverts) == {first, second}
    assert {r.commit for r in memory.rejections} == {back}
    assert len(memory.rejections) == 2


def test_putting_a_rolled_back_change_back_by_hand_rolls_nothing_else_back(
    gh: GitHubEnv, tmp_path: Path
) -> None:
    shipped = gh.bare.file_at("main", CONSTANTS) or ""
    tuned = shipped.replace('"ema_fast": 12,', '"ema_fast": 13,')
    first = gh.bare.human_commit("main", {CONSTANTS: tuned}, "12 -> 13")
    gh.bare.human_commit("main", {CONSTANTS: shipped}, "back to 12")
    again = gh.bare.human_commit("main", {CONSTANTS: tuned}, "13 after all")
    memory = read_memory(fresh_clone(gh, tmp_path))
    assert [c.kind for c in memory.changes] == ["change", "revert", "change"]
    assert memory.changes[-1].commit == again and memory.changes[-1].reverts == ()
    [rejection] = memory.rejections  # the state 13 was rolled back once; the shipped state 12 never was
    assert rejection.commit != first and rejection.proposal_hash == memory.changes[0].identity_after


def test_a_person_closing_the_pr_is_declined_but_tradeloop_closing_it_is_not(
    gh: GitHubEnv, tmp_path: Path
) -> None:
    forge = GitHubForge(gh.clone, env=gh.env())
    proposal = realistic_proposal()
    created = publish_proposal(forge, typed(proposal))
    unchanged = make_proposal("ema_cross", "SP500", live_params("ema_cross", "SP500"))
    assert publish_proposal(forge, typed(unchanged)).action == "closed"
    assert created.pr_number is not None
    assert gh.standin.pulls[created.pr_number].title.endswith(AUTOCLOSED_SUFFIX)
    assert read_memory(gh.clone, forge=forge).rejections == ()
    reopened = publish_proposal(forge, typed(proposal))
    assert reopened.action == "created"  # tradeloop's own close is not a person's "no"
    assert reopened.pr_number is not None
    gh.standin.close_pr(reopened.pr_number)
    [declined] = read_memory(gh.clone, forge=forge).rejections
    assert (declined.kind, declined.pr_number, declined.proposal_hash) == (
        "declined",
        reopened.pr_number,
        proposal["proposal_hash"],
    )


def test_the_warehouse_mirrors_proposed_opened_merged_and_reverted(gh: GitHubEnv, tmp_path: Path) -> None:
    proposal, number = open_realistic(gh, tmp_path)
    with get_warehouse(None) as warehouse:
        rows = warehouse.proposals(proposal_hash=proposal["proposal_hash"])
    assert {(r.parameter, r.outcome, r.pr_number) for r in rows} == {
        ("ema_fast", "opened", number),
        ("stop_loss_pct", "opened", number),
    }
    head = gh.standin.merge_pr(number, "squash")
    git("fetch", "--quiet", "origin", cwd=gh.clone)
    shown = invoke(gh.clone, "state", "memory", "--base", "origin/main")
    with get_warehouse(None) as warehouse:
        assert {r.outcome for r in warehouse.proposals(proposal_hash=proposal["proposal_hash"])} == {"merged"}
        assert {r.commit_sha for r in warehouse.proposals(proposal_hash=proposal["proposal_hash"])} == {head}
    [pair] = [p for p in shown["pairs"] if (p["strategy"], p["symbol"]) == ("ema_cross", "SP500")]
    assert pair["changes"][0]["commit"] == head
    rolled = invoke(gh.clone, "rollback", "--commit", head, "--apply")
    assert rolled["proposals_reverted"] == 2
    with get_warehouse(None) as warehouse:
        assert {r.outcome for r in warehouse.proposals(proposal_hash=proposal["proposal_hash"])} == {
            "reverted"
        }


def test_a_fresh_runner_with_an_empty_warehouse_fills_it_from_git(gh: GitHubEnv, tmp_path: Path) -> None:
    proposal, number = open_realistic(gh, tmp_path)
    head = gh.standin.merge_pr(number, "merge")
    runner_clone = fresh_clone(gh, tmp_path)
    other_home = tmp_path / "other-home"
    result = runner.invoke(
        app, ["--repo", str(runner_clone), "--home", str(other_home), "--json", "state", "memory"]
    )
    assert result.exit_code == 0, result.stderr
    with get_warehouse(f"sqlite:///{other_home / 'warehouse.db'}") as warehouse:
        rows = warehouse.proposals()
    assert {(r.parameter, r.outcome, r.commit_sha, r.pr_number) for r in rows} == {
        ("ema_fast", "merged", head, number),
        ("stop_loss_pct", "merged", head, number),
    }
    assert {r.proposal_hash for r in rows} == {proposal["proposal_hash"]}


def test_a_shallow_clone_is_refused_with_the_fix(gh: GitHubEnv, tmp_path: Path) -> None:
    shallow = tmp_path / "shallow"
    git("clone", "--quiet", "--depth", "1", f"file://{gh.bare.path}", str(shallow), cwd=tmp_path)
    result = runner.invoke(app, ["--repo", str(shallow), "state", "memory"])
    assert result.exit_code == 2
    assert "is a shallow clone" in result.stderr and "fetch-depth: 0" in result.stderr


def test_adding_a_live_pair_starts_no_cooldown(gh: GitHubEnv, tmp_path: Path) -> None:
    """A pair that appears in LIVE_PARAMS moves no parameter: the optimizer may tune it at once."""
    from gitops import BotIdentity, build_commit

    text = (gh.clone / CONSTANTS).read_text()
    added = text.replace(
        '    "rsi_reversion": {\n',
        '    "rsi_reversion": {\n        "DEMO2": {\n            "timeframe": "15m",\n'
        '            "rsi_period": 6,\n        },\n',
        1,
    )
    base = git("rev-parse", "origin/main", cwd=gh.clone)
    sha = build_commit(gh.clone, base, {CONSTANTS: added.encode()}, "add a live pair", BotIdentity())
    git("push", "--quiet", "origin", f"{sha}:refs/heads/main", cwd=gh.clone)
    memory = read_memory(fresh_clone(gh, tmp_path), "HEAD")
    [addition] = memory.changes_of("rsi_reversion", "DEMO2")
    assert addition.parameters == {} and addition.commit == sha
    assert [c for c in memory.applied_changes() if c.symbol == "DEMO2"] == []
