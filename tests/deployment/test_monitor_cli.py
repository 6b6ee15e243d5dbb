"""The monitor end to end through the CLI, on real git, the warehouse and a local alert server.

An optimizer change of ``ema_cross/SP500`` (a real ``tradeloop propose`` on the embedded daily data) is
merged, reaches FULL (the promotion walk itself is ``test_deploy_cli``'s), and another pair's change merges
after it. The bot then reports a planted live degradation through ``tradeloop deploy ingest``; ``tradeloop
monitor``, run every interval, rolls the change back at the first interval that shows it, by committing the
computed inverse on ``main``: the pair's previous parameters byte for byte, the other pair's later change
kept. The alert server gets exactly one error alert, and a later ``tradeloop propose`` does not propose the
rolled-back configuration again.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gitops import Stage, load_feature_flags, save_feature_flags
from tests.deployment.alert_server import AlertServer, serve
from tests.deployment.conftest import write_jsonl
from tests.gitops import test_memory_cli as memory
from tests.gitops.test_memory_cli import CONSTANTS, T0, git, propose, tradeloop
from tradeloop import Provenance

DAY = timedelta(days=1)


@pytest.fixture
def webhooks() -> Iterator[AlertServer]:
    with serve() as server:
        yield server


@pytest.fixture(scope="module")
def storage(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('optuna') / 'optuna.db'}"


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """The bot repository of the guardrail tests: ema_cross/SP500 churning, so the optimizer proposes."""
    path = tmp_path / "bot"
    (path / "config").mkdir(parents=True)
    text = (memory.ROOT / CONSTANTS).read_text()
    for old, new in memory.CHURNING.items():
        text = text.replace(old, new, 1)
    (path / CONSTANTS).write_text(text)
    shutil.copy(memory.ROOT / "feature_flags.json", path / "feature_flags.json")
    git(path, "init", "-q", "-b", "main")
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "live state", at=T0 - timedelta(days=30))
    return path


def entry_source(text: str, table: str, strategy: str, symbol: str) -> str:
    """The exact source text of ``table[strategy][symbol]`` in ``config/constants.py``."""
    for node in ast.parse(text).body:
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", None) == table:
            value: Any = node.value
            for key in (strategy, symbol):
                value = value.values[[k.value for k in value.keys].index(key)]
            segment = ast.get_source_segment(text, value)
            assert segment is not None
            return segment
    raise AssertionError(f"no {table}")


def promote_to_full(repo: Path, at: Any) -> None:
    """The deployment pull requests' end state, merged: the rollout at FULL, succeeded."""
    path = repo / "feature_flags.json"
    flags = load_feature_flags(path)
    rollout = flags.rollout("ema_cross", "SP500")
    assert rollout is not None
    stamp = max(at, rollout.started_at)  # `pr open` stamps the wall clock
    full = dataclasses.replace(
        rollout, stage=Stage.FULL, phase="succeeded", canary_fraction=1.0, updated_at=stamp
    )
    provenance = Provenance(run_id="20250303T110000Z-00000full", git_sha="0" * 40, written_at=at.isoformat())
    save_feature_flags(path, flags.with_rollout("ema_cross", "SP500", full), provenance)
    git(repo, "commit", "-q", "-am", "Merge pull request #2 from tradeloop/deploy/ema_cross-sp500", at=at)


def merge_other_pair(repo: Path, at: Any) -> None:
    """A person's change of another pair, merged after the optimizer's (the interleaved merge)."""
    git(repo, "checkout", "-q", "-b", "tune-rsi")
    path = repo / CONSTANTS
    text = path.read_text()
    assert '"rsi_period": 14,' in text
    path.write_text(text.replace('"rsi_period": 14,', '"rsi_period": 15,', 1))
    git(repo, "commit", "-q", "-am", "rsi_reversion/SP500: slower RSI", at=at - timedelta(minutes=5))
    git(repo, "checkout", "-q", "main")
    git(repo, "merge", "-q", "--no-ff", "-m", "Merge pull request #3 from tune-rsi", "tune-rsi", at=at)


def live_rows(since: Any, new_hash: str, old_hash: str, *, days: int, crash_day: int) -> list[dict[str, Any]]:
    """Daily equity of the new parameters (live) and the replaced ones (shadow, paper): calm days, then the
    new parameters lose 9 % on ``crash_day`` (the planted degradation)."""
    rng = np.random.default_rng(5)
    market = rng.normal(0.0002, 0.001, days)
    new = market + rng.normal(0.0, 0.0003, days)
    new[crash_day - 1] = -0.09
    rows = []
    for config_hash, mode, returns in ((new_hash, "live", new), (old_hash, "paper", market)):
        equity = 1000.0 * np.cumprod(1.0 + returns)
        rows += [
            {"kind": "equity", "strategy": "ema_cross", "symbol": "SP500", "config_hash": config_hash,
             "mode": mode, "ts": (since + DAY * (i + 1)).isoformat(), "equity_usd": round(float(v), 6)}
            for i, v in enumerate(equity)
        ]  # fmt: skip
    return rows


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("GITHUB_TOKEN", "TRADELOOP_GITHUB_TOKEN", "TRADELOOP_DB_URL"):
        monkeypatch.delenv(name, raising=False)


