"""Exact-span edits of config/constants.py: only the changed literals and the provenance move."""

from __future__ import annotations

import copy
import difflib
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from backtest_matrix.strategies import get_strategy
from gitops import edit_constants_text, parse_constants
from tests.gitops.conftest import SHIPPED_CONSTANTS
from tradeloop import Provenance
from tradeloop.errors import StateFileError

PROVENANCE = Provenance(
    run_id="20300102T030405Z-0badc0de", git_sha="feedface" * 5, written_at="2030-01-02T03:04:05+00:00"
)
PROVENANCE_LINES = 6  # three header comment lines and three PROVENANCE entries


def changed_lines(old: str, new: str) -> tuple[list[str], list[str]]:
    """The removed and the added lines of a line diff."""
    removed, added = [], []
    for line in difflib.ndiff(old.splitlines(), new.splitlines()):
        if line.startswith("- "):
            removed.append(line[2:])
        elif line.startswith("+ "):
            added.append(line[2:])
    return removed, added


def provenance_free(lines: list[str]) -> list[str]:
    markers = ("# run id:", "# git sha:", "# written at:", '"run_id":', '"git_sha":', '"written_at":')
    return [line for line in lines if not line.strip().startswith(markers)]


def test_one_parameter_changes_only_its_line_and_the_provenance(constants_file: Path) -> None:
    old = constants_file.read_text()
    new = edit_constants_text(
        old, {("LIVE_PARAMS", "ema_cross", "SP500", "ema_fast"): 13}, provenance=PROVENANCE
    )
    removed, added = changed_lines(old, new)
    assert len(removed) == len(added) == 1 + PROVENANCE_LINES
    assert provenance_free(removed) == ['            "ema_fast": 12,']
    assert provenance_free(added) == ['            "ema_fast": 13,']
    assert "# run id:     20300102T030405Z-0badc0de" in added
    assert '    "written_at": "2030-01-02T03:04:05+00:00",' in added
    assert len(new.splitlines()) == len(old.splitlines())
    constants = parse_constants(new)
    assert constants.live_params["ema_cross"]["SP500"]["ema_fast"] == 13
    assert constants.live_params["ema_cross"]["NASDAQ"]["ema_fast"] == 10  # the same name elsewhere stays
    assert constants.provenance == PROVENANCE


def test_comments_and_blank_lines_stay_byte_identical(constants_file: Path) -> None:
    old = constants_file.read_text()
    new = edit_constants_text(
        old,
        {
            ("LIVE_PARAMS", "rsi_reversion", "SP500", "oversold"): 27.5,
            ("LIVE_PARAMS", "ema_cross", "NASDAQ", "stop_loss_pct"): 2.75,
        },
        provenance=PROVENANCE,
    )
    header = ("# run id:", "# git sha:", "# written at:")
    for old_line, new_line in zip(old.splitlines(), new.splitlines(), strict=True):
        if (not old_line.strip() or old_line.lstrip().startswith("#")) and not old_line.startswith(header):
            assert new_line == old_line
    assert new.count("\n") == old.count("\n")


def test_a_new_parameter_goes_into_its_sorted_place_at_the_item_indentation(constants_file: Path) -> None:
    old = constants_file.read_text()
    new = edit_constants_text(
        old, {("LIVE_PARAMS", "ema_cross", "SP500", "exit_tp1_pct"): 6.5}, provenance=PROVENANCE
    )
    removed, added = changed_lines(old, new)
    assert provenance_free(removed) == []
    assert provenance_free(added) == ['            "exit_tp1_pct": 6.5,']
    lines = new.splitlines()
    at = lines.index('            "exit_tp1_pct": 6.5,')
    assert lines[at - 1] == '            "exit_tp0_pct": 4.0,'
    assert lines[at + 1] == '            "stop_loss_pct": 2.0,'


