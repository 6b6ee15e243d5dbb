"""Applying proposals to the live state, the path allowlist, and reading proposal/verdict documents."""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from gitops import (
    ALLOWED_PATHS,
    Stage,
    apply_proposal,
    check_allowed_paths,
    load_constants,
    load_feature_flags,
    load_proposal,
    load_verdict,
    parse_proposal,
    proposal_hash,
)
from tests.gitops.proposals import make_proposal, realistic_proposal, realistic_verdict, typed
from tests.gitops.test_edit import changed_lines, provenance_free
from tradeloop import Provenance
from tradeloop.errors import ChangePolicyError, ProposalError, StrategyError

PROVENANCE = Provenance(
    run_id="20300115T061500Z-a1b2c3d4", git_sha="0123456789abcdef", written_at="2030-01-15T06:15:00+00:00"
)


def snapshot(repo: Path) -> dict[str, bytes]:
    return {path: (repo / path).read_bytes() for path in ALLOWED_PATHS}


def rehash(proposal: dict[str, Any]) -> dict[str, Any]:
    proposal["proposal_hash"] = proposal_hash(proposal)
    return proposal


def test_apply_writes_the_changed_parameters_and_a_cold_rollout(state_repo: Path) -> None:
    before_text = (state_repo / "config/constants.py").read_text()
    before = load_constants(state_repo / "config/constants.py")
    proposal = realistic_proposal()

    applied = apply_proposal(state_repo, typed(proposal), provenance=PROVENANCE, pr_number=17)

    assert applied.changed_paths == ("config/constants.py", "feature_flags.json")
    after_text = (state_repo / "config/constants.py").read_text()
    removed, added = changed_lines(before_text, after_text)
    assert provenance_free(removed) == ['            "ema_fast": 12,', '            "stop_loss_pct": 2.0,']
    assert provenance_free(added) == ['            "ema_fast": 13,', '            "stop_loss_pct": 2.4,']
    after = load_constants(state_repo / "config/constants.py")
    assert applied.config_hash_before == before.config_hash
    assert applied.config_hash_after == after.config_hash == proposal["config_hash_after"]
    assert after.provenance == PROVENANCE
    assert dict(applied.parameters) == {"ema_fast": (12, 13), "stop_loss_pct": (2.0, 2.4)}

    flags = load_feature_flags(state_repo / "feature_flags.json")
    rollout = flags.rollout("ema_cross", "SP500")
    assert rollout is not None
    assert rollout.stage is Stage.COLD
    assert rollout.config_hash == after.config_hash
    assert rollout.previous_config_hash == before.config_hash
    assert rollout.canary_fraction == after.canary_fractions["COLD"] == 0.0
    assert rollout.pr_number == 17
    assert rollout.started_at == rollout.updated_at == datetime.fromisoformat(PROVENANCE.written_at)
    assert flags.provenance == PROVENANCE
    assert "ema_fast 12 -> 13, stop_loss_pct 2.0 -> 2.4" in applied.summary
    assert "rollouts.ema_cross/SP500 -> COLD" in applied.summary
    assert applied.diff.startswith("--- a/config/constants.py\n+++ b/config/constants.py\n")
    assert "+++ b/feature_flags.json" in applied.diff


def test_parameters_left_at_their_default_are_not_written(state_repo: Path) -> None:
    proposal = realistic_proposal()
    assert "exit_tp1_pct" in proposal["params_after"]  # resolved with defaults, like the optimizer's
    assert (
        "exit_tp1_pct"
        not in load_constants(state_repo / "config/constants.py").live_params["ema_cross"]["SP500"]
    )
    applied = apply_proposal(state_repo, typed(proposal), provenance=PROVENANCE)
    assert set(applied.parameters) == {"ema_fast", "stop_loss_pct"}
    assert "exit_tp1_pct" not in (state_repo / "config/constants.py").read_text()


def test_applying_the_same_proposal_again_changes_nothing(state_repo: Path) -> None:
    proposal = realistic_proposal()
    apply_proposal(state_repo, typed(proposal), provenance=PROVENANCE)
    written = snapshot(state_repo)
    proposal_again = copy.deepcopy(proposal)
    proposal_again["params_before"] = dict(proposal["params_after"])
    for change in proposal_again["changes"]:
        change["current"] = change["proposed"]
    again = apply_proposal(state_repo, typed(rehash(proposal_again)), provenance=PROVENANCE)
    assert again.changed_paths == ()
    assert again.config_hash_before == again.config_hash_after
    assert snapshot(state_repo) == written


