"""Rows are checked in Python before they reach the database, so a bad row gets a message one can act on.

Each table has a list of :class:`Field` specs. :func:`validate_rows` turns caller mappings into plain column
dicts: it refuses unknown and missing fields, wrong types, values outside the allowed set or range, naive
datetimes and NaN, and converts NumPy scalars and pandas timestamps to plain Python values.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

import numpy as np

from tradeloop.errors import WarehouseError
from warehouse._types import naive_datetime_error

__all__ = ["Field", "plain_json", "validate_rows"]

Kind = Literal["str", "float", "int", "bool", "datetime", "object", "json"]


@dataclass(frozen=True)
class Field:
    """What one column accepts.

    ``required`` fields must be present and not ``None`` unless ``default`` supplies a value. ``choices``
    restricts a string to a set; ``low``/``high`` bound a number (inclusive).
    """

    name: str
    kind: Kind
    required: bool = True
    choices: tuple[str, ...] | None = None
    low: float | None = None
    high: float | None = None
    max_length: int | None = None
    default: Callable[[], Any] | None = None


def validate_rows(
    table: str, fields: tuple[Field, ...], records: Iterable[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Validate and normalise ``records`` for ``table``; raise ``WarehouseError`` on the first bad value."""
    return [validate_row(table, fields, record, row) for row, record in enumerate(records)]


def validate_row(
    table: str, fields: tuple[Field, ...], record: Mapping[str, Any], row: int | None
) -> dict[str, Any]:
    where_row = "" if row is None else f" (row {row})"
    if not isinstance(record, Mapping):
        raise WarehouseError(
            f"{table}{where_row}: expected a mapping of column to value, got {type(record).__name__}"
        )
    known = {field.name for field in fields}
    unknown = sorted(str(key) for key in record if key not in known)
    if unknown:
        raise WarehouseError(
            f"{table}{where_row}: unknown field(s) {unknown}; allowed fields are {sorted(known)}"
        )
    return {field.name: _check_field(table, field, record.get(field.name), where_row) for field in fields}


def _check_field(table: str, field: Field, value: Any, where_row: str) -> Any:
    where = f"{table}.{field.name}"
    if value is None and field.default is not None:
        value = field.default()
    if value is None:
        if field.required:
            raise WarehouseError(f"{where}{where_row} is missing; give it {_describe(field)}")
        return None
    value = _coerce(where, where_row, field, value)
    if field.choices is not None and value not in field.choices:
        raise WarehouseError(f"{where}{where_row} must be one of {list(field.choices)}, got {value!r}")
    if (field.low is not None and value < field.low) or (field.high is not None and value > field.high):
        raise WarehouseError(f"{where}{where_row} must be {_range(field)}, got {value!r}")
    return value


def _range(field: Field) -> str:
    if field.low is not None and field.high is not None:
        return f"in [{field.low:g}, {field.high:g}]"
    if field.low is not None:
        return f">= {field.low:g}"
    return f"<= {field.high:g}"


def _coerce(where: str, where_row: str, field: Field, value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    kind = field.kind
    if kind == "str":
        return _as_str(where, where_row, field, value)
    if kind == "float":
        return _as_float(where, where_row, value)
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise _type_error(where, where_row, field, value)
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise _type_error(where, where_row, field, value)
        return value
    if kind == "datetime":
        return as_utc_datetime(value, where + where_row)
    document = plain_json(value, where + where_row)
    if kind == "object" and not isinstance(document, dict):
        raise _type_error(where, where_row, field, value)
    return document


def _as_str(where: str, where_row: str, field: Field, value: Any) -> str:
    if not isinstance(value, str):
        raise _type_error(where, where_row, field, value)
    if field.required and not value.strip():
        raise WarehouseError(f"{where}{where_row} is empty; give it {_describe(field)}")
    if field.max_length is not None and len(value) > field.max_length:
        raise WarehouseError(
            f"{where}{where_row} is {len(value)} characters long, at most {field.max_length} are allowed: "
            f"{value[:40]!r}..."
        )
    return value


def _as_float(where: str, where_row: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise WarehouseError(f"{where}{where_row} must be a number, got {value!r} ({type(value).__name__})")
    number = float(value)
    if not math.isfinite(number):
        raise WarehouseError(
            f"{where}{where_row} must be a finite number, got {value!r}; drop the row or fix it"
        )
    return number


def as_utc_datetime(value: Any, where: str) -> datetime:
    """A tz-aware ``datetime`` from a ``datetime``, pandas ``Timestamp`` or ISO 8601 string with an offset."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise WarehouseError(
                f"{where} must be an ISO 8601 timestamp with a UTC offset, got {value!r}"
            ) from None
    to_pydatetime = getattr(value, "to_pydatetime", None)
    if to_pydatetime is not None:  # pandas.Timestamp: drivers want a plain datetime
        value = to_pydatetime()
    if not isinstance(value, datetime):
        raise WarehouseError(f"{where} must be a tz-aware datetime, got {value!r} ({type(value).__name__})")
    if value.tzinfo is None or value.utcoffset() is None:
        raise naive_datetime_error(where)
    return value


def plain_json(value: Any, where: str) -> Any:
    """``value`` as plain JSON types: NumPy scalars unwrapped, tuples as lists, NaN/inf as ``None``.

    NaN and inf have no JSON form (PostgreSQL refuses them), and a KPI such as the Sharpe ratio of a run
    without trades is undefined rather than a number, so they become ``null``.
    """
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, datetime):
        return as_utc_datetime(value, where).isoformat()
    if isinstance(value, Mapping):
        return {_json_key(key, where): plain_json(item, f"{where}.{key}") for key, item in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [plain_json(item, f"{where}[{index}]") for index, item in enumerate(value)]
    raise WarehouseError(
        f"{where}: {value!r} ({type(value).__name__}) cannot be stored as JSON; "
        "use numbers, strings, booleans, lists and dicts"
    )


def _json_key(key: Any, where: str) -> str:
    if not isinstance(key, str):
        raise WarehouseError(f"{where}: JSON object keys must be strings, got {key!r} ({type(key).__name__})")
    return key


def _type_error(where: str, where_row: str, field: Field, value: Any) -> WarehouseError:
    return WarehouseError(
        f"{where}{where_row} must be {_describe(field)}, got {value!r} ({type(value).__name__})"
    )


def _describe(field: Field) -> str:
    if field.choices is not None:
        return f"a value in {list(field.choices)}"
    return {
        "str": "a non-empty string",
        "float": "a finite number",
        "int": "an integer",
        "bool": "a boolean",
        "datetime": "a tz-aware UTC datetime",
        "object": "a JSON object (dict)",
        "json": "a JSON value",
    }[field.kind]