def test_new_regime_loadouts_fill_an_empty_dict_and_later_ones_merge(constants_file: Path) -> None:
    old = constants_file.read_text()
    first = edit_constants_text(
        old,
        {("REGIME_LOADOUTS", "ema_cross", "SP500", "bull"): {"ema_fast": 10, "stop_loss_pct": 2.5}},
        provenance=PROVENANCE,
    )
    removed, _ = changed_lines(old, first)
    assert provenance_free(removed) == ["REGIME_LOADOUTS: Final = {}"]
    second = edit_constants_text(
        first,
        {
            ("REGIME_LOADOUTS", "ema_cross", "SP500", "bear", "ema_fast"): 16,
            ("REGIME_LOADOUTS", "ema_cross", "SP500", "bull", "ema_slow"): 24,
        },
        provenance=PROVENANCE,
    )
    loadouts = parse_constants(second).regime_loadouts
    assert dict(loadouts["ema_cross"]["SP500"]["bull"]) == {
        "ema_fast": 10,
        "ema_slow": 24,
        "stop_loss_pct": 2.5,
    }
    assert dict(loadouts["ema_cross"]["SP500"]["bear"]) == {"ema_fast": 16}
    assert second.split("REGIME_LOADOUTS")[0] == first.split("REGIME_LOADOUTS")[0]


def test_a_hand_written_dict_keeps_its_comments_and_gains_a_trailing_comma(constants_file: Path) -> None:
    old = constants_file.read_text().replace(
        "REGIME_LOADOUTS: Final = {}",
        'REGIME_LOADOUTS: Final = {\n    "ema_cross": {\n        # tuned by hand\n'
        '        "SP500": {"bull": {"ema_fast": 11}}  # keep\n    }\n}',
    )
    new = edit_constants_text(
        old, {("REGIME_LOADOUTS", "ema_cross", "NASDAQ", "bear", "ema_fast"): 9}, provenance=PROVENANCE
    )
    assert "        # tuned by hand\n" in new
    assert '        "NASDAQ": {"bear": {"ema_fast": 9}},\n        # tuned by hand\n' in new
    assert '        "SP500": {"bull": {"ema_fast": 11}}  # keep\n' in new
    assert parse_constants(new).regime_loadouts["ema_cross"]["NASDAQ"]["bear"]["ema_fast"] == 9


def test_a_missing_optional_constant_is_appended_with_its_comment(constants_file: Path) -> None:
    text = constants_file.read_text()
    without = text[: text.index("# strategy -> symbol -> regime")].rstrip("\n") + "\n"
    new = edit_constants_text(
        without, {("REGIME_LOADOUTS", "ema_cross", "SP500", "bull", "ema_fast"): 11}, provenance=PROVENANCE
    )
    assert new.startswith(without[: without.index("# run id:")])
    assert new.endswith(
        "# strategy -> symbol -> regime -> parameters overriding LIVE_PARAMS in that regime (written by the "
        'optimizer).\nREGIME_LOADOUTS: Final = {"ema_cross": {"SP500": {"bull": {"ema_fast": 11}}}}\n'
    )