def test_a_live_degradation_at_full_is_rolled_back_in_git_within_one_interval(
    repo: Path,
    tmp_path: Path,
    storage: str,
    webhooks: AlertServer,
    monkeypatch: pytest.MonkeyPatch,
    clean_env: None,
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("TRADELOOP_WEBHOOK_PAGER", webhooks.hook("pager"))
    monkeypatch.setenv("TRADELOOP_WEBHOOK_SLACK", webhooks.hook("slack"))
    before = (repo / CONSTANTS).read_text()
    first, _ = propose(repo, T0, storage, tmp_path / "first.json")
    assert first["status"] == "proposed"
    code, text = tradeloop(
        repo, T0, "--json", "pr", "open", "--proposal", str(tmp_path / "first.json"), home=home
    )
    assert code == 0, text
    git(repo, "merge", "-q", "--no-ff", "-m", "Merge pull request #1", json.loads(text)["branch"],
        at=T0 + timedelta(hours=1))  # fmt: skip
    rollout = load_feature_flags(repo / "feature_flags.json").rollout("ema_cross", "SP500")
    assert rollout is not None and rollout.previous_config_hash is not None
    full_at = T0 + timedelta(hours=2)
    promote_to_full(repo, full_at)
    merge_other_pair(repo, T0 + timedelta(hours=3))
    rows = live_rows(full_at, rollout.config_hash, rollout.previous_config_hash, days=8, crash_day=6)
    code, text = tradeloop(repo, None, "deploy", "ingest", str(write_jsonl(tmp_path / "live.jsonl", rows)),
                           home=home)  # fmt: skip
    assert code == 0, text

    decisions = []
    for day in range(1, 9):
        now = full_at + DAY * day + timedelta(minutes=5)
        monkeypatch.setenv("GIT_COMMITTER_DATE", now.isoformat())  # the rollback commit's time: the clock's
        code, text = tradeloop(repo, now, "--json", "monitor", "--forge", "local", home=home)
        assert code == 0, text
        result = json.loads(text)
        decisions.append([watch["decision"] for watch in result["rollouts"]])
        if any(watch["rollback"] for watch in result["rollouts"]):
            [watch] = result["rollouts"]
            break
    # Calm days hold (the Sharpe drop is inconclusive on too few returns); the crash rolls back at the first
    # monitor run after it: within one interval (1 day on daily bars), far inside interval × threshold.
    assert decisions == [["warn"]] * 5 + [["rollback_now"]], decisions
    assert {c["name"]: c["outcome"] for c in watch["checks"]}["max_drawdown_pct"] == "fail"
    assert watch["rollback"]["action"] == "committed"
    assert git(repo, "rev-parse", "HEAD") == watch["rollback"]["commit"]
    assert git(repo, "status", "--porcelain", "--untracked-files=no") == ""

    # The state files: that pair's previous parameters byte for byte, the later merge of the other pair kept.
    after = (repo / CONSTANTS).read_text()
    for table in ("LIVE_PARAMS",):
        assert entry_source(after, table, "ema_cross", "SP500") == entry_source(
            before, table, "ema_cross", "SP500"
        )
    assert '"rsi_period": 15,' in entry_source(after, "LIVE_PARAMS", "rsi_reversion", "SP500")
    assert load_feature_flags(repo / "feature_flags.json").rollout("ema_cross", "SP500") is None
    code, text = tradeloop(repo, None, "state", "check", home=home)
    assert code == 0, text

    # Exactly one error alert, on each webhook; a later monitor run finds nothing more to say.
    code, text = tradeloop(repo, full_at + DAY * 9, "--json", "monitor", "--forge", "local", home=home)
    assert code == 0 and json.loads(text)["rollouts"] == [], text
    errors = [body for body in webhooks.bodies("pager") if body["severity"] == "error"]
    assert [(e["event"], e["rollout"]) for e in errors] == [
        ("rollback", f"ema_cross/SP500@{rollout.config_hash}")
    ]
    assert "rolled back on main" in errors[0]["text"]
    assert len([b for b in webhooks.bodies("slack") if b["text"].startswith("[ERROR]")]) == 1

    # Undoing the rollback itself is refused: it would bring the rolled-back parameters back.
    code, text = tradeloop(repo, None, "rollback", "--pair", "ema_cross/SP500", "--forge", "local", "--apply",
                           home=home)  # fmt: skip
    assert code == 2 and "is itself a rollback" in text and "bring rolled-back parameters back" in text, text

    # The guardrail memory: the rollback restarts the pair's cooldown, and the rolled-back configuration is
    # never proposed again.
    monkeypatch.delenv("GIT_COMMITTER_DATE")
    soon, _ = propose(repo, now + timedelta(hours=1), storage, tmp_path / "soon.json")
    assert soon["status"] == "no_change" and soon["reason"].startswith("cooldown: "), soon["reason"]
    later = T0 + timedelta(days=40)
    again, text = propose(repo, later, storage, tmp_path / "again.json")
    assert again["status"] == "no_change", again
    assert (
        again["reason"].startswith("rolled back before: ") and first["proposal_hash"][:16] in again["reason"]
    )
