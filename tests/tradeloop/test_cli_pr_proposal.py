"""``tradeloop pr proposal``: a contract-2 proposal rebuilt from a pull request on the GitHub stand-in."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from backtest_matrix.data import load_bars
from backtest_matrix.engine import EngineConfig, backtest
from backtest_matrix.strategies import get_strategy
from gitops import BotIdentity, GitHubForge, build_commit, load_constants, proposal_hash
from optimizer import cadence_window
from tests.github_standin import GitHubEnv, git
from tradeloop.cli import app
from tradeloop.documents import Proposal
from validation import require_validatable

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
    parsed = Proposal.read(path)  # the one parser of contract 2, what `tradeloop validate` reads
    require_validatable(parsed)  # and what validation asks of it beyond the contract
    assert parsed.to_json() == document
    assert (document["strategy"], document["symbol"], document["timeframe"]) == ("ema_cross", "SP500", "1d")
    assert document["params_before"]["ema_fast"] == 12 and document["params_after"]["ema_fast"] == 13
    [change] = document["changes"]
    assert (change["parameter"], change["current"], change["proposed"]) == ("ema_fast", 12, 13)
    assert change["delta_pct"] == pytest.approx(100 / 12)
    assert document["proposal_hash"] == proposal_hash(document)
    # A person's pull request names no search: it is judged on the holdout alone, never as "1 trial".
    assert parsed.candidates == () and document["search_record"] is None
    assert (
        document["search"]["n_effective_trials"] is None
        and "holdout alone" in document["search"]["record_note"]
    )
    # The holdout is the last VALIDATION_HOLDOUT_FRACTION of the cadence window; KPIs are on the bars before.
    constants = load_constants(gh.clone / CONSTANTS)
    whole = cadence_window(load_bars("sp500").bars, "weekly")
    held = math.ceil(constants.validation_holdout_fraction * len(whole))
    window = whole.iloc[:-held]
    assert document["data"]["bars"] == len(whole) and document["holdout"]["bars"] == held
    assert pd.Timestamp(document["data"]["start"]) == whole.index[0]
    assert pd.Timestamp(document["holdout"]["boundary"]) == whole.index[-held]
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


def _invoke(env: GitHubEnv, *args: str) -> dict[str, Any]:
    # A day on: the commit that made the pair churn is itself a change, and its cooldown has passed.
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    result = runner.invoke(app, ["--json", "--repo", str(env.clone), *args], env={"TRADELOOP_NOW": later})
    assert result.exit_code in (0, 1), result.stdout + result.stderr
    document: dict[str, Any] = json.loads(result.stdout[result.stdout.index("{") :])
    return document


def test_an_optimizer_pull_request_is_validated_on_its_own_holdout_and_search(
    gh: GitHubEnv, tmp_path: Path
) -> None:
    """propose -> pr open -> (label validate) pr proposal -> validate: the same holdout, the same search."""
    text = (gh.clone / CONSTANTS).read_text()
    churning = text.replace(
        '"ema_fast": 12,\n            "ema_slow": 26,', '"ema_fast": 4,\n            "ema_slow": 10,'
    )
    base = git("rev-parse", "origin/main", cwd=gh.clone)
    sha = build_commit(gh.clone, base, {CONSTANTS: churning.encode()}, "churning live pair", BotIdentity())
    git("push", "--quiet", "origin", f"{sha}:refs/heads/main", cwd=gh.clone)
    git("fetch", "--quiet", "origin", cwd=gh.clone)
    git("reset", "--quiet", "--hard", "origin/main", cwd=gh.clone)
    made = tmp_path / "optimizer" / "proposal.json"
    pair = ("-s", "ema_cross", "--symbol", "SP500", "-t", "1d", "--cadence", "weekly")
    proposed = _invoke(gh, "propose", *pair, "--trials", "8", "--seed", "3", "--out", str(made))
    assert proposed["status"] == "proposed", proposed
    original = json.loads(made.read_text())
    opened = _invoke(gh, "pr", "open", "--proposal", str(made), "--forge", "github")
    assert opened["action"] == "created", opened

    rebuilt_path = tmp_path / "validation" / "proposal.json"
    rebuilt = _invoke(gh, "pr", "proposal", "--pr", str(opened["pr_number"]), "--out", str(rebuilt_path))

    assert "restored by rerunning the seeded search" in rebuilt["search_record"]
    document = json.loads(rebuilt_path.read_text())
    assert document["holdout"]["boundary"] == original["holdout"]["boundary"]
    assert document["search_record"]["sha256"] == original["search_record"]["sha256"]
    assert (rebuilt_path.parent / document["search_record"]["path"]).is_file()
    verdict = _invoke(gh, "validate", "--proposal", str(rebuilt_path), "--reps", "100")
    checked = json.loads(Path(verdict["verdict"]).read_text())
    assert checked["overfitting"]["n_trials_raw"] == original["search_record"]["configurations"]
    assert checked["holdout"]["start"] == original["holdout"]["start"]