def test_a_no_change_proposal_writes_nothing(state_repo: Path) -> None:
    original = snapshot(state_repo)
    proposal = make_proposal("ema_cross", "SP500", {})
    assert proposal["status"] == "no_change"
    applied = apply_proposal(state_repo, typed(proposal), provenance=PROVENANCE)
    assert applied.changed_paths == ()
    assert applied.summary.startswith("no change: no gain")
    assert snapshot(state_repo) == original


def test_dry_run_describes_the_change_without_writing(state_repo: Path) -> None:
    original = snapshot(state_repo)
    applied = apply_proposal(state_repo, typed(realistic_proposal()), provenance=PROVENANCE, dry_run=True)
    assert applied.changed_paths == ("config/constants.py", "feature_flags.json")
    assert '+            "ema_fast": 13,' in applied.diff
    assert snapshot(state_repo) == original


def test_a_new_risk_parameter_is_inserted_with_the_strategy_type(state_repo: Path) -> None:
    proposal = make_proposal("rsi_reversion", "SP500", {"exit_trailing_stop_pct": 5.0, "rsi_period": 16.0})
    applied = apply_proposal(state_repo, typed(proposal), provenance=PROVENANCE)
    text = (state_repo / "config/constants.py").read_text()
    assert '            "rsi_period": 16,\n' in text  # an int parameter stays an int literal
    assert '            "exit_trailing_stop_pct": 5.0,\n' in text
    assert applied.parameters["exit_trailing_stop_pct"] == (None, 5.0)


def test_a_stale_proposal_is_refused_and_nothing_is_written(state_repo: Path) -> None:
    original = snapshot(state_repo)
    proposal = make_proposal(
        "ema_cross", "SP500", {"ema_fast": 14.0}, before={"ema_fast": 11, "ema_slow": 26}
    )
    with pytest.raises(ProposalError, match=r"stale: params_before.ema_fast is 11.0 but .*ema_fast is 12"):
        apply_proposal(state_repo, typed(proposal), provenance=PROVENANCE)
    assert snapshot(state_repo) == original


@pytest.mark.parametrize(
    ("edit", "error", "message"),
    [
        (
            {"timeframe": "4h"},
            ProposalError,
            r"timeframe is '4h' but LIVE_PARAMS.ema_cross.SP500.timeframe is '1d'",
        ),
        ({"symbol": "DAX"}, ProposalError, r"ema_cross/DAX has no LIVE_PARAMS.ema_cross.DAX entry"),
        (
            {"params_after": {"ema_fast": 500.0}},
            StrategyError,
            r"proposal params_after for ema_cross: ema_fast must be within \[2, 200\], got 500.0",
        ),
        ({"params_after": {"ema_fast": 12.5}}, StrategyError, r"ema_fast must be an integer, got 12.5"),
        (
            {"params_after": {"ema_fast": 30.0}},
            StrategyError,
            r"ema_fast \(30\) must be below ema_slow \(26\)",
        ),
        ({"params_after": {"fastness": 3.0}}, StrategyError, r"unknown parameter 'fastness'"),
    ],
)
def test_bad_values_are_refused_before_anything_is_written(
    state_repo: Path, edit: dict[str, Any], error: type[Exception], message: str
) -> None:
    original = snapshot(state_repo)
    proposal = make_proposal("ema_cross", "SP500", {})
    proposal["status"], proposal["reason"] = "proposed", None
    params_after = edit.pop("params_after", {})
    proposal.update(edit)
    proposal["params_after"].update(params_after)
    proposal["changes"] = [
        _change(name, proposal["params_before"].get(name, 0.0), value) for name, value in params_after.items()
    ]
    if not proposal["changes"]:
        proposal["changes"] = [_change("ema_slow", 26.0, 26.0)]
    with pytest.raises(error, match=message):
        apply_proposal(state_repo, typed(rehash(proposal)), provenance=PROVENANCE)
    assert snapshot(state_repo) == original


def _change(name: str, current: float, proposed: float) -> dict[str, Any]:
    return {
        "parameter": name,
        "current": current,
        "proposed": proposed,
        "delta_pct": 0.0,
        "cap_pct": 20.0,
        "bound": "[0, 1]",
        "binding": "none",
        "expected_gain": 0.0,
        "rationale": "test",
    }


# The allowlist -----------------------------------------------------------------------------------------


def test_the_two_live_state_files_are_allowed() -> None:
    check_allowed_paths(["config/constants.py", "feature_flags.json", "./config/constants.py"])
    check_allowed_paths([Path("config") / "constants.py", "config\\constants.py"])
    check_allowed_paths([])


@pytest.mark.parametrize(
    "path",
    [
        "tradeloop/cli/_app.py",
        "config/constants.py.bak",
        "config/other.py",
        "../feature_flags.json",
        "/repo/config/constants.py",
        ".github/workflows/ci.yml",
        "",
    ],
)
def test_any_other_path_is_refused_by_name(path: str) -> None:
    with pytest.raises(ChangePolicyError, match="refusing a change outside the live state files") as caught:
        check_allowed_paths(["config/constants.py", path])
    assert path in str(caught.value)
    assert "config/constants.py and feature_flags.json" in str(caught.value)


