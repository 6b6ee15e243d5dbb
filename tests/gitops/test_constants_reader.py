"""Reading config/constants.py: parsed with ast, never run, every constant checked against the spec."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from gitops import CONSTANT_SPECS, LiveConstants, inspect_constants, load_constants, parse_constants
from tests.gitops.conftest import SHIPPED_CONSTANTS
from tradeloop.errors import StateFileError

SHIPPED_TEXT = SHIPPED_CONSTANTS.read_text()


def edited(old: str, new: str, text: str = SHIPPED_TEXT) -> str:
    assert old in text, f"the shipped file no longer contains {old!r}"
    return text.replace(old, new, 1)


def line_of(text: str, fragment: str) -> int:
    return next(number for number, line in enumerate(text.splitlines(), 1) if fragment in line)


def problems_of(text: str) -> list[str]:
    constants, problems = inspect_constants(text)
    assert constants is None
    assert problems
    return problems


def test_the_shipped_constants_are_valid() -> None:
    constants = load_constants(SHIPPED_CONSTANTS)
    assert constants.schema_version == 1
    assert constants.optimizer_max_delta == 0.2
    assert constants.optimizer_cooldown_hours == 6
    assert constants.min_trades == 30
    assert constants.confidence_level == 0.95
    assert constants.max_drawdown_pct == 8.0
    assert constants.canary_fractions == {"COLD": 0.0, "WARM": 0.0, "LIMITED": 0.1, "FULL": 1.0}
    assert set(constants.live_params) == {"donchian_breakout", "ema_cross", "rsi_reversion"}
    assert set(constants.live_params["ema_cross"]) == {"SP500", "NASDAQ"}
    assert constants.live_params["ema_cross"]["SP500"]["ema_fast"] == 12
    assert constants.live_params["ema_cross"]["SP500"]["ema_slow"] == 26
    assert constants.live_params["rsi_reversion"]["SP500"]["timeframe"] == "1d"
    assert constants.regime_loadouts == {}
    assert constants.provenance.run_id and constants.provenance.git_sha


def test_every_spec_constant_is_an_attribute_of_live_constants() -> None:
    fields = {field.name for field in dataclasses.fields(LiveConstants)}
    assert {spec.attribute for spec in CONSTANT_SPECS.values()} == fields


def test_guardrails_are_typed_and_exclude_parameters() -> None:
    constants = load_constants(SHIPPED_CONSTANTS)
    guardrails = constants.guardrails
    assert "LIVE_PARAMS" not in guardrails and "PROVENANCE" not in guardrails
    assert isinstance(guardrails["OPTIMIZER_COOLDOWN_HOURS"], int)
    assert isinstance(guardrails["MAX_DAILY_LOSS_USD"], float)


def test_an_integer_is_accepted_for_a_float_guardrail() -> None:
    text = edited("MAX_DRAWDOWN_PCT: Final[float] = 8.0", "MAX_DRAWDOWN_PCT: Final[float] = 8")
    constants = parse_constants(text)
    assert constants.max_drawdown_pct == 8.0
    assert isinstance(constants.max_drawdown_pct, float)


def test_the_reader_never_runs_the_file(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    text = SHIPPED_TEXT + f'\nRAN = __import__("pathlib").Path({str(marker)!r}).touch()\n'
    path = tmp_path / "config" / "constants.py"
    path.parent.mkdir()
    path.write_text(text)
    with pytest.raises(StateFileError, match=r"RAN .*must be a literal"):
        load_constants(path)
    assert not marker.exists()


def test_the_exact_out_of_range_message() -> None:
    text = edited("OPTIMIZER_MAX_DELTA: Final[float] = 0.2", "OPTIMIZER_MAX_DELTA: Final[float] = 1.5")
    line = line_of(text, "OPTIMIZER_MAX_DELTA: Final[float] = 1.5")
    assert problems_of(text) == [
        f"config/constants.py: OPTIMIZER_MAX_DELTA must be a float in (0, 1], got 1.5 (line {line})"
    ]


DEFECTS = {
    "syntax error": (
        ("MIN_TRADES: Final[int] = 30", "MIN_TRADES: Final[int] = (30"),
        ["syntax error at line", "git checkout -- config/constants.py"],
    ),
    "import os": (
        ("from typing import Final", "from typing import Final\nimport os"),
        ["line 16", "`import os` is not allowed", "NAME = literal"],
    ),
    "function call": (
        ("MIN_TRADES: Final[int] = 30", "MIN_TRADES: Final[int] = int('30')"),
        ["MIN_TRADES", "must be a literal, got `int('30')`", "never run"],
    ),
    "name reference": (
        ("MIN_TRADES: Final[int] = 30", "MIN_TRADES: Final[int] = OPTIMIZER_CHANGE_BUDGET"),
        ["MIN_TRADES", "must be a literal, got `OPTIMIZER_CHANGE_BUDGET`"],
    ),
    "function definition": (
        ("# Fewest trades", "def hook():\n    pass\n\n\n# Fewest trades"),
        ["`def hook(): ...` is not allowed"],
    ),
    "unknown constant": (
        (
            "OPTIMIZER_MAX_DELTA: Final[float] = 0.2",
            "OPTIMIZER_MAX_DELTA: Final[float] = 0.2\nMAX_DELTAS = 0.3",
        ),
        ["unknown constant MAX_DELTAS = 0.3", "Did you mean"],
    ),
    "misspelt constant": (
        ("OPTIMIZER_MAX_DELTA: Final[float] = 0.2", "OPTIMIZER_MAX_DELTAS: Final[float] = 0.2"),
        ["unknown constant OPTIMIZER_MAX_DELTAS = 0.2", "Did you mean OPTIMIZER_MAX_DELTA?"],
    ),
    "out of range integer": (
        ("OPTIMIZER_MAX_KNOBS: Final[int] = 3", "OPTIMIZER_MAX_KNOBS: Final[int] = 0"),
        ["OPTIMIZER_MAX_KNOBS must be an integer in [1, 50], got 0"],
    ),
    "bool for an integer": (
        ("MIN_TRADES: Final[int] = 30", "MIN_TRADES = True"),
        ["MIN_TRADES must be an integer >= 1, got True"],
    ),
    "float for an integer": (
        ("MIN_TRADES: Final[int] = 30", "MIN_TRADES = 30.5"),
        ["MIN_TRADES must be an integer >= 1, got 30.5"],
    ),
    "annotation disagrees": (
        ("MIN_TRADES: Final[int] = 30", "MIN_TRADES: Final[str] = 30"),
        ["MIN_TRADES", "annotated `Final[str]`", "30"],
    ),
    "annotation with a call": (
        ("MIN_TRADES: Final[int] = 30", "MIN_TRADES: Final[print()] = 30"),
        ["MIN_TRADES", "has the annotation `Final[print()]`"],
    ),
    "wrong type in LIVE_PARAMS": (
        ('"ema_fast": 12,', '"ema_fast": "x",'),
        ["LIVE_PARAMS.ema_cross.SP500.ema_fast must be a number, got 'x'"],
    ),
    "quoted number in LIVE_PARAMS": (
        ('"ema_fast": 12,', '"ema_fast": "12",'),
        ["LIVE_PARAMS.ema_cross.SP500.ema_fast must be a number, got '12'; write it without quotes"],
    ),
    "None in LIVE_PARAMS": (
        ('"ema_slow": 26,', '"ema_slow": None,'),
        ["LIVE_PARAMS.ema_cross.SP500.ema_slow must be a number, bool or string, got None"],
    ),
    "bad timeframe": (
        (
            '"timeframe": "1d",\n            "exit_tp0_pct": 4.5',
            '"timeframe": "daily",\n            "exit_tp0_pct": 4.5',
        ),
        ["LIVE_PARAMS.rsi_reversion.SP500.timeframe must be a timeframe like", "got 'daily'"],
    ),
    "missing timeframe": (
        ('"timeframe": "1d",\n            "exit_tp0_pct": 4.5', '"exit_tp0_pct": 4.5'),
        ["LIVE_PARAMS.rsi_reversion.SP500.timeframe is missing"],
    ),
    "bad strategy name": (
        ('"rsi_reversion": {', '"RSI Reversion": {'),
        ["LIVE_PARAMS has the strategy name 'RSI Reversion'"],
    ),
    "duplicate key": (
        ('"ema_fast": 12,', '"ema_fast": 12,\n            "ema_fast": 13,'),
        ["LIVE_PARAMS.ema_cross.SP500 has the key 'ema_fast' twice"],
    ),
    "duplicate constant": (
        ("MIN_TRADES: Final[int] = 30", "MIN_TRADES: Final[int] = 30\nMIN_TRADES = 40"),
        ["MIN_TRADES is assigned twice"],
    ),
    "missing required": (
        ("MIN_TRADES: Final[int] = 30", ""),
        ["required constant MIN_TRADES is missing", "add `MIN_TRADES: Final[int] = 30`"],
    ),
    "wrong schema version": (
        ("SCHEMA_VERSION: Final = 1", "SCHEMA_VERSION: Final = 2"),
        ["SCHEMA_VERSION is 2", "reads schema version 1"],
    ),
    "capital in WARM": (
        ('"WARM": 0.0, "LIMITED": 0.1', '"WARM": 0.1, "LIMITED": 0.5'),
        ["CANARY_FRACTIONS.WARM must be 0.0 (WARM trades no capital on the new parameters: WARM paper"],
    ),
    "canary fraction out of range": (
        ('"LIMITED": 0.1', '"LIMITED": 1.5'),
        ["CANARY_FRACTIONS.LIMITED must be a float in [0, 1], got 1.5"],
    ),
    "schema-1 canary fractions": (
        (
            '{"COLD": 0.0, "WARM": 0.0, "LIMITED": 0.1, "FULL": 1.0}',
            '{"WARM": 0.1, "LIMITED": 0.5, "FULL": 1.0}',
        ),
        [
            "CANARY_FRACTIONS must be a dict with exactly the stages COLD, WARM, LIMITED, FULL, e.g. "
            '{"COLD": 0.0, "WARM": 0.0, "LIMITED": 0.1, "FULL": 1.0}',
            "WARM trades on paper only",
        ],
    ),
    "dwell past the deadline": (
        ('"WARM": {"1m": 240, "5m": 48,', '"WARM": {"1m": 240, "5m": 900,'),
        ["DEPLOY_DWELL_BARS.WARM gives '5m' 900 bars, not fewer than its DEPLOY_DEADLINE_BARS.WARM (864)"],
    ),
    "auto-merge not a bool": (
        ("DEPLOY_AUTO_MERGE: Final[bool] = False", "DEPLOY_AUTO_MERGE: Final[bool] = 1"),
        ["DEPLOY_AUTO_MERGE must be True or False, got 1"],
    ),
    "bad provenance time": (
        ('"written_at": "', '"written_at": "yesterday'),
        ["PROVENANCE.written_at must be an ISO-8601 time", "yesterday"],
    ),
    "loadout for an unknown symbol": (
        ("REGIME_LOADOUTS: Final = {}", 'REGIME_LOADOUTS: Final = {"ema_cross": {"BTC": {"bull": {}}}}'),
        ["REGIME_LOADOUTS.ema_cross.BTC has no LIVE_PARAMS.ema_cross.BTC entry"],
    ),
    "loadout with a misspelt parameter": (
        (
            "REGIME_LOADOUTS: Final = {}",
            'REGIME_LOADOUTS: Final = {"ema_cross": {"SP500": {"bull": {"ema_fst": 9}}}}',
        ),
        ["REGIME_LOADOUTS.ema_cross.SP500.bull.ema_fst is not a parameter", "Did you mean ema_fast?"],
    ),
    "loadout of the wrong kind": (
        (
            "REGIME_LOADOUTS: Final = {}",
            'REGIME_LOADOUTS: Final = {"ema_cross": {"SP500": {"bull": {"ema_fast": True}}}}',
        ),
        ["REGIME_LOADOUTS.ema_cross.SP500.bull.ema_fast must be a number, got True"],
    ),
}


@pytest.mark.parametrize("defect", list(DEFECTS))
def test_each_defect_is_reported_with_file_name_and_value(defect: str) -> None:
    (old, new), expected = DEFECTS[defect]
    problems = problems_of(edited(old, new))
    assert all(problem.startswith("config/constants.py: ") for problem in problems), problems
    joined = "\n".join(problems)
    for fragment in expected:
        assert fragment in joined, f"{fragment!r} not in:\n{joined}"
    assert all(re.search(r"lines? \d+", problem) for problem in problems if "missing" not in problem)


def test_the_line_points_at_the_nested_key() -> None:
    text = edited('"ema_fast": 10,', '"ema_fast": "ten",')
    line = line_of(text, '"ema_fast": "ten"')
    (problem,) = problems_of(text)
    assert problem.startswith("config/constants.py: LIVE_PARAMS.ema_cross.NASDAQ.ema_fast must be a number")
    assert problem.endswith(f"(line {line})")


def test_a_wrong_schema_version_hides_the_other_findings() -> None:
    text = edited("SCHEMA_VERSION: Final = 1", "SCHEMA_VERSION: Final = 2")
    text = edited("MIN_TRADES: Final[int] = 30", "MIN_TRADES: Final[int] = -1", text)
    (problem,) = problems_of(text)
    assert "SCHEMA_VERSION is 2" in problem


def test_the_loader_reports_the_first_problem_and_counts_the_rest(tmp_path: Path) -> None:
    text = edited("MIN_TRADES: Final[int] = 30", "MIN_TRADES: Final[int] = -1")
    text = edited("FEE_BPS: Final[float] = 10.0", "FEE_BPS: Final[float] = -1.0", text)
    path = tmp_path / "config" / "constants.py"
    path.parent.mkdir()
    path.write_text(text)
    with pytest.raises(StateFileError) as raised:
        load_constants(path)
    message = str(raised.value)
    assert message.startswith("config/constants.py: MIN_TRADES must be an integer >= 1, got -1")
    assert "(and 1 more; `tradeloop state check` lists them all)" in message


def test_a_missing_file_names_the_path_and_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "config" / "constants.py"
    with pytest.raises(StateFileError, match=r"config/constants.py: not found at .*git checkout"):
        load_constants(path)


def test_the_reader_writes_nothing(constants_file: Path) -> None:
    bad = edited("MIN_TRADES: Final[int] = 30", "MIN_TRADES: Final[int] = oops(")
    constants_file.write_text(bad)
    before = sorted(constants_file.parent.iterdir())
    with pytest.raises(StateFileError):
        load_constants(constants_file)
    assert constants_file.read_text() == bad
    assert sorted(constants_file.parent.iterdir()) == before


def test_regime_loadouts_are_optional_and_default_to_empty() -> None:
    text = edited("REGIME_LOADOUTS: Final = {}", "")
    assert parse_constants(text).regime_loadouts == {}


def test_a_valid_loadout_is_read() -> None:
    loadout = (
        'REGIME_LOADOUTS: Final = {"ema_cross": {"SP500": {"bull": {"ema_fast": 9, "timeframe": "1d"}}}}'
    )
    constants = parse_constants(edited("REGIME_LOADOUTS: Final = {}", loadout))
    assert constants.regime_loadouts["ema_cross"]["SP500"]["bull"] == {"timeframe": "1d", "ema_fast": 9}


def test_config_hash_ignores_provenance_but_not_values() -> None:
    shipped = parse_constants(SHIPPED_TEXT)
    other_run = parse_constants(edited('"run_id": "', '"run_id": "other-'))
    assert other_run.provenance != shipped.provenance
    assert other_run.config_hash == shipped.config_hash
    changed = parse_constants(edited('"ema_fast": 12,', '"ema_fast": 13,'))
    assert changed.config_hash != shipped.config_hash
    assert re.fullmatch(r"[0-9a-f]{16}", shipped.config_hash)


def test_live_constants_are_immutable() -> None:
    constants = parse_constants(SHIPPED_TEXT)
    with pytest.raises(dataclasses.FrozenInstanceError):
        constants.min_trades = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        constants.live_params["ema_cross"]["SP500"]["ema_fast"] = 1  # type: ignore[index]
