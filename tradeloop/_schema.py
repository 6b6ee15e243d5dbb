"""JSON Schema checks with one-line messages, for every document tradeloop reads.

A schema is shipped inside a package (``<package>/.../<name>.schema.json``, draft 2020-12). Each message
names the key path (``rollouts.ema_cross/SP500.canary_fraction``), the expected form and the value
received, e.g. ``rollouts.ema_cross/SP500.canary_fraction must be in (0, 1], got 1.5``. The documents
between the stages (``tradeloop.documents``) and the live state files (``gitops``) use the same machinery.
"""

from __future__ import annotations

import difflib
import functools
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

__all__ = ["NumberRange", "did_you_mean", "load_schema", "schema_messages", "show_json_value"]

_MAX_SHOWN = 80
_TYPE_NAMES = {
    "object": "an object",
    "array": "an array",
    "string": "a string",
    "number": "a number",
    "integer": "an integer",
    "boolean": "true or false",
    "null": "null",
}
_BOUNDS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")


@dataclass(frozen=True)
class NumberRange:
    """An interval of allowed values; ``None`` means unbounded on that side."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def contains(self, value: float) -> bool:
        above = self.low is None or (value > self.low if self.low_open else value >= self.low)
        below = self.high is None or (value < self.high if self.high_open else value <= self.high)
        return above and below

    def describe(self) -> str:
        """``"in (0, 1]"``, ``">= 1"`` or ``"> 0"``."""
        if self.low is not None and self.high is not None:
            left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
            return f"in {left}{_number(self.low)}, {_number(self.high)}{right}"
        if self.low is not None:
            return f"{'>' if self.low_open else '>='} {_number(self.low)}"
        if self.high is not None:
            return f"{'<' if self.high_open else '<='} {_number(self.high)}"
        return "(any value)"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def show_json_value(value: Any) -> str:
    """A value as JSON text, shortened for a one-line message."""
    try:
        text = json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """``" Did you mean X?"`` for the closest known name, or ``""`` when none is close."""
    matches = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" Did you mean {matches[0]}?" if matches else ""


def _closest(value: Any, choices: list[str]) -> str:
    """``" Did you mean X?"`` for a text close to one of ``choices``, case aside (``"wram"`` → WARM)."""
    if not isinstance(value, str) or not any(char.isalpha() for char in value):  # names, not operators
        return ""
    by_case = {choice.casefold(): choice for choice in choices}
    matches = difflib.get_close_matches(value.casefold(), list(by_case), n=1, cutoff=0.6)
    return f" Did you mean {by_case[matches[0]]}?" if matches else ""


@functools.cache
def load_schema(package: str, name: str) -> Mapping[str, Any]:
    """The JSON Schema shipped as ``<package>/schemas/<name>.schema.json``."""
    text = resources.files(package).joinpath("schemas", f"{name}.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@functools.cache
def _validator(package: str, name: str) -> Draft202012Validator:
    return Draft202012Validator(load_schema(package, name))


def schema_messages(document: Any, package: str, name: str) -> list[str]:
    """Every violation of ``document`` against ``<package>/schemas/<name>.schema.json``, as messages sorted
    by key path (without the file name)."""
    root = load_schema(package, name)
    errors = list(_validator(package, name).iter_errors(document))
    bad_keys = {(*tuple(error.absolute_path), error.instance) for error in errors if _is_key_error(error)}
    messages: list[str] = []
    for error in sorted(errors, key=_sort_key):
        path = tuple(error.absolute_path)
        if any(path[: len(bad)] == bad for bad in bad_keys):
            continue  # the entry under a malformed key is not checked further
        for message in _messages(error, root):
            if message not in messages:
                messages.append(message)
    return messages


def _sort_key(error: ValidationError) -> tuple[list[str], str]:
    return [str(part) for part in error.absolute_path], str(error.validator)


def _is_key_error(error: ValidationError) -> bool:
    return "propertyNames" in error.schema_path


def _join(path: tuple[Any, ...] | list[Any]) -> str:
    return ".".join(str(part) for part in path)


def _messages(error: ValidationError, root: Mapping[str, Any]) -> Iterator[str]:
    path = list(error.absolute_path)
    label = _join(path) or "the document"
    got = show_json_value(error.instance)
    keyword = str(error.validator)
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    nested = [sub for sub in error.context or () if sub.relative_path] if keyword == "anyOf" else []
    if nested:
        # An object (a status, previous parameters) that is not null but breaks its own rules: say which.
        for sub in sorted(nested, key=_sort_key):
            yield from _messages(sub, root)
    elif _is_key_error(error):
        yield f"{label} has the key {got}, which is not {_describe(schema, root)}"
    elif keyword == "additionalProperties":
        known = list(schema.get("properties", {}))
        for key in [key for key in error.instance if key not in known]:
            fix = did_you_mean(key, known).strip() or "Remove it."
            yield f"{_join([*path, key])} is not a known key (allowed: {', '.join(known)}). {fix}"
    elif keyword == "required":
        properties = schema.get("properties", {})
        for key in [key for key in error.validator_value if key not in error.instance]:
            yield f"{_join([*path, key])} is missing; add it: {_describe(properties.get(key, {}), root)}"
    elif keyword == "type":
        why = f" ({_describe(schema, root)})" if "then" in error.schema_path else ""
        yield f"{label} must be {_type_phrase(error.validator_value)}, got {got}{why}"
    elif keyword in _BOUNDS:
        yield f"{label} must be {_range(schema).describe()}, got {got}"
    elif keyword == "enum":
        choices = [str(value) for value in error.validator_value]
        hint = _closest(error.instance, choices)
        yield f"{label} must be one of {', '.join(choices)}, got {got}{hint and '.' + hint}"
    elif keyword == "const":
        expected = show_json_value(error.validator_value)
        yield f"{label} must be {expected}, got {got} ({_describe(schema, root)})"
    else:
        yield f"{label} must be {_describe(schema, root) or error.message}, got {got}"


def _type_phrase(expected: Any) -> str:
    names = [expected] if isinstance(expected, str) else list(expected)
    return " or ".join(_TYPE_NAMES.get(name, name) for name in names)


def _range(schema: Mapping[str, Any]) -> NumberRange:
    low_open = "exclusiveMinimum" in schema
    high_open = "exclusiveMaximum" in schema
    return NumberRange(
        low=schema.get("exclusiveMinimum", schema.get("minimum")),
        high=schema.get("exclusiveMaximum", schema.get("maximum")),
        low_open=low_open,
        high_open=high_open,
    )


def _describe(schema: Mapping[str, Any], root: Mapping[str, Any]) -> str:
    """A subschema's description, following a local ``$ref`` when it has none of its own."""
    if "description" in schema:
        return str(schema["description"])
    reference = schema.get("$ref", "")
    if isinstance(reference, str) and reference.startswith("#/$defs/"):
        definition = root["$defs"].get(reference.removeprefix("#/$defs/"), {})
        return str(definition.get("description", ""))
    return ""
