"""The guardrail memory counts ensemble weight moves: a merged weights change starts the cooldown of every
strategy on the symbol and spends their change budget, read through ``tradeloop state memory`` on real git."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from tests.gitops.conftest import SHIPPED_CONSTANTS, SHIPPED_FLAGS
from tests.gitops.constants_text import without_donchian
from tradeloop.cli import app

runner = CliRunner()
T0 = datetime.fromisoformat("2025-03-03T09:00:00+00:00")
EMA_CROSS = '    "ema_cross": {\n        "NASDAQ"'
WEIGHTS = (
    'ENSEMBLE_WEIGHTS: Final = {"SP500": {"donchian_breakout": 0.2, "ema_cross": 0.4, "rsi_reversion": 0.4}}'
)


def git(repo: Path, *args: str, at: datetime) -> None:
    env = {**os.environ, "GIT_AUTHOR_NAME": "Ada", "GIT_AUTHOR_EMAIL": "ada@example.com",
           "GIT_COMMITTER_NAME": "Ada", "GIT_COMMITTER_EMAIL": "ada@example.com", "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_DATE": at.isoformat(), "GIT_COMMITTER_DATE": at.isoformat()}  # fmt: skip
    subprocess.run(["git", "-C", str(repo), *args], env=env, check=True, capture_output=True)


def memory(repo: Path, now: datetime) -> dict[str, Any]:
    result = runner.invoke(
        app, ["--repo", str(repo), "--json", "state", "memory", "--forge", "local"],
        env={"TRADELOOP_NOW": now.isoformat()},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return {f"{p['strategy']}/{p['symbol']}": p for p in json.loads(result.stdout)["pairs"]}


def test_a_weights_change_starts_the_cooldown_of_the_symbol_s_strategies(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    (repo / "config").mkdir(parents=True)
    shutil.copyfile(SHIPPED_FLAGS, repo / "feature_flags.json")
    text = without_donchian(SHIPPED_CONSTANTS.read_text()).replace(
        EMA_CROSS, '    "donchian_breakout": {"SP500": {"timeframe": "1d"}},\n' + EMA_CROSS
    )
    (repo / "config" / "constants.py").write_text(text)
    git(tmp_path, "init", "-q", "-b", "main", str(repo), at=T0)
    git(repo, "add", "-A", at=T0)
    git(repo, "commit", "-q", "-m", "Three strategies on SP500", at=T0 - timedelta(days=30))
    (repo / "config" / "constants.py").write_text(text.replace("ENSEMBLE_WEIGHTS: Final = {}", WEIGHTS))
    git(repo, "commit", "-q", "-am", "SP500: ensemble weights", at=T0)

    pairs = memory(repo, T0 + timedelta(hours=1))
    for key, weight in (
        ("donchian_breakout/SP500", 0.2),
        ("ema_cross/SP500", 0.4),
        ("rsi_reversion/SP500", 0.4),
    ):
        pair = pairs[key]
        assert pair["blocked"] and "cooldown" in pair["status"], pair
        assert pair["changes"][-1]["parameters"] == {"ENSEMBLE_WEIGHTS.weight": [None, weight]}
        assert pair["budget_used"] == 1
    assert not pairs["ema_cross/NASDAQ"]["blocked"]
    assert not memory(repo, T0 + timedelta(hours=7))["ema_cross/SP500"]["blocked"]
