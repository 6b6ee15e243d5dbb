"""How the monitor rolls back, end to end through the CLI on real git:

- counted checks (the Sharpe drop against the shadow of the replaced parameters) open one rollback pull
  request labelled ``rollback`` after ``MONITOR_FAILURE_THRESHOLD`` failed intervals in a row, updated (not
  duplicated) by later runs; its branch restores the pair's previous parameters and keeps a later merge of
  another pair; merged, the guardrail memory never proposes the rolled-back configuration again;
- on GitHub, where branch protection refuses the push of a hard-limit rollback, the rollback becomes a pull
  request with auto-merge requested, and the alert says so;
- the dead man's switch: ``notify --deadman`` raises one error alert when the monitor stopped running.
"""

from __future__ import annotations

import dataclasses
import json
import os
import stat
import subprocess
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gitops import (
    BotIdentity,
    LocalForge,
    Stage,
    apply_proposal,
    build_commit,
    load_feature_flags,
    read_memory,
    rollback_branch,
    save_feature_flags,
)
from tests.deployment.alert_server import AlertServer, serve
from tests.deployment.conftest import BOT, KEY, PAIR, T0, DeployRepo, git, merge_optimizer_change, write_jsonl
from tests.github_standin import GitHubEnv
from tests.gitops.proposals import demo_documents
from tradeloop import Provenance
from tradeloop.documents import Proposal

BAR = timedelta(minutes=15)
FULL_AT = T0 + timedelta(days=2)


@pytest.fixture
def webhooks(monkeypatch: pytest.MonkeyPatch) -> Iterator[AlertServer]:
    for name in ("GITHUB_TOKEN", "TRADELOOP_GITHUB_TOKEN", "TRADELOOP_DB_URL"):
        monkeypatch.delenv(name, raising=False)
    with serve() as server:
        monkeypatch.setenv("TRADELOOP_WEBHOOK_OPS", server.hook("ops"))
        yield server


def promote_to_full(repo: Path, at: datetime, stage: str = "FULL") -> None:
    """The rollout moved to ``stage`` (FULL, or LIMITED at its canary share) by a merged deployment PR."""
    path = repo / "feature_flags.json"
    flags = load_feature_flags(path)
    rollout = flags.rollout(*PAIR)
    assert rollout is not None
    phase, fraction = ("succeeded", 1.0) if stage == "FULL" else ("progressing", 0.1)
    full = dataclasses.replace(
        rollout, stage=Stage(stage), phase=phase, canary_fraction=fraction, updated_at=at
    )
    provenance = Provenance(run_id="20240602T000000Z-00000full", git_sha="0" * 40, written_at=at.isoformat())
    save_feature_flags(path, flags.with_rollout(*PAIR, full), provenance)
    git(repo, "commit", "-q", "-am", f"Merge pull request #8: {KEY} LIMITED → FULL", at=at)


def merge_other_pair(repo: Path, at: datetime) -> None:
    git(repo, "checkout", "-q", "-b", "tune-ema")
    path = repo / "config" / "constants.py"
    text = path.read_text()
    old = '"ema_fast": 10,'
    assert old in text
    path.write_text(text.replace(old, '"ema_fast": 11,', 1))
    git(repo, "commit", "-q", "-am", "ema_cross/NASDAQ: faster EMA", at=at - timedelta(minutes=5))
    git(repo, "checkout", "-q", "main")
    git(repo, "merge", "-q", "--no-ff", "-m", "Merge pull request #9 from tune-ema", "tune-ema", at=at)


def degraded_rows(
    since: datetime,
    new_hash: str,
    old_hash: str,
    *,
    bars: int,
    crash: int | None = None,
    baseline_mode: str = "paper",
) -> list[Any]:
    """15-minute equity: the replaced parameters (shadow, paper) earn, the new ones (live) lose a little
    each bar (a Sharpe drop, no hard limit on a 100 USD canary), or crash 12 % at bar ``crash``."""
    rng = np.random.default_rng(11)
    market = rng.normal(0.0002, 0.001, bars)
    new = market - 0.0006 + rng.normal(0.0, 0.0005, bars)
    if crash is not None:
        new = market.copy()
        new[crash - 1] = -0.12
    rows = []
    for config_hash, mode, returns in ((new_hash, "live", new), (old_hash, baseline_mode, market)):
        equity = 100.0 * np.cumprod(1.0 + returns)
        rows += [
            {"kind": "equity", "strategy": PAIR[0], "symbol": PAIR[1], "config_hash": config_hash,
             "mode": mode, "ts": (since + BAR * (i + 1)).isoformat(), "equity_usd": round(float(v), 6)}
            for i, v in enumerate(equity)
        ]  # fmt: skip
    return rows


