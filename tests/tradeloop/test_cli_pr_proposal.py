"""``tradeloop pr proposal``: a contract-2 proposal rebuilt from a pull request on the GitHub stand-in."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from backtest_matrix.data import load_bars
from backtest_matrix.engine import EngineConfig, backtest
from backtest_matrix.strategies import get_strategy
from gitops import BotIdentity, GitHubForge, build_commit, load_constants, parse_proposal, proposal_hash
from optimizer import cadence_window
from tests.github_standin import GitHubEnv, git
from tradeloop.cli import app
from validation import load_proposal as load_for_validation

runner = CliRunner()
CONSTANTS = "config/constants.py"


@pytest.fixture
def gh(github_env: GitHubEnv, monkeypatch: pytest.MonkeyPatch) -> GitHubEnv:
    for key, value in github_env.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("TRADELOOP_GITHUB_TOKEN", raising=False)
    return github_env


def _open_pr(env: GitHubEnv, branch: str, replacements: list[tuple[str, str]]) -> int:
    text = env.bare.file_at("main", CONSTANTS) or ""
    for old, new in replacements:
        assert old in text
        text = text.replace(old, new, 1)
    base = git("rev-parse", "origin/main", cwd=env.clone)
    sha = build_commit(env.clone, base, {CONSTANTS: text.encode()}, "hand-made", BotIdentity())
    git("push", "--quiet", "origin", f"{sha}:refs/heads/{branch}", cwd=env.clone)
    forge = GitHubForge(env.clone, env=env.env())
    return forge.open_or_update(branch=branch, base="main", title="hand-made", body="", existing=None).number


def _proposal(env: GitHubEnv, tmp_path: Path, number: int) -> tuple[int, str, Path]:
    out = tmp_path / "proposal.json"
    result = runner.invoke(
        app,
        [
            "--repo",
            str(env.clone),
            "pr",
            "proposal",
            "--pr",
            str(number),
            "--data",
            "sp500",
            "--out",
            str(out),
        ],
    )
    return result.exit_code, result.stdout + result.stderr, out


def test_the_proposal_holds_the_pull_requests_change_backtested(gh: GitHubEnv, tmp_path: Path) -> None:
    number = _open_pr(gh, "tune", [('"ema_fast": 12,', '"ema_fast": 13,')])

    code, out, path = _proposal(gh, tmp_path, number)

    assert code == 0, out
    document = json.loads(path.read_text())
    parse_proposal(document, "proposal.json")  # the gitops schema (contract 2)
    parsed = load_for_validation(path)  # what `tradeloop validate` reads
    assert (document["strategy"], document["symbol"], document["timeframe"]) == ("ema_cross", "SP500", "1d")
    assert document["params_before"]["ema_fast"] == 12 and document["params_after"]["ema_fast"] == 13
    [change] = document["changes"]
    assert (change["parameter"], change["current"], change["proposed"]) == ("ema_fast", 12, 13)
    assert change["delta_pct"] == pytest.approx(100 / 12)
    assert document["proposal_hash"] == proposal_hash(document)
    assert parsed.candidates == [parsed.params_after]
    # KPIs re-backtested on the cadence window of the source, with the base's fees.
    constants = load_constants(gh.clone / CONSTANTS)
    window = cadence_window(load_bars("sp500").bars, "weekly")
    assert document["data"]["bars"] == len(window)
    assert pd.Timestamp(document["data"]["start"]) == window.index[0]
    after = get_strategy("ema_cross").resolve({**document["params_before"], "ema_fast": 13})
    run = backtest(
        window,
        "ema_cross",
        after,
        config=EngineConfig(fee_bps=constants.fee_bps, slippage_bps=constants.slippage_bps),
    )
    assert document["kpis_after"]["overall"]["sharpe"] == pytest.approx(run.kpis["sharpe"])
    assert document["config_hash_before"] != document["config_hash_after"]


def test_a_pull_request_moving_two_pairs_is_refused(gh: GitHubEnv, tmp_path: Path) -> None:
    number = _open_pr(
        gh, "two-pairs", [('"ema_fast": 12,', '"ema_fast": 13,'), ('"ema_fast": 10,', '"ema_fast": 11,')]
    )

    code, out, path = _proposal(gh, tmp_path, number)

    assert code == 2 and not path.exists()
    assert "LIVE_PARAMS changes for 2 strategy/symbol pairs (ema_cross/NASDAQ, ema_cross/SP500)" in out
