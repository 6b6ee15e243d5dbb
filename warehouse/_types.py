"""Column types that behave the same on SQLite and PostgreSQL: UTC timestamps and JSON documents."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

from tradeloop.errors import WarehouseError

__all__ = ["JSON_DOCUMENT", "UTCDateTime", "naive_datetime_error"]

#: A JSON column: ``JSON`` (text) on SQLite, ``JSONB`` on PostgreSQL. Python ``None`` is stored as SQL NULL.
JSON_DOCUMENT = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


def naive_datetime_error(where: str) -> WarehouseError:
    return WarehouseError(f"naive datetime for {where}; pass a tz-aware UTC datetime")


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back as a tz-aware UTC ``datetime``.

    PostgreSQL keeps it in a ``timestamptz`` column. SQLite has no time zones, so the UTC wall time is stored
    and UTC is attached again on the way out. Naive datetimes are refused: their zone would be a guess.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise WarehouseError(
                f"a timestamp column got {value!r} ({type(value).__name__}); pass a tz-aware UTC datetime"
            )
        if value.tzinfo is None or value.utcoffset() is None:
            raise naive_datetime_error("a timestamp column")
        as_utc = value.astimezone(UTC)
        return as_utc.replace(tzinfo=None) if dialect.name == "sqlite" else as_utc

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise WarehouseError(f"a timestamp column holds {value!r}, which is not a timestamp")
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
