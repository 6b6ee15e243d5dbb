"""PR manners on GitHub: PyGithub against the stand-in, its bare repository changed by real git pushes."""

from __future__ import annotations

import pytest

from gitops import GitHubForge, parse_constants, parse_pr_metadata, publish_proposal
from tests.github_standin import GitHubEnv, git
from tests.gitops.proposals import (
    live_params,
    make_proposal,
    realistic_proposal,
    realistic_verdict,
    typed,
    typed_verdict,
)

BRANCH = "tradeloop/opt/ema_cross-SP500-1d"
PULLS = r"/repos/acme/trading-bot/pulls"


@pytest.fixture
def forge(github_env: GitHubEnv) -> GitHubForge:
    return GitHubForge(github_env.clone, env=github_env.env(), retries=2, backoff=0.01)


def _branch_files(env: GitHubEnv, branch: str) -> list[str]:
    return git("diff", "--name-only", f"main...{branch}", cwd=env.bare.path).splitlines()


def test_create_opens_one_labelled_pr_with_one_commit_touching_only_the_state_files(
    github_env: GitHubEnv, forge: GitHubForge
) -> None:
    proposal = realistic_proposal()
    outcome = publish_proposal(forge, typed(proposal), typed_verdict(realistic_verdict(proposal)))
    assert (outcome.action, outcome.pr_number, outcome.branch) == ("created", 1, BRANCH)
    [pr] = github_env.standin.open_prs()
    assert set(pr.labels) >= {"tradeloop", "auto-optimizer"} and any(x.startswith("risk:") for x in pr.labels)
    tip = github_env.bare.branch_sha(BRANCH)
    assert tip == outcome.commit_sha
    assert github_env.bare.commit(tip).parents == (github_env.bare.branch_sha("main"),)
    assert github_env.bare.commit(tip).author_email == forge.identity.email
    assert set(_branch_files(github_env, BRANCH)) <= {"config/constants.py", "feature_flags.json"}
    head = parse_constants(github_env.bare.file_at(BRANCH, "config/constants.py") or "")
    assert head.live_params["ema_cross"]["SP500"]["ema_fast"] == proposal["params_after"]["ema_fast"]
    metadata = parse_pr_metadata(pr.body)
    assert metadata is not None
    assert metadata["proposal_hash"] == proposal["proposal_hash"] and metadata["commit_sha"] == tip


def test_rerun_with_a_new_proposal_updates_in_place_with_exactly_one_post(
    github_env: GitHubEnv, forge: GitHubForge
) -> None:
    first = publish_proposal(forge, typed(realistic_proposal()))
    newer = make_proposal("ema_cross", "SP500", {"ema_fast": 11.0})
    second = publish_proposal(forge, typed(newer))
    assert (first.action, second.action) == ("created", "updated")
    assert second.pr_number == first.pr_number
    assert len(github_env.standin.calls("POST", PULLS)) == 1
    [pr] = github_env.standin.open_prs()
    assert parse_pr_metadata(pr.body)["proposal_hash"] == newer["proposal_hash"]  # type: ignore[index]
    tip = github_env.bare.branch_sha(BRANCH)
    assert tip == second.commit_sha != first.commit_sha
    assert github_env.bare.commit(tip).parents == (
        github_env.bare.branch_sha("main"),
    )  # regenerated, one commit


def test_no_diff_against_the_base_closes_the_pr_and_deletes_the_branch(
    github_env: GitHubEnv, forge: GitHubForge
) -> None:
    assert publish_proposal(forge, typed(realistic_proposal())).action == "created"
    unchanged = make_proposal("ema_cross", "SP500", live_params("ema_cross", "SP500"))
    assert unchanged["status"] == "no_change"
    outcome = publish_proposal(forge, typed(unchanged))
    assert outcome.action == "closed" and "no diff" in outcome.reason
    assert github_env.standin.open_prs() == []
    assert github_env.bare.branch_sha(BRANCH) is None
    assert publish_proposal(forge, typed(unchanged)).action == "none"  # nothing open, nothing to do


