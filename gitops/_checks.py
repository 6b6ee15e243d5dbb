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
    "SCHEMA_VERSION",
    "Check",
    "KeyProblem",
    "NumberRange",
    "check_canary_fractions",
    "check_live_params",
    "check_provenance",
    "check_regime_loadouts",
    "check_schema_version",
    "number_check",
    "value_kind",
]

SCHEMA_VERSION = 1
CANARY_STAGES = ("WARM", "LIMITED", "FULL")
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


def check_canary_fractions(value: Any, path: str) -> tuple[Any, list[KeyProblem]]:
    """Stage → share of capital: every stage present, each in (0, 1], increasing, and FULL equal to 1."""
    if not isinstance(value, dict) or set(value) != set(CANARY_STAGES):
        example = ", ".join(f'"{stage}": ...' for stage in CANARY_STAGES)
        return None, [(path, f"{path} must be a dict with exactly the stages {{{example}}}, got {value!r}")]
    fraction = number_check(float, NumberRange(0, 1, low_open=True))
    fractions: dict[str, float] = {}
    problems: list[KeyProblem] = []
    for stage in CANARY_STAGES:
        checked, found = fraction(value[stage], f"{path}.{stage}")
        problems.extend(found)
        fractions[stage] = checked
    if problems:
        return None, problems
    if fractions["FULL"] != 1.0:
        return None, [(f"{path}.FULL", f"{path}.FULL must be 1.0 (all capital), got {value['FULL']!r}")]
    if not fractions["WARM"] < fractions["LIMITED"] < fractions["FULL"]:
        shown = ", ".join(f"{stage}={fractions[stage]}" for stage in CANARY_STAGES)
        return None, [(path, f"{path} must increase from WARM to LIMITED to FULL, got {shown}")]
    return {stage: fractions[stage] for stage in CANARY_STAGES}, []


def check_live_params(value: Any, path: str) -> tuple[Any, list[KeyProblem]]:
    """``{strategy: {symbol: {"timeframe": "1d", param: value, ...}}}``."""
    return _check_nested(value, path, ("strategy", "symbol"), require_timeframe=True)


def check_regime_loadouts(value: Any, path: str) -> tuple[Any, list[KeyProblem]]:
    """``{strategy: {symbol: {regime: {param: value, ...}}}}``."""
    return _check_nested(value, path, ("strategy", "symbol", "regime"), require_timeframe=False)


_LEVEL_PATTERNS = {"strategy": _names.STRATEGY, "symbol": _names.SYMBOL, "regime": _names.REGIME}
_LEVEL_EXAMPLES = {"strategy": "'ema_cross'", "symbol": "'SP500' or 'BTC-USDT'", "regime": "'trend_up'"}


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