def test_byte_offsets_are_right_after_non_ascii_text_on_the_same_line(constants_file: Path) -> None:
    # Parameters are ASCII names with numbers, so the only non-ASCII text a valid file can hold before a
    # literal on its line is a provenance string: the edit refreshes the two literals after it.
    text = constants_file.read_text()
    start = text.index("PROVENANCE: Final = {")
    end = text.index("}", start) + 1
    one_line = (
        'PROVENANCE: Final = {"run_id": "Größe → ✓", "git_sha": "abc", '
        '"written_at": "2025-01-01T00:00:00+00:00"}'
    )
    old = text[:start] + one_line + text[end:]
    new = edit_constants_text(
        old, {("LIVE_PARAMS", "ema_cross", "NASDAQ", "ema_fast"): 11}, provenance=PROVENANCE
    )
    provenance = parse_constants(new).provenance
    assert (provenance.run_id, provenance.git_sha, provenance.written_at) == (
        PROVENANCE.run_id,
        PROVENANCE.git_sha,
        PROVENANCE.written_at,
    )
    assert parse_constants(new).live_params["ema_cross"]["NASDAQ"]["ema_fast"] == 11


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({("PROVENANCE", "run_id"): "x"}, r"cannot set PROVENANCE.run_id = 'x': PROVENANCE is managed"),
        ({("SCHEMA_VERSION",): 2}, r"cannot set SCHEMA_VERSION = 2: SCHEMA_VERSION is managed"),
        ({("LIVE_PARAM", "x"): 1}, r"cannot set LIVE_PARAM.x = 1: LIVE_PARAM is not a constant"),
        ({(): 1}, r"key path is a non-empty tuple"),
        (
            {("LIVE_PARAMS", "ema_cross", "SP500", "ema_fast", "deeper"): 1},
            r"cannot set LIVE_PARAMS.ema_cross.SP500.ema_fast.deeper = 1: "
            r"LIVE_PARAMS.ema_cross.SP500.ema_fast is not a dict",
        ),
        (
            {("LIVE_PARAMS", "ema_cross", "SP500", "ema_fast"): None},
            r"cannot set LIVE_PARAMS.ema_cross.SP500.ema_fast = None: the edited file would be invalid: "
            r".*LIVE_PARAMS.ema_cross.SP500.ema_fast must be a number, bool or string, got None",
        ),
        (
            {("OPTIMIZER_MAX_DELTA",): 5.0},
            r"cannot set OPTIMIZER_MAX_DELTA = 5.0: .*"
            r"OPTIMIZER_MAX_DELTA must be a float in \(0, 1\], got 5.0",
        ),
        (
            {("LIVE_PARAMS", "ema_cross", "SP500", "ema_fast"): {1, 2}},
            r"cannot set LIVE_PARAMS.ema_cross.SP500.ema_fast = \{1, 2\}: cannot write set",
        ),
        (
            {("LIVE_PARAMS", "ema_cross", "SP500", "ema_fast"): float("nan")},
            r"ema_fast = nan: the edited file would be invalid",
        ),
    ],
)
def test_bad_edits_name_the_key_path_and_the_value(
    constants_file: Path, changes: dict[tuple[str, ...], Any], message: str
) -> None:
    with pytest.raises(StateFileError, match=message):
        edit_constants_text(constants_file.read_text(), changes, provenance=PROVENANCE)


def test_an_invalid_input_file_is_refused_before_any_edit(constants_file: Path) -> None:
    broken = constants_file.read_text().replace("MIN_TRADES: Final[int] = 30", "MIN_TRADES: Final[int] = -1")
    with pytest.raises(StateFileError, match=r"MIN_TRADES must be an integer >= 1, got -1"):
        edit_constants_text(broken, {("OPTIMIZER_MAX_DELTA",): 0.25}, provenance=PROVENANCE)


