"""The typed documents between the stages: one parser each, exact round trips, read-only values."""

from __future__ import annotations

import ast
import copy
import json
from pathlib import Path
from typing import Any

import pytest

from tests.gitops.proposals import realistic_proposal, realistic_verdict, reviewed_proposal
from tradeloop.documents import Change, Holdout, Proposal, SearchRecordRef, Verdict, proposal_hash
from tradeloop.errors import ProposalError

REPO_ROOT = Path(__file__).resolve().parents[2]
GOLDEN = REPO_ROOT / "tests" / "gitops" / "golden"


def _golden(name: str) -> tuple[str, dict[str, Any]]:
    text = (GOLDEN / name).read_text(encoding="utf-8")
    return text, json.loads(text)


def test_the_shipped_documents_round_trip_to_the_same_text() -> None:
    """What `tradeloop cycle` wrote for the demo pair reads back typed and writes back byte for byte."""
    for name, kind in (("demo_proposal.json", Proposal), ("demo_verdict.json", Verdict)):
        text, document = _golden(name)
        typed = kind.from_json(document, name)
        assert typed.to_json() == document
        assert json.dumps(typed.to_json(), indent=1) + "\n" == text  # the golden file's own layout
        assert kind.from_json(typed.to_json()) == typed


def test_the_typed_parts_are_the_document_s() -> None:
    _, document = _golden("demo_proposal.json")
    proposal = Proposal.from_json(document)
    assert isinstance(proposal.changes[0], Change) and proposal.changes[0].parameter == "overbought"
    assert isinstance(proposal.holdout, Holdout) and isinstance(proposal.search_record, SearchRecordRef)
    assert proposal.holdout.boundary_time.isoformat() == document["holdout"]["boundary"]
    assert proposal.search_record.configurations == document["search_record"]["configurations"]
    assert proposal.data.bars == document["data"]["bars"] and proposal.data.source == "reverting"
    assert proposal.kpis_after.overall["sharpe"] == document["kpis_after"]["overall"]["sharpe"]
    assert proposal.full_hash.startswith(proposal.proposal_hash) and proposal.proposed
    assert proposal.full_hash == proposal_hash(
        document["strategy"], document["symbol"], document["timeframe"], document["params_after"]
    )


def test_keys_a_document_leaves_out_or_adds_come_back_as_they_were() -> None:
    """An older writer's proposal (no holdout, no search record) and a newer writer's extra keys."""
    older = realistic_proposal()
    assert "holdout" not in older and "search_record" not in older
    assert Proposal.from_json(older).to_json() == older
    newer = copy.deepcopy(reviewed_proposal())
    newer["note_from_a_newer_writer"] = {"x": [1, 2]}
    newer["data"]["seed"] = 3
    newer["changes"][0]["extra_field"] = "kept"
    assert Proposal.from_json(newer).to_json() == newer
    verdict = realistic_verdict(older)
    del verdict["walk_forward"], verdict["gates"][0]["bars"]
    assert Verdict.from_json(verdict).to_json() == verdict


def test_documents_are_read_only() -> None:
    proposal = Proposal.from_json(reviewed_proposal())
    with pytest.raises(AttributeError):
        proposal.status = "no_change"  # type: ignore[misc]
    with pytest.raises(TypeError):
        proposal.params_after["ema_fast"] = 99.0  # type: ignore[index]
    with pytest.raises(TypeError):
        proposal.guardrails["change_budget"]["max_changes"] = 1  # type: ignore[index]
    verdict = Verdict.from_json(realistic_verdict(reviewed_proposal()))
    with pytest.raises(TypeError):
        verdict.p_values["holdout_sharpe"] = 0.0  # type: ignore[index]
    assert verdict.to_json() == realistic_verdict(reviewed_proposal())  # nothing changed


def test_a_withheld_proposal_is_a_valid_no_change() -> None:
    proposal = Proposal.from_json(reviewed_proposal())
    withheld = proposal.withheld("declined before")
    assert (withheld.status, withheld.changes, withheld.params_after) == (
        "no_change",
        (),
        proposal.params_before,
    )
    assert withheld.rationale.summary.endswith("Withheld: declined before.")
    assert Proposal.from_json(withheld.to_json()) == withheld  # the one parser accepts it
    assert proposal.status == "proposed"  # the original is untouched


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"kind": "tradeloop.verdict"}, "kind must be 'tradeloop.proposal', got 'tradeloop.verdict'"),
        ({"schema_version": 2}, "schema_version must be 1, got 2"),
        ({"status": "maybe"}, 'status must be one of proposed, no_change, got "maybe"'),
        ({"guardrails": {"max_delta": 0}}, r"guardrails.max_delta must be in \(0, 1\], got 0"),
        ({"proposal_hash": "0" * 64}, 'proposal_hash is "0000.*" but the sha256 .* propose again'),
    ],
)
def test_one_parser_names_the_file_the_field_the_value_and_the_fix(
    change: dict[str, Any], message: str
) -> None:
    document = {**reviewed_proposal(), **change}
    with pytest.raises(ProposalError, match=f"^runs/x/proposal.json: {message}"):
        Proposal.from_json(document, "runs/x/proposal.json")


def test_files_are_read_with_one_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "proposal.json"
    with pytest.raises(ProposalError, match=r"proposal.json: cannot read the proposal \(not found\)"):
        Proposal.read(path)
    path.write_text("[1, 2]")
    with pytest.raises(ProposalError, match=r"proposal.json: a proposal is a JSON object, got list"):
        Proposal.read(path)
    path.write_text(json.dumps(reviewed_proposal()))
    assert Proposal.read(path).source == str(path)
    verdict = tmp_path / "verdict.json"
    verdict.write_text('{"decision": NaN}')
    with pytest.raises(ProposalError, match="NaN is not a JSON number; write null or a number instead"):
        Verdict.read(verdict)


def _calls(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            func = node.func
            names.add(ast.unparse(func))
    return names


def test_the_cycle_reads_back_nothing_it_made() -> None:
    """Inside one process the documents stay typed: the library cycle parses no JSON and reads no proposal or
    verdict file; no command of the CLI calls another command."""
    cycle = REPO_ROOT / "tradeloop" / "loop" / "_cycle.py"
    reads = (".read", "read_text", "read_bytes", "from_json", "json.loads", "json.load")
    assert not {call for call in _calls(cycle) if call.endswith(reads)}
    commands = {"run_command", "merge", "propose", "validate", "open_pr", "proposal_pr", "report_pr", "cycle"}
    for module in sorted((REPO_ROOT / "tradeloop" / "cli").glob("_*.py")):
        source = module.read_text()
        imported = {
            alias.name
            for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tradeloop.cli.")
            for alias in node.names
        }
        assert not imported & commands, f"{module.name} imports a command: {imported & commands}"
