"""``deploy step --forge github`` against the GitHub API stand-in (PyGithub over HTTP, a real bare origin):
one deployment pull request per rollout, labelled, with the evidence; ``DEPLOY_AUTO_MERGE`` asks GitHub's
auto-merge (the GraphQL mutation), so branch protection still decides; a second step pushes nothing."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from typer.testing import CliRunner

from deployment import deploy_branch, parse_deploy_metadata
from gitops import apply_proposal
from tests.deployment.conftest import BOT, PAIR, T0, git
from tests.github_standin import GitHubEnv
from tests.gitops.proposals import demo_documents
from tradeloop import Provenance
from tradeloop.cli import app
from tradeloop.documents import Proposal

runner = CliRunner()


def _cold_on_origin(env: GitHubEnv, *, auto_merge: bool) -> None:
    """origin/main: auto-merge switched on by a maintainer, then the demo pair's optimizer change merged."""
    clone = env.clone
    for key, value in BOT.items():
        if key.endswith("_NAME"):
            git(clone, "config", "user.name", value)
        else:
            git(clone, "config", "user.email", value)
    constants = clone / "config" / "constants.py"
    if auto_merge:
        constants.write_text(
            constants.read_text().replace(
                "DEPLOY_AUTO_MERGE: Final[bool] = False", "DEPLOY_AUTO_MERGE: Final[bool] = True"
            )
        )
        git(clone, "commit", "-qam", "deployment: auto-merge promotions", at=T0 - timedelta(days=1))
    proposal = Proposal.from_json(demo_documents()[0])
    provenance = Provenance(run_id="20240531T230000Z-0000demo", git_sha="0" * 40, written_at=T0.isoformat())
    apply_proposal(clone, proposal, provenance=provenance, pr_number=3)
    git(clone, "commit", "-qam", "Merge pull request #3 from tradeloop/opt/demo", at=T0)
    git(clone, "push", "-q", "origin", "HEAD:main")


def _step(env: GitHubEnv, home: str, days: float) -> dict[str, object]:
    result = runner.invoke(
        app,
        ["--repo", str(env.clone), "--home", home, "--json", "deploy", "step", "--forge", "github", "--data",
         "reverting"],
        env={**env.env(), "TRADELOOP_NOW": (T0 + timedelta(days=days)).isoformat()},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    [rollout] = json.loads(result.stdout)["rollouts"]
    return dict(rollout)


@pytest.mark.parametrize("auto_merge", [True, False])
def test_a_promotion_opens_one_pull_request_and_asks_auto_merge_when_on(
    github_env: GitHubEnv, tmp_path: object, auto_merge: bool
) -> None:
    _cold_on_origin(github_env, auto_merge=auto_merge)
    home = str(github_env.clone.parent / "home")
    first = _step(github_env, home, 30)
    assert first["verdict"]["decision"] == "promote"  # type: ignore[index]
    [pull] = github_env.standin.open_prs()
    assert pull.head == deploy_branch(*PAIR) and pull.base == "main"
    assert {"tradeloop", "deployment"} <= set(pull.labels)
    assert pull.title == "deploy(rsi_reversion/DEMO): COLD → WARM (paper trading)"
    assert "| sharpe |" in pull.body and "| trades |" in pull.body
    metadata = parse_deploy_metadata(pull.body)
    assert metadata is not None and (metadata["from"], metadata["to"]) == ("COLD", "WARM")
    assert github_env.bare.file_at(pull.head, "feature_flags.json") is not None
    graphql = github_env.standin.calls("POST", "/graphql")
    if auto_merge:
        assert pull.auto_merge == "MERGE" and len(graphql) == 1
        assert "enablePullRequestAutoMerge" in graphql[0].body
    else:
        assert pull.auto_merge is None and graphql == []
    head = github_env.bare.branch_sha(pull.head)
    second = _step(github_env, home, 30.05)
    assert second["pull_request"]["action"] == "none"  # type: ignore[index]
    assert github_env.bare.branch_sha(pull.head) == head
    assert len(github_env.standin.calls("POST", r"/repos/acme/trading-bot/pulls")) == 1
    assert github_env.token not in json.dumps(second)
