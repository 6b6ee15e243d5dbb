"""``tradeloop propose`` end to end: a contract-2 proposal, reproducible, refused within the cooldown."""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from typer.testing import CliRunner

from backtest_matrix import load_bars
from backtest_matrix.engine import EngineConfig, backtest
from gitops import load_constants
from optimizer import SearchRecord, cadence_window, step_cap
from tradeloop import canonical_json, utc_now
from tradeloop.cli import app
from tradeloop.documents import Proposal
from warehouse import Warehouse

runner = CliRunner()
REPO_ROOT = Path(__file__).resolve().parents[2]
ARGS = ("propose", "-s", "ema_cross", "--symbol", "SP500", "-t", "1d", "--cadence", "weekly", "--trials", "8")
TOP_KEYS = {
    "schema_version", "kind", "run_id", "git_sha", "created_at", "strategy", "symbol", "timeframe", "cadence",
    "data", "status", "reason", "proposal_hash", "config_hash_before", "config_hash_after", "params_before",
    "params_after", "changes", "kpis_before", "kpis_after", "rationale", "search", "candidates", "guardrails",
    "holdout", "search_record",
}  # fmt: skip
CHANGE_KEYS = {
    "parameter", "current", "proposed", "delta_pct", "cap_pct", "bound", "binding", "expected_gain",
    "rationale",
}  # fmt: skip


CHURNING = ('"ema_fast": 12,\n            "ema_slow": 26,', '"ema_fast": 4,\n            "ema_slow": 10,')


def make_bot_repo(root: Path) -> Path:
    """A git repository holding the state files in one commit: the guardrail memory reads its history, so
    this repository's own development history stays out of the tests. ema_cross/SP500 trades at EMA 4/10:
    ~58 trades on the 2014-2018 holdout, so the holdout can judge a proposal (the shipped 12/26 makes 22,
    fewer than MIN_TRADES)."""
    repo = root / "bot"
    (repo / "config").mkdir(parents=True)
    text = (REPO_ROOT / "config" / "constants.py").read_text(encoding="utf-8")
    assert CHURNING[0] in text
    (repo / "config" / "constants.py").write_text(text.replace(*CHURNING), encoding="utf-8")
    shutil.copy(REPO_ROOT / "feature_flags.json", repo / "feature_flags.json")
    for args in (("init", "-q", "-b", "main"), ("add", "-A"), ("commit", "-q", "-m", "live state")):
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
            cwd=repo, check=True, capture_output=True,
        )  # fmt: skip
    return repo


@pytest.fixture
def bot_repo(tmp_path: Path) -> Path:
    return make_bot_repo(tmp_path)


def propose(home: Path, repo: Path, *extra: str) -> tuple[dict[str, Any], dict[str, Any]]:
    out = home / "out" / "proposal.json"
    result = runner.invoke(
        app,
        ["--json", "--home", str(home), "--repo", str(repo), *ARGS, "--seed", "3", "--out", str(out), *extra],
    )
    assert result.exit_code == 0, result.stderr + result.stdout
    summary = json.loads(result.stdout[result.stdout.index("{") :])
    return summary, json.loads(out.read_text())


@pytest.fixture(scope="module")
def first(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, Any], dict[str, Any], Path]]:
    home = tmp_path_factory.mktemp("propose1")
    with pytest.MonkeyPatch.context() as patch:  # module scope: set up before the per-test isolated home
        patch.setenv("TRADELOOP_HOME", str(home))
        summary, proposal = propose(home, make_bot_repo(home))
    yield summary, proposal, home


def test_propose_writes_a_contract_2_proposal(
    first: tuple[dict[str, Any], dict[str, Any], Path], repo_root: Path
) -> None:
    summary, proposal, home = first
    assert set(proposal) == TOP_KEYS
    repo_root = home / "bot"
    assert (proposal["schema_version"], proposal["kind"]) == (1, "tradeloop.proposal")
    assert summary["proposal_hash"] == proposal["proposal_hash"] and proposal["status"] == "proposed"
    constants = load_constants(repo_root / "config" / "constants.py")
    live = {k: v for k, v in constants.live_params["ema_cross"]["SP500"].items() if k != "timeframe"}
    assert {k: proposal["params_before"][k] for k in live} == live
    payload = {
        "strategy": "ema_cross",
        "symbol": "SP500",
        "timeframe": "1d",
        "params_after": proposal["params_after"],
    }
    assert proposal["proposal_hash"] == hashlib.sha256(canonical_json(payload).encode()).hexdigest()
    assert proposal["config_hash_before"] == constants.config_hash != proposal["config_hash_after"]
    changed = {k for k, v in proposal["params_after"].items() if v != proposal["params_before"][k]}
    assert {c["parameter"] for c in proposal["changes"]} == changed and 1 <= len(changed) <= 3
    for change in proposal["changes"]:
        assert set(change) == CHANGE_KEYS and change["binding"] in {"cap", "bound", "none"}
        low, high = json.loads(change["bound"])
        assert low <= change["proposed"] <= high
        assert abs(change["proposed"] - change["current"]) <= step_cap(change["current"], low, high, 0.2)
        assert change["expected_gain"] > 0
    assert proposal["guardrails"]["max_delta"] == 0.2 and proposal["guardrails"]["max_knobs"] == 3
    assert proposal["search"]["trials"] >= 8 and proposal["search"]["seed"] == 3
    assert 0 < len(proposal["candidates"]) <= 200
    assert all(set(c) == {"params", "objective"} for c in proposal["candidates"])
    assert proposal["rationale"]["summary"] and isinstance(proposal["rationale"]["flags"], list)
    assert (home / "out" / "proposal.md").read_text().startswith("# Proposal: ema_cross / SP500")


