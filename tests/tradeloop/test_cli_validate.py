"""``tradeloop validate`` through CliRunner: exit 0 on pass, 1 on fail, 2 on error; verdict files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.validation.proposals import BAD, CAPITAL_USD, GOOD, make_proposal
from tradeloop.cli import app

runner = CliRunner()


def run(repo_root: Path, home: Path, proposal: Path, *extra: str, json_output: bool = False) -> Any:
    args = ["--home", str(home), "--repo", str(repo_root)]
    args += ["--json"] if json_output else []
    args += ["validate", "--proposal", str(proposal), "--seed", "1", "--reps", "200", *extra]
    return runner.invoke(app, args)


def write(path: Path, proposal: dict[str, Any]) -> Path:
    path.write_text(json.dumps(proposal), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def better_proposal() -> dict[str, Any]:
    return make_proposal(BAD, GOOD)


def test_a_passing_proposal_exits_0_and_writes_the_verdict(
    repo_root: Path, tmp_path: Path, better_proposal: dict[str, Any]
) -> None:
    proposal = write(tmp_path / "proposal.json", better_proposal)
    result = run(
        repo_root,
        tmp_path / "home",
        proposal,
        "--capital-usd",
        str(CAPITAL_USD),
        "--out",
        str(tmp_path / "v"),
    )
    assert result.exit_code == 0, result.stdout + result.stderr
    verdict = json.loads((tmp_path / "v" / "verdict.json").read_text())
    assert verdict["kind"] == "tradeloop.verdict" and verdict["decision"] == "pass"
    assert verdict["proposal_hash"] == better_proposal["proposal_hash"]
    assert "**Decision: PASS**" in (tmp_path / "v" / "verdict.md").read_text()
    assert "verdict: PASS" in result.stdout


def test_a_failing_proposal_exits_1_and_reports_json(repo_root: Path, tmp_path: Path) -> None:
    proposal = write(tmp_path / "proposal.json", make_proposal(GOOD, BAD))
    result = run(repo_root, tmp_path / "home", proposal, "--capital-usd", str(CAPITAL_USD), json_output=True)
    assert result.exit_code == 1, result.stdout + result.stderr
    summary = json.loads(result.stdout)
    assert summary["decision"] == "fail"
    failed = {gate["name"] for gate in summary["gates"] if gate["gating"] and not gate["passed"]}
    assert {"effect_size", "spa_consistent"} <= failed
    assert Path(summary["verdict"]) == tmp_path / "verdict.json"  # default: beside the proposal
    assert json.loads(Path(summary["verdict"]).read_text())["decision"] == "fail"


def test_the_daily_loss_gate_uses_trading_capital_usd_unless_told_otherwise(
    repo_root: Path, tmp_path: Path, better_proposal: dict[str, Any]
) -> None:
    proposal = write(tmp_path / "proposal.json", better_proposal)

    def daily_loss(*options: str) -> dict[str, Any]:
        result = run(repo_root, tmp_path / "home", proposal, *options, json_output=True)
        gates = {gate["name"]: gate for gate in json.loads(result.stdout)["gates"]}
        return gates["worst_daily_loss"]

    by_default, on_ten_thousand = daily_loss(), daily_loss("--capital-usd", "10000")
    # TRADING_CAPITAL_USD is 1,000 USD in the shipped constants: the same worst day costs 10x less.
    assert by_default["figure"] > 0
    assert on_ten_thousand["figure"] == pytest.approx(10 * by_default["figure"])
    assert "1,000 USD capital" in by_default["detail"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kind": "something.else"}, "kind must be 'tradeloop.proposal'"),
        ({"schema_version": 9}, "schema_version must be 1"),
        ({"data_hash": "0123456789abcdef"}, "data.data_hash is '0123456789abcdef'"),
        ({"bars": 12}, "data.bars is 12"),
        ({"start": "not a time"}, "data.start 'not a time' is not an ISO-8601 time"),
    ],
)
def test_a_bad_proposal_exits_2_with_the_field_named(
    repo_root: Path, tmp_path: Path, better_proposal: dict[str, Any], change: dict[str, Any], message: str
) -> None:
    document = json.loads(json.dumps(better_proposal))
    for key, value in change.items():
        (document["data"] if key in document["data"] else document)[key] = value
    proposal = write(tmp_path / "proposal.json", document)
    result = run(repo_root, tmp_path / "home", proposal)
    assert result.exit_code == 2
    assert message in result.stderr and str(proposal) in result.stderr
    assert not (tmp_path / "verdict.json").exists()


def test_a_missing_or_malformed_file_exits_2(repo_root: Path, tmp_path: Path) -> None:
    result = run(repo_root, tmp_path / "home", tmp_path / "absent.json")
    assert result.exit_code == 2 and "cannot read the proposal" in result.stderr
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    result = run(repo_root, tmp_path / "home", broken)
    assert result.exit_code == 2 and "not valid JSON (line 1" in result.stderr