def test_a_proposal_closed_unmerged_is_never_proposed_again(
    github_env: GitHubEnv, forge: GitHubForge
) -> None:
    proposal = realistic_proposal()
    created = publish_proposal(forge, typed(proposal))
    assert created.pr_number is not None
    github_env.standin.close_pr(created.pr_number)
    outcome = publish_proposal(forge, typed(proposal))
    assert outcome.action == "none" and "never proposed again" in outcome.reason
    assert len(github_env.standin.calls("POST", PULLS)) == 1
    other = make_proposal("ema_cross", "SP500", {"ema_fast": 11.0})
    assert publish_proposal(forge, typed(other)).action == "created"  # a different proposal may be opened


def test_a_human_commit_on_the_branch_hands_the_pr_over(github_env: GitHubEnv, forge: GitHubForge) -> None:
    created = publish_proposal(forge, typed(realistic_proposal()))
    head_text = github_env.bare.file_at(BRANCH, "config/constants.py") or ""
    tuned = head_text.replace("# Live parameters", "# Live parameters (tuned by hand)")
    human = github_env.bare.human_commit(BRANCH, {"config/constants.py": tuned})
    outcome = publish_proposal(forge, typed(make_proposal("ema_cross", "SP500", {"ema_fast": 11.0})))
    assert outcome.action == "none" and "human" in outcome.reason and human[:12] in outcome.reason
    assert github_env.bare.branch_sha(BRANCH) == human
    [pr] = github_env.standin.open_prs()
    assert parse_pr_metadata(pr.body)["commit_sha"] == created.commit_sha  # type: ignore[index]


def test_do_not_merge_is_respected(github_env: GitHubEnv, forge: GitHubForge) -> None:
    created = publish_proposal(forge, typed(realistic_proposal()))
    assert created.pr_number is not None
    github_env.standin.label_pr(created.pr_number, "do-not-merge")
    body_before = github_env.standin.pulls[created.pr_number].body
    outcome = publish_proposal(forge, typed(make_proposal("ema_cross", "SP500", {"ema_fast": 11.0})))
    assert outcome.action == "none" and "do-not-merge" in outcome.reason
    assert github_env.standin.pulls[created.pr_number].body == body_before
    assert github_env.bare.branch_sha(BRANCH) == created.commit_sha


def test_the_open_auto_pr_limit_holds_new_prs_back(github_env: GitHubEnv, forge: GitHubForge) -> None:
    assert publish_proposal(forge, typed(realistic_proposal()), max_open_prs=1).action == "created"
    nasdaq = make_proposal("ema_cross", "NASDAQ", {"ema_fast": 11.0})
    outcome = publish_proposal(forge, typed(nasdaq), max_open_prs=1)
    assert outcome.action == "none" and "limit is 1" in outcome.reason
    assert publish_proposal(forge, typed(nasdaq), max_open_prs=2).action == "created"


def test_a_failed_verdict_and_a_dry_run_change_nothing(github_env: GitHubEnv, forge: GitHubForge) -> None:
    proposal = realistic_proposal()
    failed = {**realistic_verdict(proposal), "decision": "fail"}
    assert publish_proposal(forge, typed(proposal), typed_verdict(failed)).action == "none"
    dry = publish_proposal(forge, typed(proposal), dry_run=True)
    assert (dry.action, dry.dry_run) == ("created", True)
    assert github_env.bare.branch_sha(BRANCH) is None
    assert github_env.standin.calls("POST", PULLS) == []


def test_a_merged_pr_lets_the_next_proposal_open_a_new_one(github_env: GitHubEnv, forge: GitHubForge) -> None:
    created = publish_proposal(forge, typed(realistic_proposal()))
    assert created.pr_number is not None
    github_env.standin.merge_pr(created.pr_number)
    git("fetch", "--quiet", "origin", cwd=github_env.clone)
    merged_live = parse_constants(github_env.bare.file_at("main", "config/constants.py") or "")
    before = {k: v for k, v in merged_live.live_params["ema_cross"]["SP500"].items() if k != "timeframe"}
    follow_up = make_proposal("ema_cross", "SP500", {"ema_fast": before["ema_fast"] - 1}, before=before)
    outcome = publish_proposal(forge, typed(follow_up))
    assert outcome.action == "created" and outcome.pr_number != created.pr_number


