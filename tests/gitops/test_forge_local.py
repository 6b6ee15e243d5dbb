"""LocalForge: branches and commits in a real local repository, pull requests in a JSON state file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gitops import LocalForge, parse_constants, parse_pr_metadata, publish_proposal
from tests.github_standin import git, seed_bare_repo
from tests.github_standin.fixtures import seed_files
from tests.gitops.proposals import live_params, make_proposal, realistic_proposal, typed
from tradeloop.errors import ForgeError

BRANCH = "tradeloop/opt/ema_cross-SP500-1d"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    bare = seed_bare_repo(tmp_path, seed_files())
    work = tmp_path / "work"
    git("clone", "--quiet", str(bare.path), str(work), cwd=tmp_path)
    return work


@pytest.fixture
def forge(repo: Path, tmp_path: Path) -> LocalForge:
    return LocalForge(repo, home=tmp_path / "home", run_dir=tmp_path / "home" / "runs" / "r1")


def test_create_writes_branch_commit_body_file_and_state(repo: Path, forge: LocalForge) -> None:
    status_before = git("status", "--porcelain", cwd=repo)
    head_before = git("rev-parse", "HEAD", cwd=repo)
    outcome = publish_proposal(forge, typed(realistic_proposal()))
    assert (outcome.action, outcome.pr_number) == ("created", 1)
    assert git("rev-parse", f"refs/heads/{BRANCH}", cwd=repo) == outcome.commit_sha
    assert git("rev-parse", "HEAD", cwd=repo) == head_before  # the working tree is never touched
    assert git("status", "--porcelain", cwd=repo) == status_before
    changed = git("diff", "--name-only", f"main...{BRANCH}", cwd=repo).splitlines()
    assert set(changed) <= {"config/constants.py", "feature_flags.json"}
    body = (forge.run_dir / "pr-tradeloop-opt-ema_cross-SP500-1d.md").read_text()
    assert parse_pr_metadata(body)["commit_sha"] == outcome.commit_sha  # type: ignore[index]
    state = json.loads(forge.state_path.read_text())
    assert state["pulls"]["1"]["labels"][:2] == ["tradeloop", "auto-optimizer"]


def test_update_then_no_diff_closes_and_deletes_the_branch(repo: Path, forge: LocalForge) -> None:
    publish_proposal(forge, typed(realistic_proposal()))
    updated = publish_proposal(forge, typed(make_proposal("ema_cross", "SP500", {"ema_fast": 11.0})))
    assert (updated.action, updated.pr_number) == ("updated", 1)
    head = parse_constants(git("show", f"{BRANCH}:config/constants.py", cwd=repo) + "\n")
    assert head.live_params["ema_cross"]["SP500"]["ema_fast"] == 11
    closed = publish_proposal(
        forge, typed(make_proposal("ema_cross", "SP500", live_params("ema_cross", "SP500")))
    )
    assert closed.action == "closed"
    assert forge.branch_head(BRANCH) is None and forge.find_open_pr(BRANCH) is None


def test_a_local_merge_marks_the_pr_merged(repo: Path, forge: LocalForge) -> None:
    created = publish_proposal(forge, typed(realistic_proposal()))
    git("-c", "user.name=A", "-c", "user.email=a@x", "merge", "--quiet", "--ff-only", BRANCH, cwd=repo)
    [pr] = forge.find_closed_prs(BRANCH)
    assert (pr.number, pr.merged) == (created.pr_number, True)


def test_comment_once_and_statuses(forge: LocalForge) -> None:
    outcome = publish_proposal(forge, typed(realistic_proposal()))
    pr = forge.get_pr(outcome.pr_number or 0)
    assert forge.comment_once(pr, "<!-- m -->", "one") == "created"
    assert forge.comment_once(pr, "<!-- m -->", "two") == "updated"
    assert forge.comments(pr) == ["two\n\n<!-- m -->\n"]
    forge.set_status(
        pr.head_sha, "success", context="tradeloop/validation", description="ok", target_url=None
    )
    assert forge.statuses(pr.head_sha)["tradeloop/validation"]["state"] == "success"
    assert "config/constants.py" in {f.path for f in forge.pr_files(pr)}


def test_the_checked_out_branch_is_never_moved(repo: Path, forge: LocalForge) -> None:
    sha = git("rev-parse", "HEAD", cwd=repo)
    with pytest.raises(ForgeError, match="is checked out"):
        forge.push_branch("main", sha)


def test_a_corrupt_state_file_is_a_clear_error(forge: LocalForge) -> None:
    forge.state_path.parent.mkdir(parents=True)
    forge.state_path.write_text("{not json")
    with pytest.raises(ForgeError, match=r"pulls\.json: not valid JSON"):
        forge.find_open_pr(BRANCH)


def test_a_relative_home_gives_an_absolute_body_url(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The CLI's default home is the relative `.tradeloop`: `pr open --forge local` raised "relative path can't
    # be expressed as a file URI" after pushing the branch.
    monkeypatch.chdir(tmp_path)
    forge = LocalForge(repo, home=Path(".tradeloop"))
    outcome = publish_proposal(forge, typed(realistic_proposal()))
    assert (outcome.action, outcome.pr_number) == ("created", 1)
    url = forge.get_pr(1).url
    assert url == (tmp_path / ".tradeloop" / "forge" / "pr-tradeloop-opt-ema_cross-SP500-1d.md").as_uri()