def demo_entry(text: str) -> str:
    """The demo pair's ``LIVE_PARAMS`` entry, as source text."""
    start = text.index('        "DEMO": {')
    return text[start : text.index('        "SP500": {', start)]


def _forged_rollback(target: DeployRepo, branch: str) -> int:
    """A pull request labelled ``rollback`` whose head is ``branch`` with one more parameter moved."""
    text = git(target.repo, "show", f"{branch}:config/constants.py").replace(
        '"rsi_period": 6,', '"rsi_period": 9,'
    )
    head = git(target.repo, "rev-parse", branch)
    sha = build_commit(target.repo, head, {"config/constants.py": text.encode()}, "sneak", BotIdentity())
    git(target.repo, "update-ref", "refs/heads/sneaky-rollback", sha)
    forge = LocalForge(target.repo, home=target.home)
    pr = forge.open_or_update(
        branch="sneaky-rollback", base="main", title="Roll back", body="", existing=None
    )
    forge.add_labels(pr, ["rollback"])
    return pr.number


def _hashes(repo: Path) -> tuple[str, str]:
    rollout = load_feature_flags(repo / "feature_flags.json").rollout(*PAIR)
    assert rollout is not None and rollout.previous_config_hash is not None
    return rollout.config_hash, rollout.previous_config_hash


def _monitor(target: DeployRepo, now: datetime, *extra: str) -> dict[str, Any]:
    out = target.cli("monitor", "--forge", "local", *extra, now=now, json_output=True)
    assert isinstance(out, dict), out.output
    return out


