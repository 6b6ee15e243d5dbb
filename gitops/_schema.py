"""The JSON Schemas gitops reads its documents with, and their one-line messages.

``feature_flags.json`` is checked against ``gitops/schemas/feature_flags.schema.json``; the proposal and
the verdict (contracts 2 and 3) have their schemas beside their types in ``tradeloop/documents/schemas/``.
The machinery is :mod:`tradeloop._schema`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from tradeloop._schema import load_schema as _load
from tradeloop._schema import schema_messages as _messages

__all__ = ["SchemaName", "feature_flags_schema", "load_schema", "schema_messages"]

SchemaName = Literal["feature_flags", "feature_flags_v1", "proposal", "verdict"]
_PACKAGES: dict[str, str] = {
    "feature_flags": "gitops",
    "feature_flags_v1": "gitops",
    "proposal": "tradeloop.documents",
    "verdict": "tradeloop.documents",
}


def load_schema(name: SchemaName) -> Mapping[str, Any]:
    """The JSON Schema (draft 2020-12) named ``name``."""
    return _load(_PACKAGES[name], name)


def feature_flags_schema() -> Mapping[str, Any]:
    """The JSON Schema (draft 2020-12) shipped as ``gitops/schemas/feature_flags.schema.json``."""
    return load_schema("feature_flags")


def schema_messages(document: Any, schema: SchemaName = "feature_flags") -> list[str]:
    """Every schema violation of ``document``, as messages sorted by key path (without the file name)."""
    return _messages(document, _PACKAGES[schema], schema)