def test_the_search_record_is_written_beside_the_proposal(
    first: tuple[dict[str, Any], dict[str, Any], Path],
) -> None:
    _, proposal, home = first
    reference = proposal["search_record"]
    assert reference["path"] == "proposal.search_record.json.gz"
    record = SearchRecord.read(home / "out" / reference["path"], expected_sha256=reference["sha256"])
    assert len(record) == reference["configurations"] == sum(reference["stages"].values())
    assert 0 < reference["stages"]["B"] <= proposal["search"]["trials"]
    assert record.bars["end"] == proposal["holdout"]["search_end"]
    settings = proposal["search"]["settings"]
    assert (settings["trials"], settings["seed"], settings["cadence"]) == (8, 3, "weekly")


def test_proposal_passes_the_schema_every_stage_reads_it_with(
    first: tuple[dict[str, Any], dict[str, Any], Path], repo_root: Path
) -> None:
    schema_path = repo_root / "tradeloop" / "documents" / "schemas" / "proposal.schema.json"
    jsonschema.Draft202012Validator(json.loads(schema_path.read_text())).validate(first[1])
    assert Proposal.from_json(first[1]).to_json() == first[1]  # the one parser, and back exactly


def test_kpis_after_are_a_re_backtest_of_the_clipped_proposal_on_the_search_bars(
    first: tuple[dict[str, Any], dict[str, Any], Path],
) -> None:
    _, proposal, _ = first
    loaded = load_bars("sp500", timeframe="1d")
    assert proposal["data"]["data_hash"] == loaded.data_hash
    whole = cadence_window(loaded.bars, "weekly")
    assert proposal["data"]["bars"] == len(whole)
    held = math.ceil(0.25 * len(whole))
    window, holdout = whole.iloc[:-held], whole.iloc[-held:]
    assert proposal["holdout"]["boundary"] == holdout.index[0].isoformat() == proposal["holdout"]["start"]
    assert proposal["holdout"]["search_end"] == window.index[-1].isoformat()
    assert (proposal["holdout"]["bars"], proposal["holdout"]["search_bars"]) == (held, len(window))
    config = EngineConfig(fee_bps=10.0, slippage_bps=5.0)
    after = backtest(window, "ema_cross", proposal["params_after"], config=config).kpis
    before = backtest(window, "ema_cross", proposal["params_before"], config=config).kpis
    for name in ("return_pct", "sharpe", "max_drawdown_pct", "trades"):
        assert proposal["kpis_after"]["overall"][name] == pytest.approx(after[name], rel=1e-12)
        assert proposal["kpis_before"]["overall"][name] == pytest.approx(before[name], rel=1e-12)
    assert set(proposal["kpis_after"]["regimes"]) <= {"bull", "bear", "sideways", "high_vol"}


@pytest.mark.slow
def test_same_seed_with_one_worker_gives_the_same_proposal(
    first: tuple[dict[str, Any], dict[str, Any], Path], tmp_path: Path, bot_repo: Path
) -> None:
    _, proposal, _ = first
    _, again = propose(tmp_path, bot_repo)
    assert again["proposal_hash"] == proposal["proposal_hash"]
    assert again["params_after"] == proposal["params_after"] and again["changes"] == proposal["changes"]
    assert again["run_id"] != proposal["run_id"]


def test_the_warehouse_alone_never_blocks_a_proposal(tmp_path: Path, bot_repo: Path) -> None:
    """Git is the memory (tests/gitops/test_memory_cli.py): a merge the warehouse records but the branch
    does not show (a stale or foreign database) does not start a cooldown."""
    with Warehouse(f"sqlite:///{tmp_path / 'warehouse.db'}") as warehouse:
        run_id = warehouse.start_run("propose", git_sha="abc")
        (row,) = warehouse.add_proposals(
            [
                {
                    "run_id": run_id,
                    "strategy": "ema_cross",
                    "symbol": "SP500",
                    "timeframe": "1d",
                    "parameter": "ema_fast",
                    "current_value": 10.0,
                    "proposed_value": 12.0,
                    "bound": "[2, 200]",
                    "rationale": "test",
                    "kpis_before": {},
                    "kpis_after": {},
                    "config_hash": "c0ffee",
                }
            ]
        )
        warehouse.set_proposal_outcome("merged", ids=[row], decided_at=utc_now() - timedelta(hours=2))
    _, proposal = propose(tmp_path, bot_repo)
    assert proposal["status"] == "proposed"


def test_a_pair_that_is_not_live_is_refused(tmp_path: Path, repo_root: Path) -> None:
    result = runner.invoke(
        app, ["--home", str(tmp_path), "--repo", str(repo_root), "propose", "-s", "ema_cross",
              "--symbol", "BTC", "-t", "1d", "--cadence", "daily"],
    )  # fmt: skip
    assert result.exit_code == 2 and "LIVE_PARAMS has no entry ema_cross/BTC" in result.stderr
    result = runner.invoke(
        app, ["--home", str(tmp_path), "--repo", str(repo_root), *ARGS[:6], "4h", "--cadence", "daily"]
    )
    assert result.exit_code == 2 and "pass --timeframe 1d" in result.stderr
