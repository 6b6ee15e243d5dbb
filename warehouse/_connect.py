"""Warehouse engines: URL checks, SQLite set-up for many writers, reachability and the schema version."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.pool import ConnectionPoolEntry

from tradeloop import file_lock, utc_now
from tradeloop._secrets import mask_secrets, mask_url
from tradeloop.errors import WarehouseError
from warehouse._migrate import OLDEST_MIGRATABLE, move_revision_out_of_alembic_version, stamp_head, upgrade
from warehouse._schema import SCHEMA_VERSION, Base, SchemaVersion

__all__ = [
    "SUPPORTED_BACKENDS",
    "WRITE_OPTION",
    "check_reachable",
    "create_warehouse_engine",
    "ensure_schema",
    "masked_url",
    "prepare_engine",
    "write_fault_fix",
]

SUPPORTED_BACKENDS = ("sqlite", "postgresql")
#: Execution option marking a connection that will write; on SQLite its transaction takes the write lock
#: up front (``BEGIN IMMEDIATE``) so that the busy timeout applies instead of a mid-transaction failure.
WRITE_OPTION = "tradeloop_write"
SQLITE_BUSY_TIMEOUT_S = 60.0
# Serialises table creation among processes opening the same fresh PostgreSQL database at once.
_PG_SCHEMA_LOCK_KEY = 0x7472_6164_656C_6F6F  # "tradeloo"


def masked_url(url: str | URL) -> str:
    """``url`` with its password replaced by ``***``, safe for messages and logs (``tradeloop.mask_url``)."""
    text = url if isinstance(url, str) else url.render_as_string(hide_password=False)
    return mask_url(text)


def create_warehouse_engine(url: str | URL, **engine_kwargs: Any) -> Engine:
    """A SQLAlchemy engine for the warehouse at ``url``, configured as :func:`prepare_engine` describes.

    A SQLite file's directory is created when missing. ``engine_kwargs`` go to ``create_engine`` (e.g.
    ``connect_args={"options": "-csearch_path=my_schema"}`` for a PostgreSQL schema).
    """
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:  # ValueError: a port that is not a number
        why = "its port is not a number" if isinstance(exc, ValueError) else "it does not parse"
        raise WarehouseError(
            f"warehouse URL {masked_url(url)!r} is not a database URL ({why}); use e.g. "
            "'sqlite:///path/warehouse.db' or 'postgresql+psycopg://user@host:5432/db'"
        ) from None
    backend = parsed.get_backend_name()
    if backend not in SUPPORTED_BACKENDS:
        raise WarehouseError(
            f"warehouse {masked_url(parsed)}: backend {backend!r} is not supported; "
            f"use one of {list(SUPPORTED_BACKENDS)}"
        )
    if backend == "sqlite":
        _create_sqlite_directory(parsed)
        connect_args = dict(engine_kwargs.pop("connect_args", {}))
        connect_args.setdefault("timeout", SQLITE_BUSY_TIMEOUT_S)
        engine_kwargs["connect_args"] = connect_args
    try:
        engine = create_engine(parsed, **engine_kwargs)
    except (NoSuchModuleError, ModuleNotFoundError) as exc:
        raise WarehouseError(
            f"warehouse {masked_url(parsed)}: the database driver is not installed ({exc}); "
            "install it, e.g. pip install 'tradeloop[postgres]'"
        ) from None
    return prepare_engine(engine)


def _create_sqlite_directory(url: URL) -> None:
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    directory = Path(database).expanduser().parent
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WarehouseError(
            f"warehouse {masked_url(url)}: cannot create directory {str(directory)!r} ({exc.strerror}); "
            "set TRADELOOP_HOME or TRADELOOP_DB_URL to a writable place"
        ) from None


def prepare_engine(engine: Engine) -> Engine:
    """Configure a SQLite engine for several writing processes; other engines are returned unchanged.

    The SQLite file is switched to WAL journaling (readers do not block the writer); each connection gets
    a busy timeout, foreign keys switched on, and transactions that SQLAlchemy begins itself (so that DDL
    is transactional and a writing transaction can take the write lock up front).
    """
    if engine.dialect.name == "sqlite" and not event.contains(
        engine, "connect", _configure_sqlite_connection
    ):
        _enable_wal(engine.url)
        event.listen(engine, "connect", _configure_sqlite_connection)
        event.listen(engine, "begin", _begin_sqlite_transaction)
    return engine


def _enable_wal(url: URL) -> None:
    """Switch a SQLite file to WAL once, under a file lock.

    WAL is a lasting property of the file. Switching needs an exclusive lock, and two processes switching
    a new file at once can get "database is locked" without the busy timeout applying, hence the file lock.
    """
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    path = Path(database).expanduser()
    try:
        with file_lock(path), contextlib.closing(sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT_S)) as db:
            if db.execute("PRAGMA journal_mode").fetchone() != ("wal",):
                db.execute("PRAGMA journal_mode = WAL")
    except (sqlite3.Error, OSError) as exc:
        raise WarehouseError(
            f"warehouse {masked_url(url)}: cannot open the SQLite file in WAL mode ({exc}); "
            + (write_fault_fix(str(exc)) or "check that the path names a writable SQLite database file")
        ) from None


def _configure_sqlite_connection(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    dbapi_connection.isolation_level = None  # stop pysqlite from issuing its own BEGIN
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _begin_sqlite_transaction(connection: Connection) -> None:
    writes = connection.get_execution_options().get(WRITE_OPTION, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if writes else "BEGIN")


def check_reachable(engine: Engine) -> None:
    """Open one connection, turning a driver failure into a one-line ``WarehouseError``."""
    try:
        engine.connect().close()
    except DBAPIError as exc:
        if engine.dialect.name == "sqlite":
            fix = "check that the path names a writable SQLite database file"
        else:
            fix = "check that the server is running and the URL (TRADELOOP_DB_URL) is right"
        reason = _one_line(exc, engine.url)
        fix = write_fault_fix(reason) or fix
        where = masked_url(engine.url)
        raise WarehouseError(f"cannot connect to warehouse {where}: {reason}; {fix}") from None


def _one_line(exc: DBAPIError, url: URL) -> str:
    reason = str(exc.orig if exc.orig is not None else exc).strip()
    first = reason.splitlines()[0] if reason else type(exc.orig).__name__
    return mask_secrets(first, [None if url.password is None else str(url.password)])


def ensure_schema(engine: Engine) -> int:
    """Create missing tables and record :data:`SCHEMA_VERSION`; migrate an older schema, refuse a newer one.

    A database at an older schema version is upgraded in place by the Alembic revisions
    (:mod:`warehouse._migrate`). Returns the schema version the database holds. Everything happens in one
    transaction: concurrent openers wait for each other (SQLite write lock, PostgreSQL advisory lock)
    instead of racing.
    """
    where = masked_url(engine.url)
    try:
        with engine.connect() as connection:
            connection.execution_options(**{WRITE_OPTION: True})
            with connection.begin():
                if engine.dialect.name == "postgresql":
                    connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_PG_SCHEMA_LOCK_KEY})")
                return _ensure_schema(connection, where)
    except SQLAlchemyError as exc:
        reason = _summary(exc, engine.url)
        raise WarehouseError(
            f"warehouse {where}: cannot create or check the tables ({reason}); "
            + (write_fault_fix(reason) or "check that the database user may create tables")
        ) from None


def _ensure_schema(connection: Connection, where: str) -> int:
    versions = Base.metadata.tables[SchemaVersion.__tablename__]
    stored = None
    if inspect(connection).has_table(SchemaVersion.__tablename__):
        stored = connection.execute(select(SchemaVersion.version)).scalar_one_or_none()
    if stored is not None:
        _check_version(stored, where)
        move_revision_out_of_alembic_version(connection)
        if stored < SCHEMA_VERSION:
            upgrade(connection, stored)
            connection.execute(versions.update().values(version=SCHEMA_VERSION, applied_at=utc_now()))
    Base.metadata.create_all(connection)
    if stored is None:
        connection.execute(versions.insert().values(id=1, version=SCHEMA_VERSION, applied_at=utc_now()))
        stamp_head(connection)
    return SCHEMA_VERSION


def _check_version(stored: int, where: str) -> None:
    if stored > SCHEMA_VERSION:
        raise WarehouseError(
            f"warehouse {where}: database schema version {stored} is newer than this tradeloop's "
            f"schema version {SCHEMA_VERSION}; upgrade tradeloop (pip install -U tradeloop) or point "
            "TRADELOOP_DB_URL at another database"
        )
    if stored < OLDEST_MIGRATABLE:
        raise WarehouseError(
            f"warehouse {where}: database schema version {stored} is older than schema version "
            f"{OLDEST_MIGRATABLE}, the oldest this tradeloop migrates; export what you need and point "
            "TRADELOOP_DB_URL (or TRADELOOP_HOME) at a fresh database"
        )


#: How SQLite and PostgreSQL report a write the disk refused (full, quota, the file-size limit).
_WRITE_FAULTS = (
    "disk i/o error", "database or disk is full", "no space left", "file too large", "disk quota",
)  # fmt: skip


def write_fault_fix(reason: str) -> str | None:
    """The fix when ``reason`` is a refused write, else None; what was written before stays intact."""
    if not any(fault in reason.lower() for fault in _WRITE_FAULTS):
        return None
    return (
        "the database file could not be written (disk full, or the file-size limit, ulimit -f, too low); "
        "free space or raise the limit and run it again: the rows already stored are intact"
    )


def _summary(exc: SQLAlchemyError, url: URL) -> str:
    if isinstance(exc, DBAPIError):
        return _one_line(exc, url)
    first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return mask_secrets(first, [None if url.password is None else str(url.password)])
