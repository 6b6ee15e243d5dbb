"""Value checks for ``config/constants.py``: numbers in a range, provenance, canary fractions, parameters.

A check takes the literal value and its key path and returns the normalised value (``None`` when invalid)
and a list of :data:`KeyProblem` ``(key path, message)``. Messages start with the key path and show the
value received; the caller adds the file name and the line.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from gitops import _names
from tradeloop import Provenance
from tradeloop._schema import NumberRange

__all__ = [
    "CANARY_STAGES",
    "DEFAULT_TIMEFRAME_KEY",
    "DEPLOY_STAGES",
    "JUDGED_STAGES",
    "SCHEMA_VERSION",
    "Check",
    "KeyProblem",
    "NumberRange",
    "bool_check",
    "check_canary_fractions",
    "check_live_params",
    "check_provenance",
    "check_regime_loadouts",
    "check_schema_version",
    "check_stage_bars",
    "number_check",
    "stage_bars",
    "value_kind",
]

SCHEMA_VERSION = 1
#: Every deployment stage, in promotion order: the keys of ``CANARY_FRACTIONS``.
DEPLOY_STAGES = ("COLD", "WARM", "LIMITED", "FULL")
#: The keys of ``CANARY_FRACTIONS`` (every stage since feature_flags.json schema 2).
CANARY_STAGES = DEPLOY_STAGES
#: The stages a rollout leaves on evidence: the keys of ``DEPLOY_DWELL_BARS`` / ``DEPLOY_DEADLINE_BARS``.
JUDGED_STAGES = ("COLD", "WARM", "LIMITED")
#: The key of a per-timeframe table that every timeframe without its own entry uses.
DEFAULT_TIMEFRAME_KEY = "default"
PROVENANCE_KEYS = ("run_id", "git_sha", "written_at")
KeyProblem = tuple[str, str]
Check = Callable[[Any, str], tuple[Any, list[KeyProblem]]]


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def value_kind(value: object) -> str:
    """``"number"``, ``"bool"`` or ``"string"``: the kinds a strategy parameter may have."""
    if isinstance(value, bool):
        return "bool"
    return "number" if is_number(value) else "string"


def number_check(kind: type[int] | type[float], valid: NumberRange) -> Check:
    """A check for an integer or a float guardrail (an integer is accepted where a float is expected)."""
    noun = "an integer" if kind is int else "a float"

    def check(value: Any, path: str) -> tuple[Any, list[KeyProblem]]:
        right_type = (
            isinstance(value, int) and not isinstance(value, bool) if kind is int else is_number(value)
        )
        if right_type and math.isfinite(value) and valid.contains(value):
            return kind(value), []
        return None, [(path, f"{path} must be {noun} {valid.describe()}, got {value!r}")]

    return check


def check_schema_version(value: Any, path: str) -> tuple[Any, list[KeyProblem]]:
    if isinstance(value, int) and not isinstance(value, bool) and value == SCHEMA_VERSION:
        return value, []
    return None, [
        (
            path,
            f"{path} is {value!r}, but this tradeloop reads schema version {SCHEMA_VERSION}; "
            "upgrade tradeloop, or restore the file from git",
        )
    ]


def check_provenance(value: Any, path: str) -> tuple[Any, list[KeyProblem]]:
    expected = "{" + ", ".join(f'"{key}": "..."' for key in PROVENANCE_KEYS) + "}"
    if not isinstance(value, dict) or set(value) != set(PROVENANCE_KEYS):
        return None, [(path, f"{path} must be a dict {expected}, got {value!r}")]
    problems = [
        (f"{path}.{key}", f"{path}.{key} must be a non-empty string, got {value[key]!r}")
        for key in PROVENANCE_KEYS
        if not isinstance(value[key], str) or not value[key]
    ]
    if not problems and not _is_aware_timestamp(value["written_at"]):
        problems.append(
            (
                f"{path}.written_at",
                f"{path}.written_at must be an ISO-8601 time with a UTC offset, e.g. "
                f"'2025-01-31T12:00:00+00:00', got {value['written_at']!r}",
            )
        )
    if problems:
        return None, problems
    return Provenance(run_id=value["run_id"], git_sha=value["git_sha"], written_at=value["written_at"]), []


def _is_aware_timestamp(text: str) -> bool:
    try:
        return datetime.fromisoformat(text).tzinfo is not None
    except ValueError:
        return False


def bool_check(value: Any, path: str) -> tuple[Any, list[KeyProblem]]:
    """``True`` or ``False`` (not 0 or 1)."""
    if isinstance(value, bool):
        return value, []
    return None, [(path, f"{path} must be True or False, got {value!r}")]


_FRACTIONS_EXAMPLE = '{"COLD": 0.0, "WARM": 0.0, "LIMITED": 0.1, "FULL": 1.0}'


def check_canary_fractions(value: Any, path: str) -> tuple[Any, list[KeyProblem]]:
    """Stage → share of capital on the new parameters: COLD and WARM 0 (WARM trades on paper), LIMITED in
    (0, 1), FULL 1."""
    if not isinstance(value, dict) or set(value) != set(DEPLOY_STAGES):
        legacy = isinstance(value, dict) and set(value) == {"WARM", "LIMITED", "FULL"}
        why = (
            "; since feature_flags.json schema 2 WARM trades on paper only (no capital) and every stage is "
            "listed"
            if legacy
            else ""
        )
        return None, [
            (
                path,
                f"{path} must be a dict with exactly the stages {', '.join(DEPLOY_STAGES)}, e.g. "
                f"{_FRACTIONS_EXAMPLE}, got {value!r}{why}",
            )
        ]
    fraction = number_check(float, NumberRange(0, 1))
    fractions: dict[str, float] = {}
    problems: list[KeyProblem] = []
    for stage in DEPLOY_STAGES:
        checked, found = fraction(value[stage], f"{path}.{stage}")
        problems.extend(found)
        fractions[stage] = checked
    if problems:
        return None, problems
    for stage in ("COLD", "WARM"):
        if fractions[stage] != 0.0:
            return None, [
                (
                    f"{path}.{stage}",
                    f"{path}.{stage} must be 0.0 ({stage} trades no capital on the new parameters"
                    f"{': WARM paper-trades them' if stage == 'WARM' else ''}), got {value[stage]!r}",
                )
            ]
    if not 0.0 < fractions["LIMITED"] < 1.0:
        return None, [
            (
                f"{path}.LIMITED",
                f"{path}.LIMITED must be a share in (0, 1) of the capital (the canary), "
                f"got {value['LIMITED']!r}",
            )
        ]
    if fractions["FULL"] != 1.0:
        return None, [(f"{path}.FULL", f"{path}.FULL must be 1.0 (all capital), got {value['FULL']!r}")]
    return {stage: fractions[stage] for stage in DEPLOY_STAGES}, []


def check_stage_bars(value: Any, path: str) -> tuple[Any, list[KeyProblem]]:
    """Stage → timeframe → bars: ``{"WARM": {"5m": 48, "default": 20}, ...}`` for COLD, WARM and LIMITED.

    Every stage has a ``"default"`` entry (timeframes without their own); counts are integers >= 1.
    """
    example = '{"COLD": {"5m": 2016, "default": 250}, "WARM": {...}, "LIMITED": {...}}'
    if not isinstance(value, dict) or set(value) != set(JUDGED_STAGES):
        return None, [
            (path, f"{path} must be a dict with exactly the stages {', '.join(JUDGED_STAGES)}, e.g. "
             f"{example}, got {value!r}")
        ]  # fmt: skip
    count = number_check(int, NumberRange(1))
    checked: dict[str, dict[str, int]] = {}
    problems: list[KeyProblem] = []
    for stage in JUDGED_STAGES:
        table = value[stage]
        where = f"{path}.{stage}"
        if not isinstance(table, dict) or DEFAULT_TIMEFRAME_KEY not in table:
            problems.append(
                (where, f'{where} must be a dict timeframe -> bars with a "default" entry, e.g. '
                 f'{{"5m": 48, "default": 20}}, got {table!r}')
            )  # fmt: skip
            continue
        checked[stage] = {}
        for timeframe, bars in table.items():
            if timeframe != DEFAULT_TIMEFRAME_KEY and not _names.matches(_names.TIMEFRAME, timeframe):
                problems.append(
                    (where, f"{where} has the key {timeframe!r}; use a timeframe like '5m', '1h', '1d' or "
                     '"default"')
                )  # fmt: skip
                continue
            number, found = count(bars, f"{where}.{timeframe}")
            problems.extend(found)
            checked[stage][timeframe] = number
    if problems:
        return None, problems
    return checked, []


def stage_bars(table: Mapping[str, Mapping[str, int]], stage: str, timeframe: str) -> int:
    """The bars ``table`` gives ``stage`` on ``timeframe`` (its ``"default"`` when it has no entry)."""
    row = table[stage]
    return int(row.get(timeframe, row[DEFAULT_TIMEFRAME_KEY]))


def check_live_params(value: Any, path: str) -> tuple[Any, list[KeyProblem]]:
    """``{strategy: {symbol: {"timeframe": "1d", param: value, ...}}}``."""
    return _check_nested(value, path, ("strategy", "symbol"), require_timeframe=True)


def check_regime_loadouts(value: Any, path: str) -> tuple[Any, list[KeyProblem]]:
    """``{strategy: {symbol: {regime: {param: value, ...}}}}``."""
    return _check_nested(value, path, ("strategy", "symbol", "regime"), require_timeframe=False)


_LEVEL_PATTERNS = {"strategy": _names.STRATEGY, "symbol": _names.SYMBOL, "regime": _names.REGIME}
_LEVEL_EXAMPLES = {"strategy": "'ema_cross'", "symbol": "'SP500' or 'BTC-USDT'", "regime": "'bull'"}


def _check_nested(
    value: Any, path: str, levels: tuple[str, ...], *, require_timeframe: bool
) -> tuple[Any, list[KeyProblem]]:
    if not levels:
        return _check_params(value, path, require_timeframe=require_timeframe)
    level = levels[0]
    if not isinstance(value, dict):
        shape = "".join(f"{{{name}: " for name in levels) + "{param: value}" + "}" * len(levels)
        return None, [(path, f"{path} must be a dict {shape}, got {value!r}")]
    checked: dict[str, Any] = {}
    problems: list[KeyProblem] = []
    for key, inner in value.items():
        if not _names.matches(_LEVEL_PATTERNS[level], key):
            problems.append(
                (
                    path,
                    f"{path} has the {level} name {key!r}; {level} names look like {_LEVEL_EXAMPLES[level]} "
                    f"(pattern {_LEVEL_PATTERNS[level]})",
                )
            )
            continue
        inner_checked, found = _check_nested(
            inner, f"{path}.{key}", levels[1:], require_timeframe=require_timeframe
        )
        problems.extend(found)
        checked[key] = inner_checked
    return (None if problems else checked), problems


def _check_params(value: Any, path: str, *, require_timeframe: bool) -> tuple[Any, list[KeyProblem]]:
    if not isinstance(value, dict):
        return None, [
            (path, f'{path} must be a dict {{"timeframe": "1d", param: value, ...}}, got {value!r}')
        ]
    problems: list[KeyProblem] = []
    if require_timeframe and "timeframe" not in value:
        problems.append((path, f'{path}.timeframe is missing; add e.g. "timeframe": "1d"'))
    for name, param in value.items():
        param_path = f"{path}.{name}"
        if not _names.matches(_names.PARAMETER, name):
            problems.append(
                (path, f"{path} has the parameter name {name!r}; use a lowercase identifier like 'ema_fast'")
            )
        elif name == "timeframe":
            if not _names.matches(_names.TIMEFRAME, param):
                problems.append(
                    (
                        param_path,
                        f"{param_path} must be a timeframe like '5m', '1h', '1d' or '1w', got {param!r}",
                    )
                )
        else:
            problems.extend(_check_param_value(param, param_path))
    return (None if problems else dict(value)), problems


def _check_param_value(value: Any, path: str) -> list[KeyProblem]:
    if is_number(value):
        if math.isfinite(value):
            return []
        return [(path, f"{path} must be a finite number, got {value!r}")]
    if isinstance(value, bool):
        return []
    if isinstance(value, str):
        if _looks_numeric(value):
            return [(path, f"{path} must be a number, got {value!r}; write it without quotes")]
        return []
    return [(path, f"{path} must be a number, bool or string, got {value!r}")]


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def mapping_depth_items(value: Mapping[str, Any], depth: int) -> list[tuple[tuple[str, ...], Any]]:
    """The ``(keys, leaf)`` pairs of a nested mapping, ``depth`` levels down."""
    if depth == 0:
        return [((), value)]
    return [
        ((key, *keys), leaf)
        for key, inner in value.items()
        for keys, leaf in mapping_depth_items(inner, depth - 1)
    ]
