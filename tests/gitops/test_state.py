"""check_state and show_state: both files at once, every problem collected, JSON-able output."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gitops import check_state, load_constants, show_state
from tests.gitops.conftest import REPO_ROOT
from tradeloop.errors import StateFileError


def test_the_shipped_repository_state_passes() -> None:
    report = check_state(REPO_ROOT)
    assert report.ok, report.errors
    assert report.constants is not None and report.feature_flags is not None
    assert "are valid" in report.summary()
    assert report.constants.config_hash in report.summary()


def test_a_valid_report_is_json_able(state_repo: Path) -> None:
    document = check_state(state_repo).to_dict()
    assert json.loads(json.dumps(document))["ok"] is True
    assert document["errors"] == []
    assert (
        document["files"]["config/constants.py"]["config_hash"]
        == load_constants(state_repo / "config" / "constants.py").config_hash
    )


def test_problems_from_both_files_are_collected(state_repo: Path) -> None:
    constants = state_repo / "config" / "constants.py"
    constants.write_text(
        constants.read_text()
        .replace("MIN_TRADES: Final[int] = 30", "MIN_TRADES: Final[int] = 0")
        .replace("FEE_BPS: Final[float] = 10.0", "FEE_BPS: Final[float] = -1.0")
    )
    flags = state_repo / "feature_flags.json"
    flags.write_text(flags.read_text().replace('"schema_version": 2', '"schema_version": 2, "extra": true'))
    before = {path: path.read_bytes() for path in (constants, flags)}
    report = check_state(state_repo)
    assert not report.ok
    assert len(report.constants_errors) == 2
    assert len(report.feature_flags_errors) == 1
    assert report.errors == report.constants_errors + report.feature_flags_errors
    assert "MIN_TRADES must be an integer >= 1, got 0" in report.errors[0]
    assert "FEE_BPS must be a float in [0, 1000], got -1.0" in report.errors[1]
    assert report.errors[2].startswith("feature_flags.json: extra is not a known key")
    assert report.summary() == (
        "3 problems in the live state: 2 in config/constants.py, 1 in feature_flags.json"
    )
    assert json.loads(json.dumps(report.to_dict()))["files"]["feature_flags.json"]["ok"] is False
    assert {path: path.read_bytes() for path in before} == before


def test_missing_files_are_problems_not_exceptions(tmp_path: Path) -> None:
    report = check_state(tmp_path)
    assert not report.ok
    assert report.constants_errors[0].startswith("config/constants.py: not found at")
    assert report.feature_flags_errors[0].startswith("feature_flags.json: not found at")
    assert report.summary().startswith("2 problems")
    assert list(tmp_path.iterdir()) == []


def test_show_state_is_json_able_and_complete(state_repo: Path) -> None:
    state = show_state(state_repo)
    assert json.loads(json.dumps(state)) == state
    constants = load_constants(state_repo / "config" / "constants.py")
    assert state["config_hash"] == constants.config_hash
    assert state["constants_schema_version"] == 1
    assert state["feature_flags_schema_version"] == 2
    assert state["guardrails"]["OPTIMIZER_MAX_DELTA"] == 0.2
    assert state["live_params"]["ema_cross"]["SP500"]["ema_fast"] == 12
    assert state["rollouts"] == {}
    assert state["prediction_engine"]["enabled"] is False
    assert set(state["constants_provenance"]) == {"run_id", "git_sha", "written_at"}


def test_show_state_refuses_an_invalid_file(state_repo: Path) -> None:
    (state_repo / "feature_flags.json").write_text("{")
    with pytest.raises(StateFileError, match="not valid JSON"):
        show_state(state_repo)
