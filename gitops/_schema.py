"""The JSON Schemas of ``feature_flags.json``, ``proposal.json`` and ``verdict.json``, and the translation
of their errors into one-line messages.

Each message names the key path (``rollouts.ema_cross/SP500.canary_fraction``), the expected form and
the value received, e.g. ``rollouts.ema_cross/SP500.canary_fraction must be in (0, 1], got 1.5``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator, Mapping
from importlib import resources
from typing import Any, Literal

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from gitops._checks import NumberRange
from gitops._problems import did_you_mean, show_json_value

__all__ = ["SchemaName", "feature_flags_schema", "load_schema", "schema_messages"]

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
SchemaName = Literal["feature_flags", "feature_flags_v1", "proposal", "verdict"]


@functools.cache
def load_schema(name: SchemaName) -> Mapping[str, Any]:
    """The JSON Schema (draft 2020-12) shipped as ``gitops/schemas/<name>.schema.json``."""
    text = resources.files("gitops").joinpath("schemas", f"{name}.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def feature_flags_schema() -> Mapping[str, Any]:
    """The JSON Schema (draft 2020-12) shipped as ``gitops/schemas/feature_flags.schema.json``."""
    return load_schema("feature_flags")


@functools.cache
def _validator(name: SchemaName) -> Draft202012Validator:
    return Draft202012Validator(load_schema(name))


def schema_messages(document: Any, schema: SchemaName = "feature_flags") -> list[str]:
    """Every schema violation of ``document``, as messages sorted by key path (without the file name)."""
    root = load_schema(schema)
    errors = list(_validator(schema).iter_errors(document))
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
        yield f"{label} must be one of {', '.join(map(str, error.validator_value))}, got {got}"
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
