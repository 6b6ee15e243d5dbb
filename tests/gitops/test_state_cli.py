"""One set of checks: ``tradeloop state check`` refuses exactly what the readers refuse, with the same words.

Every defect is written into a copy of the shipped state files; ``state check`` must list it (file, key path,
value, fix) and exit 1, and a command that reads the file (``matrix plan``, ``state show``) must refuse it
with the same message, naming the state file rather than anything else.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gitops import CONSTANT_SPECS, parse_constants
from tests.gitops.conftest import SHIPPED_CONSTANTS
from tradeloop.cli import app
from tradeloop.errors import StateFileError

runner = CliRunner()
SHIPPED = SHIPPED_CONSTANTS.read_text()

DEFECTS = {
    "out of hard bounds": (
        ('"ema_fast": 12,', '"ema_fast": 100000,'),
        "config/constants.py: LIVE_PARAMS.ema_cross.SP500.ema_fast must be within its hard bounds [2, 200], "
        "got 100000 (ema_cross's ema_fast); set it inside the bounds",
    ),
    "negative stop": (
        ('"stop_loss_pct": 2.0,', '"stop_loss_pct": -1.0,'),
        "config/constants.py: LIVE_PARAMS.ema_cross.SP500.stop_loss_pct must be within its hard bounds "
        "[0, 50], got -1.0",
    ),
    "fast above slow": (
        ('"ema_fast": 12,', '"ema_fast": 30,'),
        "config/constants.py: LIVE_PARAMS.ema_cross.SP500: ema_fast (30) must be below ema_slow (26) (a "
        "constraint of ema_cross); lower ema_fast or raise ema_slow",
    ),
    "unknown strategy": (
        ('"rsi_reversion": {', '"rsi_reversal": {'),
        "config/constants.py: LIVE_PARAMS.rsi_reversal names the strategy 'rsi_reversal', which does not "
        "exist. Did you mean rsi_reversion?",
    ),
    "unknown parameter": (
        ('"ema_fast": 12,', '"ema_fst": 12,'),
        "config/constants.py: LIVE_PARAMS.ema_cross.SP500.ema_fst is not a parameter of ema_cross. Did you "
        "mean ema_fast?",
    ),
    "integer written as a float": (
        ('"ema_fast": 12,', '"ema_fast": 10.9,'),
        "config/constants.py: LIVE_PARAMS.ema_cross.SP500.ema_fast must be an integer, got 10.9 (ema_cross's "
        "ema_fast is an integer in [2, 200]); write 10 or 11",
    ),
}


def _repo_with(state_repo: Path, old: str, new: str) -> Path:
    constants = state_repo / "config" / "constants.py"
    text = constants.read_text()
    assert old in text
    constants.write_text(text.replace(old, new, 1))
    return state_repo


def _invoke(repo: Path, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["--repo", str(repo), *args])
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize("defect", list(DEFECTS))
def test_state_check_and_every_reader_refuse_the_same_defect(state_repo: Path, defect: str) -> None:
    (old, new), message = DEFECTS[defect]
    repo = _repo_with(state_repo, old, new)
    code, out, _ = _invoke(repo, "--json", "state", "check")
    assert code == 1
    report = json.loads(out)
    assert any(error.startswith(message) for error in report["errors"]), report["errors"]
    code, _, err = _invoke(repo, "matrix", "plan", "--shards", "1")
    assert code == 2
    assert err.startswith(f"error: {message}"), err
    assert "matrix.yaml" not in err


def test_a_rollout_of_a_pair_that_is_not_live_is_refused_by_check_and_show(state_repo: Path) -> None:
    flags = state_repo / "feature_flags.json"
    document = json.loads(flags.read_text())
    at = "2025-01-01T00:00:00+00:00"
    document["rollouts"]["ema_cross/BTC"] = {
        "stage": "COLD", "phase": "progressing", "canary_fraction": 0.0, "config_hash": "0123456789abcdef",
        "previous_config_hash": None, "previous_params": None, "pr_number": None, "started_at": at,
        "updated_at": at, "status": None,
    }  # fmt: skip
    flags.write_text(json.dumps(document, indent=2))
    message = (
        "feature_flags.json: rollouts.ema_cross/BTC is the rollout of ema_cross/BTC, which has no "
        "LIVE_PARAMS.ema_cross.BTC entry in config/constants.py; remove the rollout, or add the pair's live "
        "parameters through a pull request"
    )
    code, out, _ = _invoke(state_repo, "state", "check")
    assert code == 1 and message in " ".join(out.split())
    code, _, err = _invoke(state_repo, "state", "show")
    assert code == 2 and " ".join(err.split()) == f"error: {message}"


def test_a_small_integer_that_no_cap_can_move_is_noted_not_failed(state_repo: Path) -> None:
    repo = _repo_with(state_repo, '"rsi_period": 14,', '"rsi_period": 4,')
    code, out, _ = _invoke(repo, "--json", "state", "check")
    assert code == 0
    [note] = json.loads(out)["notes"]
    assert note == (
        "config/constants.py: LIVE_PARAMS.rsi_reversion.SP500.rsi_period = 4: a 20% per-cycle cap (±0.8) "
        "cannot move this integer at all, so the optimizer leaves it as it is; a person changes it through a "
        "pull request labelled tradeloop:manual"
    )


def test_the_shipped_state_passes_without_notes(repo_root: Path) -> None:
    code, out, _ = _invoke(repo_root, "--json", "state", "check")
    assert code == 0 and json.loads(out)["notes"] == []


# -- constants a newer tradeloop adds ----------------------------------------------------------------------


@pytest.fixture
def later_constant(monkeypatch: pytest.MonkeyPatch) -> str:
    """CANARY_FAILURE_THRESHOLD made a constant that a newer tradeloop added (``added_later``)."""
    name = "CANARY_FAILURE_THRESHOLD"
    monkeypatch.setitem(CONSTANT_SPECS, name, dataclasses.replace(CONSTANT_SPECS[name], added_later=True))  # type: ignore[arg-type]
    return name


def _without(text: str, name: str) -> str:
    lines = text.splitlines(keepends=True)
    index = next(i for i, line in enumerate(lines) if line.startswith(f"{name}:"))
    return "".join(lines[: index - 1] + lines[index + 1 :])  # the assignment and its comment line


def test_a_file_written_before_a_constant_existed_reads_with_its_default(later_constant: str) -> None:
    older = _without(SHIPPED, later_constant)
    assert later_constant not in older
    constants = parse_constants(older)
    assert constants.canary_failure_threshold == CONSTANT_SPECS[later_constant].default == 3
    assert constants.config_hash == parse_constants(SHIPPED).config_hash
    raised = SHIPPED.replace(f"{later_constant}: Final[int] = 3", f"{later_constant}: Final[int] = 4")
    assert parse_constants(raised).config_hash != constants.config_hash


def test_without_the_mark_a_missing_constant_is_an_error() -> None:
    with pytest.raises(StateFileError, match="required constant CANARY_FAILURE_THRESHOLD is missing; add "):
        parse_constants(_without(SHIPPED, "CANARY_FAILURE_THRESHOLD"))


def test_state_check_passes_an_older_file(later_constant: str, state_repo: Path) -> None:
    constants = state_repo / "config" / "constants.py"
    constants.write_text(_without(SHIPPED, later_constant))
    code, out, _ = _invoke(state_repo, "--json", "state", "check")
    assert code == 0, out