@pytest.mark.parametrize(("stage", "baseline_mode"), [("FULL", "paper"), ("LIMITED", "live")])
def test_counted_failures_open_one_rollback_pull_request_that_restores_the_previous_params(
    deploy_repo: DeployRepo, webhooks: AlertServer, tmp_path: Path, stage: str, baseline_mode: str
) -> None:
    """At FULL against the replaced parameters' shadow paper run; at LIMITED against their live 90 %."""
    target = deploy_repo
    before = target.file("config/constants.py")
    merge_optimizer_change(target)
    changed = target.file("config/constants.py")
    new_hash, old_hash = _hashes(target.repo)
    promote_to_full(target.repo, FULL_AT, stage)
    merge_other_pair(target.repo, FULL_AT + timedelta(minutes=20))
    main_before = git(target.repo, "rev-parse", "main")
    rows = degraded_rows(FULL_AT, new_hash, old_hash, bars=40, baseline_mode=baseline_mode)
    assert target.cli("deploy", "ingest", str(write_jsonl(tmp_path / "live.jsonl", rows))).exit_code == 0

    seen = []
    for k in (30, 31, 32, 33, 34):  # MONITOR_MIN_RETURNS paired returns need 31 points: bar 31 is the first
        [watch] = _monitor(target, FULL_AT + BAR * k + timedelta(minutes=1))["rollouts"]
        done = watch["rollback"]
        seen.append((watch["decision"], watch["failed_in_row"], done and done["action"]))
    # the fifth run makes the same rollback on the same base: nothing pushed, its checks and reviews stay
    assert seen == [("warn", 0, None), ("warn", 1, None), ("warn", 2, None), ("rollback", 3, "pr_opened"),
                    ("rollback", 3, "pr_unchanged")], seen  # fmt: skip
    # Three failed 15-minute checks: rolled back 2 intervals after the first failed one (bound: 3 × 15 min).
    assert "3 failed monitor checks in a row" in watch["reason"] and "sharpe_drop_pct" in watch["reason"]
    assert git(target.repo, "rev-parse", "main") == main_before  # a counted breach never commits on main
    pulls = json.loads((target.home / "forge" / "pulls.json").read_text())["pulls"]
    [pull] = [p for p in pulls.values() if p["branch"] == rollback_branch(*PAIR)]
    assert "rollback" in pull["labels"] and pull["state"] == "open"
    assert "| sharpe_drop_pct | fail |" in pull["body"]
    # pr check accepts it as the exact inverse of a checked change; a `rollback` label on anything else
    # (here the same pull request with one more value moved) is held to the bot's rules and refused.
    checked = target.cli("--json", "pr", "check", "--forge", "local", "--pr", str(pull["number"]))
    assert checked.exit_code == 0 and "returns exactly to its state before" in checked.stdout, checked.stdout
    forged = _forged_rollback(target, rollback_branch(*PAIR))
    refused = target.cli("--json", "pr", "check", "--forge", "local", "--pr", str(forged))
    assert refused.exit_code == 1 and "per-cycle cap" in refused.stdout, refused.stdout

    # The branch is the computed inverse: the demo pair's entry as before, the later NASDAQ merge kept.
    branch_text = git(target.repo, "show", f"{rollback_branch(*PAIR)}:config/constants.py")
    demo_before = before[
        before.index('        "DEMO": {') : before.index('        "SP500": {', before.index('"DEMO"'))
    ]
    assert demo_before in branch_text and demo_before not in changed
    assert '"ema_fast": 11,' in branch_text
    flags_text = git(target.repo, "show", f"{rollback_branch(*PAIR)}:feature_flags.json")
    assert KEY not in json.loads(flags_text)["rollouts"]

    # Alerts: info once for the stage, one warn per failed check, one error for the rollback (not repeated
    # by the fifth run).
    got = [(b["severity"], b["event"]) for b in webhooks.bodies("ops")]
    expected = [("info", "stage"), ("warn", "inconclusive"), ("warn", "check_failed_1"),
                ("warn", "check_failed_2"), ("error", "rollback")]  # fmt: skip
    assert got == expected, got
    assert "Review and merge" in webhooks.bodies("ops")[-1]["text"]

    # Merged by a person, the rollback is remembered: the rolled-back configuration is never proposed again.
    git(target.repo, "merge", "-q", "--no-ff", "-m", "Merge pull request #10", rollback_branch(*PAIR),
        at=FULL_AT + timedelta(hours=9))  # fmt: skip
    memory = read_memory(target.repo)
    [rejection] = [r for r in memory.rejections if (r.strategy, r.symbol) == PAIR]
    assert rejection.kind == "reverted" and rejection.config_hash == new_hash
    assert target.cli("state", "check").exit_code == 0
    assert _monitor(target, FULL_AT + timedelta(hours=10))["rollouts"] == []


def _protected_main(env: GitHubEnv) -> None:
    hook = env.bare.path / "hooks" / "pre-receive"
    hook.write_text(
        '#!/bin/sh\nwhile read old new ref; do\n  if [ "$ref" = refs/heads/main ]; then\n'
        "    echo 'GH006: Protected branch update failed for refs/heads/main.' >&2; exit 1\n  fi\ndone\n"
    )
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR)


