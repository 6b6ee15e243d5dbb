"""Read-only JSON values: what a typed document keeps of the sections it does not model field by field."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

__all__ = ["EMPTY", "empty_mapping", "freeze", "thaw"]

#: The empty read-only mapping (a field's default).
EMPTY: Mapping[str, Any] = MappingProxyType({})


def empty_mapping() -> Mapping[str, Any]:
    """:data:`EMPTY` (the default factory of a dataclass field: a mapping cannot be a field's default)."""
    return EMPTY


def freeze(value: Any) -> Any:
    """``value`` with every object a read-only mapping and every array a tuple (a deep copy)."""
    if isinstance(value, Mapping):
        return MappingProxyType({str(key): freeze(item) for key, item in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(item) for item in value)
    return value


def thaw(value: Any) -> Any:
    """The plain JSON value of a frozen one: dicts and lists again (a deep copy)."""
    if isinstance(value, Mapping):
        return {key: thaw(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [thaw(item) for item in value]
    return value
