"""``tradeloop pr open | check | report`` and ``rollback`` against the GitHub stand-in, and locally."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gitops import BotIdentity, GitHubForge, build_commit, parse_constants
from tests.github_standin import GitHubEnv, git
from tests.gitops.proposals import make_proposal, realistic_proposal, realistic_verdict
from tradeloop.cli import app
from warehouse import get_warehouse

runner = CliRunner()
CONSTANTS = "config/constants.py"
COMMENTS = r"/repos/acme/trading-bot/issues/\d+/comments"


@pytest.fixture
def gh(github_env: GitHubEnv, monkeypatch: pytest.MonkeyPatch) -> GitHubEnv:
    for key, value in github_env.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("TRADELOOP_GITHUB_TOKEN", raising=False)
    return github_env


def invoke(repo: Path, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["--repo", str(repo), *args])
    return result.exit_code, result.stdout, result.stderr


def _write(path: Path, document: dict[str, object]) -> Path:
    path.write_text(json.dumps(document))
    return path


def _open_pr_with(env: GitHubEnv, branch: str, files: dict[str, str]) -> int:
    """A hand-made pull request whose one commit changes ``files`` (pushed for real)."""
    base = git("rev-parse", "origin/main", cwd=env.clone)
    sha = build_commit(env.clone, base, {k: v.encode() for k, v in files.items()}, "hand-made", BotIdentity())
    git("push", "--quiet", "origin", f"{sha}:refs/heads/{branch}", cwd=env.clone)
    forge = GitHubForge(env.clone, env=env.env())
    return forge.open_or_update(branch=branch, base="main", title="hand-made", body="", existing=None).number


def _constants_with(env: GitHubEnv, old: str, new: str) -> str:
    text = env.bare.file_at("main", CONSTANTS) or ""
    assert old in text
    return text.replace(old, new)


def test_pr_open_creates_then_updates_and_reports_json(gh: GitHubEnv, tmp_path: Path) -> None:
    proposal = _write(tmp_path / "proposal.json", realistic_proposal())
    code, out, err = invoke(gh.clone, "--json", "pr", "open", "--proposal", str(proposal))
    assert code == 0, err
    first = json.loads(out)
    assert (first["forge"], first["action"], first["pr_number"]) == ("github", "created", 1)
    newer = _write(tmp_path / "newer.json", make_proposal("ema_cross", "SP500", {"ema_fast": 11.0}))
    code, out, err = invoke(gh.clone, "pr", "open", "--proposal", str(newer))
    assert code == 0, err
    assert out.startswith("updated #1")
    assert len(gh.standin.calls("POST", r"/repos/acme/trading-bot/pulls")) == 1


def test_pr_check_passes_a_clean_pr(gh: GitHubEnv, tmp_path: Path) -> None:
    invoke(gh.clone, "pr", "open", "--proposal", str(_write(tmp_path / "p.json", realistic_proposal())))
    code, out, err = invoke(gh.clone, "pr", "check", "--pr", "1")
    assert code == 0, out + err
    assert out.startswith("PASS #1")


def test_pr_check_fails_a_pr_that_also_touches_a_source_file(gh: GitHubEnv) -> None:
    number = _open_pr_with(gh, "sneaky", {
        CONSTANTS: _constants_with(gh, '"ema_fast": 12,', '"ema_fast": 13,'),
        "bot/strategy.py": "import os\nos.system('curl evil')\n",
    })  # fmt: skip
    code, out, _ = invoke(gh.clone, "pr", "check", "--pr", str(number))
    assert code == 1
    assert "bot/strategy.py (modified) is outside the allowlist" in out


def test_pr_check_fails_a_parameter_moved_past_its_cap(gh: GitHubEnv) -> None:
    number = _open_pr_with(
        gh, "greedy", {CONSTANTS: _constants_with(gh, '"ema_fast": 12,', '"ema_fast": 20,')}
    )
    code, out, _ = invoke(gh.clone, "--json", "pr", "check", "--pr", str(number))
    assert code == 1
    report = json.loads(out)
    assert report["passed"] is False
    assert any(
        "config/constants.py: LIVE_PARAMS.ema_cross.SP500.ema_fast moves 12 → 20 (66.7%), past its per-cycle "
        "cap of 20% (±2.4)" in violation
        for violation in report["violations"]
    ), report["violations"]


def test_pr_check_fails_a_guardrail_change(gh: GitHubEnv) -> None:
    text = _constants_with(
        gh, "OPTIMIZER_MAX_DELTA: Final[float] = 0.2", "OPTIMIZER_MAX_DELTA: Final[float] = 0.9"
    )
    number = _open_pr_with(gh, "loosen", {CONSTANTS: text})
    code, out, _ = invoke(gh.clone, "pr", "check", "--pr", str(number))
    assert code == 1 and "OPTIMIZER_MAX_DELTA changes 0.2 → 0.9" in out


def test_pr_report_posts_one_comment_then_edits_it_and_sets_a_status(gh: GitHubEnv, tmp_path: Path) -> None:
    proposal = realistic_proposal()
    invoke(gh.clone, "pr", "open", "--proposal", str(_write(tmp_path / "p.json", proposal)))
    verdict = _write(tmp_path / "verdict.json", realistic_verdict(proposal))
    code, out, err = invoke(gh.clone, "pr", "report", "--pr", "1", "--verdict", str(verdict))
    assert code == 0, err
    assert "comment created" in out
    failing = _write(tmp_path / "verdict.json", {**realistic_verdict(proposal), "decision": "fail"})
    code, out, err = invoke(gh.clone, "--json", "pr", "report", "--pr", "1", "--verdict", str(failing))
    assert code == 0, err
    assert (json.loads(out)["comment"], json.loads(out)["state"]) == ("updated", "failure")
    assert len(gh.standin.calls("POST", COMMENTS)) == 1
    [comment] = gh.standin.comments.values()
    assert "**fail**" in comment["body"] and "tradeloop:validation-report" in comment["body"]
    head = gh.bare.branch_sha("tradeloop/opt/ema_cross-SP500-1d") or ""
    assert [s["state"] for s in gh.standin.statuses[head]] == ["failure", "success"]


def test_pr_report_refuses_a_verdict_of_another_proposal(gh: GitHubEnv, tmp_path: Path) -> None:
    invoke(gh.clone, "pr", "open", "--proposal", str(_write(tmp_path / "p.json", realistic_proposal())))
    other = make_proposal("ema_cross", "SP500", {"ema_fast": 11.0})
    verdict = _write(tmp_path / "verdict.json", realistic_verdict(other))
    code, _, err = invoke(gh.clone, "pr", "report", "--pr", "1", "--verdict", str(verdict))
    assert code == 2 and "is not the" in err
    assert gh.standin.calls("POST", COMMENTS) == []


def test_rollback_opens_a_revert_pr_and_records_it(gh: GitHubEnv, tmp_path: Path) -> None:
    invoke(gh.clone, "pr", "open", "--proposal", str(_write(tmp_path / "p.json", realistic_proposal())))
    merge = gh.standin.merge_pr(1)
    git("fetch", "--quiet", "origin", cwd=gh.clone)
    code, out, err = invoke(gh.clone, "--json", "rollback", "--commit", merge, "--reason", "drawdown breach")
    assert code == 0, err
    outcome = json.loads(out)
    branch = f"tradeloop/revert-{merge[:7]}"
    assert (outcome["action"], outcome["branch"], outcome["entries"]) == (
        "pr_opened",
        branch,
        [["ema_cross", "SP500"]],
    )
    reverted = parse_constants(gh.bare.file_at(branch, CONSTANTS) or "")
    assert reverted.live_params["ema_cross"]["SP500"]["ema_fast"] == 12
    [pr] = gh.standin.open_prs()
    assert pr.head == branch and "drawdown breach" in pr.body
    [rollout] = get_warehouse(None).rollouts("ema_cross", "SP500")
    assert (rollout.status, rollout.stage, rollout.pr_number) == ("rolled_back", "COLD", pr.number)
    # Applied directly later: the revert PR it had opened is closed (tradeloop's own close), branch deleted.
    code, out, err = invoke(gh.clone, "--json", "rollback", "--commit", merge, "--apply")
    assert code == 0, err
    applied = json.loads(out)
    assert (applied["action"], applied["closed_pr"]) == ("committed", pr.number)
    assert gh.standin.open_prs() == [] and gh.bare.branch_sha(branch) is None
    assert gh.standin.pulls[pr.number].title.endswith(" - autoclosed")
    assert (
        parse_constants(gh.bare.file_at("main", CONSTANTS) or "").live_params["ema_cross"]["SP500"][
            "ema_fast"
        ]
        == 12
    )


def test_rollback_refuses_a_commit_outside_the_allowlist(gh: GitHubEnv) -> None:
    base = git("rev-parse", "origin/main", cwd=gh.clone)
    sha = build_commit(gh.clone, base, {"bot/strategy.py": b"x = 1\n"}, "code", BotIdentity())
    git("push", "--quiet", "origin", f"{sha}:refs/heads/main", cwd=gh.clone)
    code, _, err = invoke(gh.clone, "rollback", "--commit", sha)
    assert code == 2 and "bot/strategy.py" in err and "outside the live state files" in err


def test_local_rollback_apply_commits_the_revert(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.github_standin._repo import seed_bare_repo
    from tests.github_standin.fixtures import seed_files

    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.delenv("TRADELOOP_GITHUB_TOKEN", raising=False)
    bare = seed_bare_repo(tmp_path, seed_files())
    repo = tmp_path / "work"
    git("clone", "--quiet", str(bare.path), str(repo), cwd=tmp_path)
    proposal = _write(tmp_path / "p.json", realistic_proposal())
    code, out, err = invoke(repo, "--json", "pr", "open", "--proposal", str(proposal))
    assert code == 0, err
    opened = json.loads(out)
    assert (opened["forge"], opened["action"]) == ("local", "created")
    git(
        "-c",
        "user.name=A",
        "-c",
        "user.email=a@x",
        "merge",
        "--quiet",
        "--ff-only",
        opened["branch"],
        cwd=repo,
    )
    change = git("rev-parse", "HEAD", cwd=repo)
    code, out, err = invoke(repo, "--json", "rollback", "--commit", change, "--apply")
    assert code == 0, err
    assert json.loads(out)["action"] == "committed"
    assert git("log", "-1", "--format=%s", cwd=repo).startswith("Revert")
    assert parse_constants((repo / CONSTANTS).read_text()).live_params["ema_cross"]["SP500"]["ema_fast"] == 12
    assert git("status", "--porcelain", cwd=repo) == ""
    [rollout] = get_warehouse(None).rollouts("ema_cross", "SP500")
    assert rollout.status == "rolled_back"


@pytest.mark.parametrize("method", ["merge", "squash", "rebase"])
def test_rollback_pr_reverts_the_merge_commit_of_a_merged_pr(
    gh: GitHubEnv, tmp_path: Path, method: str
) -> None:
    invoke(gh.clone, "pr", "open", "--proposal", str(_write(tmp_path / "p.json", realistic_proposal())))
    [opened] = gh.standin.open_prs()
    assert "`tradeloop rollback --pr 1`" in opened.body  # the body the reviewer reads names the command
    merged = gh.standin.merge_pr(1, method)
    code, out, err = invoke(gh.clone, "--json", "rollback", "--pr", "1", "--reason", "drawdown breach")
    assert code == 0, err
    outcome = json.loads(out)
    assert (outcome["pr"], outcome["commit"], outcome["action"]) == (1, merged, "pr_opened")
    assert outcome["branch"] == f"tradeloop/revert-{merged[:7]}"
    reverted = parse_constants(gh.bare.file_at(outcome["branch"], CONSTANTS) or "")
    assert reverted.live_params["ema_cross"]["SP500"]["ema_fast"] == 12
    [revert_pr] = gh.standin.open_prs()
    assert "drawdown breach" in revert_pr.body and revert_pr.base == "main"
    code, out, err = invoke(gh.clone, "rollback", "--pr", "1", "--apply")
    assert code == 0, err
    assert out.startswith(f"committed onto main: reverts the merge commit of #1, {merged[:12]},")
    assert (
        parse_constants(gh.bare.file_at("main", CONSTANTS) or "").live_params["ema_cross"]["SP500"][
            "ema_fast"
        ]
        == 12
    )


def test_rollback_pr_refuses_a_pull_request_that_is_not_merged(gh: GitHubEnv, tmp_path: Path) -> None:
    invoke(gh.clone, "pr", "open", "--proposal", str(_write(tmp_path / "p.json", realistic_proposal())))
    code, _, err = invoke(gh.clone, "rollback", "--pr", "1")
    assert code == 2 and "#1 is still open, so nothing of it is on main" in err
    gh.standin.close_pr(1)
    code, _, err = invoke(gh.clone, "rollback", "--pr", "1")
    assert code == 2 and "#1 is closed without merging" in err
    assert gh.standin.open_prs() == []


@pytest.mark.parametrize(("args", "got"), [((), "neither"), (("--pr", "1", "--commit", "abc1234"), "both")])
def test_rollback_needs_exactly_one_of_commit_or_pr(gh: GitHubEnv, args: tuple[str, ...], got: str) -> None:
    code, _, err = invoke(gh.clone, "rollback", *args)
    assert code == 2 and f"exactly one of --commit SHA or --pr N (got {got})" in err


@pytest.mark.parametrize("merge", [("--ff-only",), ("--no-ff", "-m", "merge the proposal")])
def test_local_rollback_pr_finds_the_merge_commit_the_forge_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, merge: tuple[str, ...]
) -> None:
    from tests.github_standin._repo import seed_bare_repo
    from tests.github_standin.fixtures import seed_files

    monkeypatch.delenv("GITHUB_TOKEN", raising=False)
    monkeypatch.delenv("TRADELOOP_GITHUB_TOKEN", raising=False)
    bare = seed_bare_repo(tmp_path, seed_files())
    repo = tmp_path / "work"
    git("clone", "--quiet", str(bare.path), str(repo), cwd=tmp_path)
    code, out, err = invoke(
        repo, "--json", "pr", "open", "--proposal", str(_write(tmp_path / "p.json", realistic_proposal()))
    )
    assert code == 0, err
    opened = json.loads(out)
    git("-c", "user.name=A", "-c", "user.email=a@x", "merge", "--quiet", *merge, opened["branch"], cwd=repo)
    merged = git(
        "rev-parse", "HEAD", cwd=repo
    )  # the merge commit, or the branch's commit after a fast-forward
    code, out, err = invoke(repo, "--json", "rollback", "--pr", str(opened["pr_number"]), "--apply")
    assert code == 0, err
    outcome = json.loads(out)
    assert (outcome["commit"], outcome["action"]) == (merged, "committed")
    assert parse_constants((repo / CONSTANTS).read_text()).live_params["ema_cross"]["SP500"]["ema_fast"] == 12
