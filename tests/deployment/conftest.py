"""A real git repository whose main branch carries a merged optimizer pull request, and the bot's evidence.

The repository holds the shipped state files; :func:`merge_optimizer_change` applies the demo pair's real
proposal (``tests/gitops/golden/demo_proposal.json``, the change ``tradeloop cycle`` made) on a branch and
merges it into ``main`` with ``git merge --no-ff`` at a chosen time, as a person merging the optimizer's pull
request would. :func:`bot_rows` writes what the bot reports: per-bar equity of two parameter sets on the same
15-minute bars and their closed trades, seeded.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from gitops import apply_proposal
from tests.gitops.proposals import demo_documents
from tradeloop import Provenance
from tradeloop.cli import app
from tradeloop.documents import Proposal

REPO_ROOT = Path(__file__).resolve().parents[2]
PAIR = ("rsi_reversion", "DEMO")
KEY = "rsi_reversion/DEMO"
#: When the optimizer's pull request of the demo pair is merged: COLD starts (a window of the seeded
#: reverting market on which the demo candidate's backtest clears COLD's thresholds a month later).
T0 = datetime(2024, 6, 1, tzinfo=UTC)
BAR = timedelta(minutes=15)
BOT = {"GIT_AUTHOR_NAME": "maintainer", "GIT_AUTHOR_EMAIL": "maintainer@example.com",
       "GIT_COMMITTER_NAME": "maintainer", "GIT_COMMITTER_EMAIL": "maintainer@example.com"}  # fmt: skip
runner = CliRunner()


def git(repo: Path, *args: str, at: datetime | None = None) -> str:
    env = {**os.environ, **BOT, "GIT_CONFIG_NOSYSTEM": "1"}
    if at is not None:
        env |= {"GIT_AUTHOR_DATE": at.isoformat(), "GIT_COMMITTER_DATE": at.isoformat()}
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, env=env, check=True
    )
    return done.stdout.strip()


@dataclass
class DeployRepo:
    """A repository, its tradeloop home, and the CLI run against both at a fixed clock."""

    repo: Path
    home: Path

    def cli(self, *args: str, now: datetime | None = None, json_output: bool = False) -> Any:
        env = {"TRADELOOP_NOW": now.isoformat()} if now is not None else {}
        flags = ["--json"] if json_output else []
        result = runner.invoke(
            app, ["--repo", str(self.repo), "--home", str(self.home), *flags, *args], env=env
        )
        if json_output and result.exit_code == 0:
            return json.loads(result.stdout)
        return result

    def merge(self, branch: str, at: datetime) -> str:
        """Merge ``branch`` into ``main`` as a person would (``--no-ff``) at ``at``; the merge commit."""
        git(self.repo, "merge", "--no-ff", "-q", "-m", f"Merge {branch}", branch, at=at)
        return git(self.repo, "rev-parse", "HEAD")

    def file(self, path: str) -> str:
        return (self.repo / path).read_text(encoding="utf-8")


@pytest.fixture
def deploy_repo(tmp_path: Path) -> Iterator[DeployRepo]:
    repo = tmp_path / "repo"
    (repo / "config").mkdir(parents=True)
    shutil.copyfile(REPO_ROOT / "config" / "constants.py", repo / "config" / "constants.py")
    shutil.copyfile(REPO_ROOT / "feature_flags.json", repo / "feature_flags.json")
    git(tmp_path, "init", "-q", "-b", "main", str(repo))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "the live state", at=T0 - timedelta(days=30))
    yield DeployRepo(repo, tmp_path / "home")


def merge_optimizer_change(target: DeployRepo, at: datetime = T0) -> str:
    """The demo pair's proposal applied on a branch (rollout at COLD) and merged into main at ``at``."""
    proposal = Proposal.from_json(demo_documents()[0])
    git(target.repo, "checkout", "-q", "-b", "tradeloop/opt/demo")
    provenance = Provenance(run_id="20240531T230000Z-0000demo", git_sha="0" * 40, written_at=at.isoformat())
    apply_proposal(target.repo, proposal, provenance=provenance, pr_number=7)
    git(target.repo, "commit", "-q", "-am", "rsi_reversion/DEMO: the bands", at=at - timedelta(hours=1))
    git(target.repo, "checkout", "-q", "main")
    return target.merge("tradeloop/opt/demo", at)


def bot_rows(
    *,
    start: datetime,
    bars: int,
    candidate: tuple[str, str],
    baseline: tuple[str, str] | None,
    edge: float,
    trades: Sequence[int],
    seed: int,
    capital: tuple[float, float] = (1000.0, 1000.0),
) -> list[dict[str, Any]]:
    """What the bot reports for the demo pair from ``start``: the equity of the new parameters
    (``candidate`` = (config hash, mode)) and of the previous ones (``baseline``) at every bar, and their
    closed trades: ``trades`` = (new wins, new losses, old wins, old losses).

    The per-bar returns share the market's noise; the new parameters' differ by ``edge`` (a mean per-bar
    return) plus their own noise.
    """
    rng = np.random.default_rng(seed)
    market = rng.normal(0.0, 0.001, bars)
    own = rng.normal(edge, 0.0005, bars)
    times = [start + BAR * (i + 1) for i in range(bars)]
    rows: list[dict[str, Any]] = []
    sets = [(candidate, market + own, capital[0], trades[0], trades[1], "n")]
    if baseline is not None:
        sets.append((baseline, market, capital[1], trades[2], trades[3], "o"))
    for (config_hash, mode), returns, cash, wins, losses, tag in sets:
        equity = cash * np.cumprod(1.0 + returns)
        common = {"strategy": PAIR[0], "symbol": PAIR[1], "config_hash": config_hash, "mode": mode}
        rows += [
            {"kind": "equity", **common, "ts": at.isoformat(), "equity_usd": round(float(value), 6)}
            for at, value in zip(times, equity, strict=True)
        ]
        for index in range(wins + losses):
            entry = times[min(len(times) - 2, 1 + index * 2)]
            pnl = 0.8 if index < wins else -0.4
            rows.append({
                "kind": "trade", **common, "trade_id": f"{tag}-{seed}-{index}", "side": "long",
                "entry_time": entry.isoformat(), "exit_time": (entry + BAR).isoformat(), "entry_price": 100.0,
                "exit_price": 100.0 + pnl, "size": 1.0, "pnl_usd": pnl, "fees_usd": 0.01,
            })  # fmt: skip
    return rows


def write_csv(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    fields = sorted({name for row in rows for name in row})
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_jsonl(path: Path, rows: Sequence[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path