def test_a_hard_breach_on_a_protected_main_opens_a_pull_request_with_auto_merge(
    github_env: GitHubEnv, webhooks: AlertServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clone = github_env.clone
    for key, value in BOT.items():
        git(clone, "config", "user.name" if key.endswith("_NAME") else "user.email", value)
    provenance = Provenance(run_id="20240531T230000Z-0000demo", git_sha="0" * 40, written_at=T0.isoformat())
    apply_proposal(clone, Proposal.from_json(demo_documents()[0]), provenance=provenance, pr_number=3)
    git(clone, "commit", "-qam", "Merge pull request #3 from tradeloop/opt/demo", at=T0)
    promote_to_full(clone, FULL_AT)
    git(clone, "push", "-q", "origin", "HEAD:main")
    _protected_main(github_env)
    new_hash, old_hash = _hashes(clone)
    for key, value in github_env.env().items():
        monkeypatch.setenv(key, value)
    home = tmp_path / "home"
    target = DeployRepo(clone, home)
    rows = degraded_rows(FULL_AT, new_hash, old_hash, bars=8, crash=5)
    assert target.cli("deploy", "ingest", str(write_jsonl(tmp_path / "crash.jsonl", rows))).exit_code == 0
    out = target.cli(
        "monitor", "--forge", "github", now=FULL_AT + BAR * 5 + timedelta(minutes=1), json_output=True
    )
    assert isinstance(out, dict), out.output
    [watch] = out["rollouts"]
    assert watch["decision"] == "rollback_now"
    done = watch["rollback"]
    assert done["action"] == "pr_auto_merge" and done["auto_merge"] and "GH006" in done["refused"]
    assert github_env.bare.branch_sha("main") == git(clone, "rev-parse", "origin/main")
    [pull] = github_env.standin.open_prs()
    assert pull.head == rollback_branch(*PAIR) and pull.auto_merge == "MERGE" and "rollback" in pull.labels
    [alert] = [b for b in webhooks.bodies("ops") if b["severity"] == "error"]
    assert "refused the push" in alert["text"] and "auto-merge requested" in alert["text"]
    assert github_env.token not in json.dumps(out) and os.environ["GITHUB_TOKEN"] not in alert["text"]


def test_the_dead_mans_switch_raises_one_error_alert(deploy_repo: DeployRepo, webhooks: AlertServer) -> None:
    target = deploy_repo
    merge_optimizer_change(target)
    promote_to_full(target.repo, FULL_AT)
    ran = FULL_AT + timedelta(hours=1)
    _monitor(target, ran)
    fine = target.cli("notify", "--deadman", now=ran + timedelta(minutes=44))
    assert fine.exit_code == 0 and "no dead man's alert" in fine.stdout, fine.output
    late = target.cli("notify", "--deadman", now=ran + timedelta(minutes=46))
    assert late.exit_code == 0 and "alert error deadman: sent" in late.stdout, late.output
    again = target.cli("notify", "--deadman", now=ran + timedelta(hours=3))
    assert "alert error deadman: duplicate" in again.stdout
    [alert] = [b for b in webhooks.bodies("ops") if b["event"] == "deadman"]
    assert (
        alert["severity"] == "error"
        and KEY in alert["text"]
        and "has not run for 3 intervals" in alert["text"]
    )


def test_rollback_by_hand_undoes_one_pair_where_git_revert_conflicts(deploy_repo: DeployRepo) -> None:
    target = deploy_repo
    before = target.file("config/constants.py")
    merge = merge_optimizer_change(target)
    promote_to_full(target.repo, FULL_AT)
    merge_other_pair(target.repo, FULL_AT + timedelta(minutes=20))
    head = git(target.repo, "rev-parse", "HEAD")
    command = ["git", "-C", str(target.repo), "revert", "--no-edit", "-m", "1", merge]
    reverted = subprocess.run(command, capture_output=True, text=True, env={**os.environ, **BOT}, check=False)
    assert reverted.returncode != 0 and "conflict" in (reverted.stdout + reverted.stderr).lower()
    git(target.repo, "revert", "--abort")
    assert git(target.repo, "rev-parse", "HEAD") == head

    bad = target.cli("rollback", "--pair", "rsi_reversion", "--forge", "local", "--apply")
    assert bad.exit_code != 0 and "name the pair as STRATEGY/SYMBOL" in bad.output
    done = target.cli("rollback", "--pair", KEY, "--forge", "local", "--apply", json_output=True)
    assert isinstance(done, dict), done.output
    assert done["action"] == "committed" and git(target.repo, "rev-parse", "HEAD") == done["commit"]
    after = target.file("config/constants.py")
    demo = before[
        before.index('        "DEMO": {') : before.index('        "SP500": {', before.index('"DEMO"'))
    ]
    assert demo in after and '"ema_fast": 11,' in after
    assert KEY not in json.loads(target.file("feature_flags.json"))["rollouts"]
    assert target.cli("state", "check").exit_code == 0


def test_a_hard_breach_on_paper_in_warm_fails_the_rollout_through_its_deployment_pull_request(
    deploy_repo: DeployRepo, webhooks: AlertServer, tmp_path: Path
) -> None:
    target = deploy_repo
    merge_optimizer_change(target)
    new_hash, old_hash = _hashes(target.repo)
    path = target.repo / "feature_flags.json"
    flags = load_feature_flags(path)
    rollout = flags.rollout(*PAIR)
    assert rollout is not None
    warm = dataclasses.replace(rollout, stage=Stage.WARM, canary_fraction=0.0)
    provenance = Provenance(
        run_id="20240602T000000Z-00000warm", git_sha="0" * 40, written_at=FULL_AT.isoformat()
    )
    save_feature_flags(path, flags.with_rollout(*PAIR, warm), provenance)
    git(target.repo, "commit", "-q", "-am", f"Merge pull request #8: {KEY} COLD → WARM", at=FULL_AT)
    main_before = git(target.repo, "rev-parse", "main")
    calm = degraded_rows(FULL_AT, new_hash, old_hash, bars=8, crash=None, baseline_mode="live")
    paper = [dict(row, mode="paper") for row in calm if row["config_hash"] == new_hash]
    for row in paper[4:]:  # the paper equity of the new parameters crashes 12 % at bar 5
        row["equity_usd"] = round(row["equity_usd"] * 0.88, 6)
    rows = paper + [row for row in calm if row["config_hash"] == old_hash]
    assert target.cli("deploy", "ingest", str(write_jsonl(tmp_path / "warm.jsonl", rows))).exit_code == 0
    quiet = _monitor(target, FULL_AT + BAR * 4 + timedelta(minutes=1))
    assert quiet["rollouts"] == []  # WARM is deploy step's: the monitor speaks only on a hard breach
    out = _monitor(target, FULL_AT + BAR * 5 + timedelta(minutes=1))
    [watch] = out["rollouts"]
    assert watch["stage"] == "WARM" and watch["failed_move"]["action"] == "created", watch
    assert (
        git(target.repo, "rev-parse", "main") == main_before
    )  # no capital in WARM: a pull request, no revert
    number = watch["failed_move"]["number"]
    checked = target.cli("--json", "pr", "check", "--forge", "local", "--pr", str(number))
    assert checked.exit_code == 0, checked.stdout  # pr check accepts a failure carrying the breached limit
    after = json.loads(git(target.repo, "show", "tradeloop/deploy/rsi_reversion-DEMO:feature_flags.json"))
    moved = after["rollouts"][KEY]
    assert (moved["stage"], moved["phase"], moved["canary_fraction"]) == ("WARM", "failed", 0.0)
    [alert] = webhooks.bodies("ops")
    assert (alert["severity"], alert["event"]) == ("error", "rollout_failed") and f"#{number}" in alert[
        "text"
    ]


def test_deploy_step_alerts_a_hold_once_and_a_failed_rollout(
    deploy_repo: DeployRepo, webhooks: AlertServer
) -> None:
    """``deploy step`` alerts too: warn once for the holds of a stage, error for the failure (no data, three
    analyses); the step's output lists the deliveries."""
    target = deploy_repo
    merge_optimizer_change(target)
    path = target.repo / "feature_flags.json"
    flags = load_feature_flags(path)
    rollout = flags.rollout(*PAIR)
    assert rollout is not None
    warm = dataclasses.replace(rollout, stage=Stage.WARM, updated_at=FULL_AT)
    save_feature_flags(path, flags.with_rollout(*PAIR, warm), Provenance(run_id="by-hand", git_sha="nogit"))
    git(target.repo, "commit", "-q", "-am", "WARM by hand", at=FULL_AT)
    outputs = []
    for hour in (1, 2, 3):
        done = target.cli("deploy", "step", "--forge", "local", now=FULL_AT + timedelta(hours=hour))
        assert done.exit_code == 0, done.output
        outputs.append(done.stdout)
    got = [(b["severity"], b["event"], b["stage"]) for b in webhooks.bodies("ops")]
    assert got == [("warn", "hold", "WARM"), ("error", "rollout_failed", "WARM")], got
    assert "alert warn hold" in outputs[0] and "alert error rollout_failed" in outputs[2]
    assert "alert warn hold" in outputs[1] and ": duplicate" in outputs[1]  # the stage's hold: already said