# Proposal and verdict documents ------------------------------------------------------------------------


def test_proposal_hash_is_the_sha256_of_the_canonical_subject() -> None:
    proposal = realistic_proposal()
    subject = {key: proposal[key] for key in ("strategy", "symbol", "timeframe", "params_after")}
    expected = hashlib.sha256(json.dumps(subject, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert proposal_hash(proposal) == expected
    changed_kpis = copy.deepcopy(proposal)
    changed_kpis["kpis_after"]["overall"]["sharpe"] = 9.0
    assert proposal_hash(changed_kpis) == expected
    changed_params = copy.deepcopy(proposal)
    changed_params["params_after"]["ema_fast"] = 14.0
    assert proposal_hash(changed_params) != expected


def test_documents_round_trip_through_files(tmp_path: Path) -> None:
    proposal = realistic_proposal()
    verdict = realistic_verdict(proposal)
    (tmp_path / "proposal.json").write_text(json.dumps(proposal))
    (tmp_path / "verdict.json").write_text(json.dumps(verdict))
    read, judged = load_proposal(tmp_path / "proposal.json"), load_verdict(tmp_path / "verdict.json")
    assert (read.to_json(), judged.to_json()) == (proposal, verdict)  # exactly the documents written
    assert (read.source, judged.source) == (str(tmp_path / "proposal.json"), str(tmp_path / "verdict.json"))
    assert read == typed(proposal) and read.changes[0].parameter == proposal["changes"][0]["parameter"]


def _broken(path: tuple[Any, ...], value: Any, *, delete: bool = False) -> dict[str, Any]:
    proposal = realistic_proposal()
    node: Any = proposal
    for key in path[:-1]:
        node = node[key]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return proposal


@pytest.mark.parametrize(
    ("proposal", "message"),
    [
        (
            _broken(("strategy",), None, delete=True),
            r"proposal.json: strategy is missing; add it: a strategy name",
        ),
        (_broken(("changes", 0, "delta_pct"), "8%"), r'changes.0.delta_pct must be a number, got "8%"'),
        (_broken(("status",), "maybe"), r'status must be one of proposed, no_change, got "maybe"'),
        (_broken(("changes", 1, "binding"), "soft"), r"changes.1.binding must be one of cap, bound, none"),
        (_broken(("params_after", "timeframe"), "1d"), r'params_after has the key "timeframe"'),
        (_broken(("kpis_after", "regimes"), None, delete=True), r"kpis_after.regimes is missing"),
        (_broken(("schema_version",), 2), r"schema_version must be 1, got 2"),
        (
            _broken(("proposal_hash",), "0" * 64),
            r'proposal_hash is "0000.*" but the sha256 .* is .*propose again',
        ),
        (
            rehash(_broken(("changes", 0, "proposed"), 15.0)),
            r"changes.0.proposed is 15.0 but params_after.ema_fast is 13.0; they must agree",
        ),
        (rehash(_broken(("changes",), [])), r'changes is empty but status is "proposed"'),
    ],
)
def test_bad_proposals_name_the_field(proposal: dict[str, Any], message: str) -> None:
    with pytest.raises(ProposalError, match=message):
        parse_proposal(proposal)


def test_file_errors_name_the_file_and_the_fix(tmp_path: Path) -> None:
    missing = r"proposal.json: cannot read the proposal \(not found\); write it with `tradeloop propose`"
    with pytest.raises(ProposalError, match=missing):
        load_proposal(tmp_path / "proposal.json")
    (tmp_path / "proposal.json").write_text('{"kind": \n')
    with pytest.raises(ProposalError, match=r"not valid JSON \(line 2, column 1"):
        load_proposal(tmp_path / "proposal.json")
    (tmp_path / "verdict.json").write_text('{"p_values": {"spa_lower": NaN}}')
    with pytest.raises(ProposalError, match=r"NaN is not a JSON number; write null or a number instead"):
        load_verdict(tmp_path / "verdict.json")


def test_bad_verdicts_name_the_field(tmp_path: Path) -> None:
    verdict = realistic_verdict(realistic_proposal())
    verdict["p_values"]["spa_consistent"] = 1.5
    verdict["gates"][0]["op"] = "=>"
    (tmp_path / "verdict.json").write_text(json.dumps(verdict))
    with pytest.raises(
        ProposalError, match=r'verdict.json: gates.0.op must be one of >=, <=, <, >, got "=>" \(and 1 more\)'
    ):
        load_verdict(tmp_path / "verdict.json")