def _commit_on_main(env: GitHubEnv, files: dict[str, str], message: str) -> str:
    """A person's commit on main in the bare repository (as a merged pull request would make)."""
    from gitops import BotIdentity, build_commit

    git("fetch", "--quiet", "origin", cwd=env.clone)
    base = git("rev-parse", "origin/main", cwd=env.clone)
    sha = build_commit(env.clone, base, {k: v.encode() for k, v in files.items()}, message, BotIdentity())
    git("push", "--quiet", "origin", f"{sha}:refs/heads/main", cwd=env.clone)
    return sha


def test_an_identical_proposal_pushes_nothing_and_keeps_the_checks(
    github_env: GitHubEnv, forge: GitHubForge
) -> None:
    proposal = realistic_proposal()
    created = publish_proposal(forge, typed(proposal), typed_verdict(realistic_verdict(proposal)))
    tip = github_env.bare.branch_sha(BRANCH)
    github_env.standin.statuses[str(tip)] = [{"context": "tradeloop/validation", "state": "success"}]
    edits = len(github_env.standin.calls("PATCH", rf"{PULLS}/\d+"))  # the new body naming its number
    again = publish_proposal(forge, typed(proposal), typed_verdict(realistic_verdict(proposal)))
    assert (again.action, again.pr_number) == ("none", created.pr_number)
    assert "already proposes this" in again.reason and "checks and labels stay" in again.reason
    assert github_env.bare.branch_sha(BRANCH) == tip  # no new commit: the status is still on the head
    assert github_env.standin.statuses[str(tip)][0]["state"] == "success"
    assert len(github_env.standin.calls("PATCH", rf"{PULLS}/\d+")) == edits


def test_a_new_pull_request_names_its_number_in_the_rollback_plan(
    github_env: GitHubEnv, forge: GitHubForge
) -> None:
    proposal = realistic_proposal()
    created = publish_proposal(forge, typed(proposal), typed_verdict(realistic_verdict(proposal)))
    [pr] = github_env.standin.open_prs()
    assert f"`tradeloop rollback --pr {created.pr_number}`" in pr.body
    assert f"the merge commit of #{created.pr_number}" in pr.body
    assert len(github_env.standin.calls("POST", PULLS)) == 1
    assert len(github_env.standin.calls("PATCH", rf"{PULLS}/\d+")) == 1  # one edit, once the number exists


def test_a_base_that_moves_elsewhere_does_not_rebase_but_one_touching_the_state_files_does(
    github_env: GitHubEnv, forge: GitHubForge
) -> None:
    proposal = realistic_proposal()
    publish_proposal(forge, typed(proposal))
    tip = github_env.bare.branch_sha(BRANCH)
    _commit_on_main(github_env, {"README.md": "# trading bot\n\nmore words\n"}, "docs")
    kept = publish_proposal(forge, typed(proposal))
    assert kept.action == "none" and "not rebased" in kept.reason
    assert github_env.bare.branch_sha(BRANCH) == tip
    flags = (github_env.clone / "feature_flags.json").read_text()
    tuned = flags.replace('"min_confidence": 0.6', '"min_confidence": 0.7')
    _commit_on_main(github_env, {"feature_flags.json": tuned}, "a person tunes the prediction engine")
    rebased = publish_proposal(forge, typed(proposal))
    assert rebased.action == "updated" and github_env.bare.branch_sha(BRANCH) != tip
    new_tip = github_env.bare.branch_sha(BRANCH)
    assert github_env.bare.commit(str(new_tip)).parents == (github_env.bare.branch_sha("main"),)


def test_a_proposal_already_on_the_base_is_none(github_env: GitHubEnv, forge: GitHubForge) -> None:
    proposal = realistic_proposal()
    created = publish_proposal(forge, typed(proposal))
    assert created.pr_number is not None
    github_env.standin.merge_pr(created.pr_number)
    outcome = publish_proposal(forge, typed(proposal))
    assert outcome.action == "none" and "already holds params_after" in outcome.reason
    assert github_env.standin.open_prs() == []