@pytest.mark.skipif(shutil.which("ruff") is None and not Path(".venv/bin/ruff").exists(), reason="no ruff")
def test_edited_files_are_stable_under_ruff_format(constants_file: Path, tmp_path: Path) -> None:
    new = edit_constants_text(
        constants_file.read_text(),
        {
            ("LIVE_PARAMS", "ema_cross", "SP500", "ema_fast"): 13,
            ("LIVE_PARAMS", "ema_cross", "SP500", "exit_trailing_stop_pct"): 4.5,
            ("REGIME_LOADOUTS", "ema_cross", "SP500", "bull"): {"ema_fast": 10, "stop_loss_pct": 2.5},
            ("REGIME_LOADOUTS", "rsi_reversion", "SP500", "high_vol"): {
                "oversold": 25.0,
                "overbought": 75.0,
                "rsi_period": 10,
                "stop_loss_pct": 3.5,
                "exit_tp0_pct": 6.0,
            },
        },
        provenance=PROVENANCE,
    )
    ruff = shutil.which("ruff") or ".venv/bin/ruff"
    result = subprocess.run(
        [ruff, "format", "--diff", "--line-length", "110", "--stdin-filename", "constants.py", "-"],
        input=new,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# Random proposals --------------------------------------------------------------------------------------

SHIPPED_TEXT = SHIPPED_CONSTANTS.read_text()
SHIPPED = parse_constants(SHIPPED_TEXT)
PAIRS = [(strategy, symbol) for strategy, symbols in SHIPPED.live_params.items() for symbol in symbols]
REGIMES = ("bull", "bear", "sideways", "high_vol")


def value_for(strategy: str, name: str) -> st.SearchStrategy[Any]:
    param = {param.name: param for param in get_strategy(strategy).space()}[name]
    if param.kind == "int":
        return st.integers(int(param.low), int(param.high))
    return st.floats(param.low, param.high, allow_nan=False, allow_infinity=False)


@st.composite
def random_changes(draw: st.DrawFn) -> dict[tuple[str, ...], Any]:
    changes: dict[tuple[str, ...], Any] = {}
    for strategy, symbol in draw(st.lists(st.sampled_from(PAIRS), min_size=1, max_size=3, unique=True)):
        names = [param.name for param in get_strategy(strategy).space()]
        for name in draw(st.lists(st.sampled_from(names), min_size=1, max_size=4, unique=True)):
            changes[("LIVE_PARAMS", strategy, symbol, name)] = draw(value_for(strategy, name))
        live = set(SHIPPED.live_params[strategy][symbol]) - {"timeframe"}
        for regime in draw(st.lists(st.sampled_from(REGIMES), max_size=2, unique=True)):
            chosen = draw(st.lists(st.sampled_from(sorted(live)), min_size=1, max_size=3, unique=True))
            changes[("REGIME_LOADOUTS", strategy, symbol, regime)] = {
                name: draw(value_for(strategy, name)) for name in chosen
            }
    return changes


def feasible(changes: dict[tuple[str, ...], Any]) -> bool:
    """Whether every live entry and regime loadout the changes give meets its strategy's constraints."""
    values = expected_constants(changes)
    for strategy, symbols in values["LIVE_PARAMS"].items():
        cls = get_strategy(strategy)
        for symbol, entry in symbols.items():
            overrides = [{}, *values["REGIME_LOADOUTS"].get(strategy, {}).get(symbol, {}).values()]
            for override in overrides:
                resolved = cls.defaults() | {**entry, **override}
                resolved.pop("timeframe", None)
                if any(not r.holds(resolved[r.lower], resolved[r.upper]) for r in cls.constraints):
                    return False
    return True


def expected_constants(changes: dict[tuple[str, ...], Any]) -> dict[str, Any]:
    values = copy.deepcopy(SHIPPED.constants(include_provenance=False))
    for path, value in changes.items():
        node = values
        for key in path[:-1]:
            node = node.setdefault(key, {})
        if isinstance(value, dict) and isinstance(node.get(path[-1]), dict):
            node[path[-1]].update(value)
        else:
            node[path[-1]] = value
    return values


def normalised(value: Any) -> Any:
    """Nested dicts compared without order, numbers by value and kind (an int never becomes a bool)."""
    if isinstance(value, dict):
        return {key: normalised(item) for key, item in value.items()}
    return (type(value) is bool, value)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(changes=random_changes())
def test_random_proposals_always_give_a_valid_file_holding_exactly_the_new_values(
    changes: dict[tuple[str, ...], Any],
) -> None:
    assume(feasible(changes))  # the reader refuses e.g. ema_fast >= ema_slow, as every reader does
    new = edit_constants_text(SHIPPED_TEXT, changes, provenance=PROVENANCE)
    constants = parse_constants(new)
    assert normalised(constants.constants(include_provenance=False)) == normalised(
        expected_constants(changes)
    )
    assert constants.provenance == PROVENANCE
    live_paths = {path for path in changes if path[0] == "LIVE_PARAMS"}
    removed, _ = changed_lines(SHIPPED_TEXT, new)
    # Each live parameter change touches at most its own line; regime loadouts only the REGIME_LOADOUTS block.
    assert len(provenance_free(removed)) <= len(live_paths) + 1
    before_loadouts = new.index("REGIME_LOADOUTS: Final")
    assert new[: new.index("# Live parameters")].count("\n") == SHIPPED_TEXT[
        : SHIPPED_TEXT.index("# Live parameters")
    ].count("\n")
    assert before_loadouts > 0
    again = edit_constants_text(new, changes, provenance=PROVENANCE)
    assert again == new  # idempotent: setting the values a second time moves nothing
