"""``tradeloop validate`` through CliRunner: exit 0 on pass, 1 on fail, 2 on error; verdict files; the search
record beside the proposal; repeated looks at one holdout counted."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.validation.proposals import (
    daily,
    planted,
    planted_bars,
    with_params_after,
    with_source,
    write_bars,
    write_proposal,
)
from tradeloop.cli import app

runner = CliRunner()


def run(repo_root: Path, home: Path, proposal: Path, *extra: str, json_output: bool = False) -> Any:
    args = ["--home", str(home), "--repo", str(repo_root)]
    args += ["--json"] if json_output else []
    args += ["validate", "--proposal", str(proposal), "--seed", "1", "--reps", "200", *extra]
    return runner.invoke(app, args)


@pytest.fixture(scope="module")
def planted_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("planted")
    source = write_bars(planted_bars(), folder / "data")
    outcome = planted()
    write_proposal(folder / "proposal", with_source(outcome.proposal.to_json(), source), outcome.record)
    return folder / "proposal"


def _copy(folder: Path, into: Path, document: dict[str, Any] | None = None) -> Path:
    into.mkdir(parents=True, exist_ok=True)
    for path in folder.iterdir():
        (into / path.name).write_bytes(path.read_bytes())
    if document is not None:
        (into / "proposal.json").write_text(json.dumps(document), encoding="utf-8")
    return into / "proposal.json"


def test_a_planted_improvement_exits_0_and_writes_the_verdict(
    repo_root: Path, tmp_path: Path, planted_dir: Path
) -> None:
    proposal = _copy(planted_dir, tmp_path / "p")
    result = run(repo_root, tmp_path / "home", proposal, "--out", str(tmp_path / "v"))
    assert result.exit_code == 0, result.stdout + result.stderr
    verdict = json.loads((tmp_path / "v" / "verdict.json").read_text())
    assert verdict["kind"] == "tradeloop.verdict" and verdict["decision"] == "pass"
    assert verdict["proposal_hash"] == planted().proposal.to_json()["proposal_hash"]
    assert (
        verdict["overfitting"]["n_trials_raw"]
        == planted().proposal.to_json()["search_record"]["configurations"]
    )
    assert "**Decision: PASS**" in (tmp_path / "v" / "verdict.md").read_text()
    assert "verdict: PASS" in result.stdout and "holdout" in result.stdout


def test_the_live_parameters_again_exit_1(repo_root: Path, tmp_path: Path) -> None:
    outcome = daily()
    document = with_params_after(outcome.proposal.to_json(), outcome.proposal.to_json()["params_before"])
    proposal = write_proposal(tmp_path / "p", document, outcome.record)
    result = run(repo_root, tmp_path / "home", proposal, json_output=True)
    assert result.exit_code == 1, result.stdout + result.stderr
    summary = json.loads(result.stdout)
    failed = {gate["name"] for gate in summary["gates"] if gate["gating"] and not gate["passed"]}
    assert {"effect_size", "holdout_sharpe_test", "stepm_superior"} <= failed
    assert Path(summary["verdict"]) == tmp_path / "p" / "verdict.json"  # default: beside the proposal


def test_the_daily_loss_gate_uses_trading_capital_usd_unless_told_otherwise(
    repo_root: Path, tmp_path: Path, planted_dir: Path
) -> None:
    proposal = _copy(planted_dir, tmp_path / "p")

    def daily_loss(*options: str) -> dict[str, Any]:
        result = run(repo_root, tmp_path / "home", proposal, *options, json_output=True)
        gates = {gate["name"]: gate for gate in json.loads(result.stdout)["gates"]}
        return gates["worst_daily_loss"]

    by_default, on_ten_thousand = daily_loss(), daily_loss("--capital-usd", "10000")
    # TRADING_CAPITAL_USD is 1,000 USD in the shipped constants: the same worst day costs 10x less.
    assert by_default["figure"] > 0
    assert on_ten_thousand["figure"] == pytest.approx(10 * by_default["figure"])
    assert "1,000 USD" in by_default["detail"]


def test_validations_of_the_same_holdout_are_counted(
    repo_root: Path, tmp_path: Path, planted_dir: Path
) -> None:
    proposal = _copy(planted_dir, tmp_path / "p")
    looks, levels = [], []
    for _ in range(3):
        result = run(repo_root, tmp_path / "home", proposal, json_output=True)
        assert result.exit_code in (0, 1), result.stdout + result.stderr
        verdict = json.loads(Path(json.loads(result.stdout)["verdict"]).read_text())
        looks.append(verdict["holdout"]["earlier_looks"])
        gates = {gate["name"]: gate for gate in verdict["gates"]}
        levels.append((verdict["holdout"]["alpha"], gates["holdout_sharpe_test"]["threshold"]))
    assert looks == [0, 1, 2]
    # each look is recorded with its holdout deltas, which the dashboard shows beside the proposal
    from warehouse import Warehouse

    with Warehouse(f"sqlite:///{tmp_path / 'home' / 'warehouse.db'}") as warehouse:
        [recorded, *_] = [run.params for run in warehouse.runs("validate")]
    assert recorded is not None and recorded["proposal_hash"] == verdict["proposal_hash"]
    assert recorded["holdout_delta_sharpe"] == pytest.approx(verdict["effect_size"]["delta_sharpe"])
    kpis = verdict["kpis"]
    assert recorded["holdout_delta_return_pct"] == pytest.approx(
        kpis["candidate"]["return_pct"] - kpis["baseline"]["return_pct"]
    )
    # each earlier look halves the level the gating tests are held to
    assert levels == [(0.05, 0.05), (0.025, 0.025), (0.0125, 0.0125)]
    assert (
        "2 earlier validation(s) of this pair looked at these bars; each halves the level: "
        "the gates test at α = 0.0125" in (tmp_path / "p" / "verdict.md").read_text()
    )


def test_the_search_record_is_checked_against_the_proposal(
    repo_root: Path, tmp_path: Path, planted_dir: Path
) -> None:
    proposal = _copy(planted_dir, tmp_path / "p")
    record = tmp_path / "p" / planted().proposal.to_json()["search_record"]["path"]
    moved = tmp_path / "elsewhere.json.gz"
    record.rename(moved)
    missing = run(repo_root, tmp_path / "home", proposal)
    assert missing.exit_code == 2
    assert "does not exist; pass --search-record PATH" in missing.stderr and record.name in missing.stderr
    given = run(repo_root, tmp_path / "home", proposal, "--search-record", str(moved), json_output=True)
    assert given.exit_code == 0, given.stdout + given.stderr
    other = tmp_path / "other.json.gz"
    daily_record = daily().record
    assert daily_record is not None
    daily_record.write(other)
    wrong = run(repo_root, tmp_path / "home", proposal, "--search-record", str(other))
    assert wrong.exit_code == 2 and "not this proposal's search record" in wrong.stderr


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kind": "something.else"}, "kind must be 'tradeloop.proposal'"),
        ({"schema_version": 9}, "schema_version must be 1"),
        ({"data_hash": "0123456789abcdef"}, "data.data_hash is '0123456789abcdef'"),
        ({"bars": 12}, "data.bars is 12"),
        ({"start": "not a time"}, "data.start 'not a time' is not an ISO-8601 time"),
        ({"holdout": None}, "holdout.boundary is missing"),
    ],
)
def test_a_bad_proposal_exits_2_with_the_field_named(
    repo_root: Path, tmp_path: Path, planted_dir: Path, change: dict[str, Any], message: str
) -> None:
    document = json.loads((planted_dir / "proposal.json").read_text())
    for key, value in change.items():
        (document["data"] if key in document["data"] else document)[key] = value
    proposal = _copy(planted_dir, tmp_path / "p", document)
    result = run(repo_root, tmp_path / "home", proposal)
    assert result.exit_code == 2
    assert message in result.stderr and str(proposal) in result.stderr
    assert not (tmp_path / "p" / "verdict.json").exists()


def test_a_missing_or_malformed_file_exits_2(repo_root: Path, tmp_path: Path) -> None:
    result = run(repo_root, tmp_path / "home", tmp_path / "absent.json")
    assert result.exit_code == 2 and "cannot read the proposal" in result.stderr
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    result = run(repo_root, tmp_path / "home", broken)
    assert result.exit_code == 2 and "not valid JSON (line 1" in result.stderr
