"""Worker leases on an Optuna storage: which workers are alive, and one study writer at a time.

A worker holds a *lease* for as long as it runs: a lock that the operating system (SQLite storage: an
``flock`` on ``worker-<token>.lock`` beside the database) or the server (PostgreSQL: a session advisory lock)
drops the moment the worker dies, however it dies. Every trial a worker asks is stamped with its lease token,
so any other worker can tell a trial of a live worker from one of a dead run at once, without waiting for a
heartbeat grace period, and without ever mistaking a slow worker for a dead one.

The *study lock* (same two mechanisms) serialises what must not interleave between workers: creating a study,
recovering the trials of dead workers, and asking a batch and stamping it. Holding it while asking is what
makes an unstamped RUNNING trial provably orphaned: its asker died between ``ask`` and the stamp.

In-memory storage has one process and needs neither: :class:`LocalLease` does nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol, Self

from sqlalchemy.engine import make_url

from tradeloop._locks import advisory_key, advisory_lock, application_name, exclusive_lock, is_locked
from tradeloop._secrets import mask_url
from tradeloop.errors import OptimizerError

__all__ = ["Lease", "LocalLease", "open_lease", "sqlite_lock_dir", "storage_lock"]


class Lease(Protocol):
    """A live worker's lease on a storage (see the module doc)."""

    token: str

    def alive(self, token: str) -> bool:
        """Whether the worker holding ``token`` is still running."""
        ...

    def study_lock(self, study_name: str) -> contextlib.AbstractContextManager[None]:
        """Exclusive access to ``study_name`` among workers (waits for the holder)."""
        ...

    def close(self) -> None:
        """Give the lease up (the worker's trials then count as a dead run's)."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...


class LocalLease:
    """The lease of in-memory storage: one process, always alive, nothing to lock."""

    def __init__(self) -> None:
        self.token = uuid.uuid4().hex

    def alive(self, token: str) -> bool:
        return True

    def study_lock(self, study_name: str) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()

    def close(self) -> None:
        return None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def sqlite_lock_dir(url: str) -> Path:
    """Where the lock files of a SQLite storage live: ``.<file>.locks/`` beside the database file."""
    database = make_url(url).database or "optuna.db"
    path = Path(database)
    return path.parent / f".{path.name}.locks"


def _name_digest(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:16]


class FileLease:
    """The lease of a SQLite storage: ``flock`` on files in :func:`sqlite_lock_dir`."""

    def __init__(self, url: str) -> None:
        self.token = uuid.uuid4().hex
        self._dir = sqlite_lock_dir(url)
        self._url = url
        self._own: contextlib.ExitStack | None = None

    def __enter__(self) -> Self:
        stack = contextlib.ExitStack()
        stack.enter_context(exclusive_lock(self._path(self.token), f"optimizer worker {self.token}"))
        self._own = stack
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _path(self, token: str) -> Path:
        return self._dir / f"worker-{token}.lock"

    def alive(self, token: str) -> bool:
        if token == self.token:
            return True
        path = self._path(token)
        if is_locked(path):
            return True
        path.unlink(missing_ok=True)  # tokens are never reused, so nobody can be waiting on this file
        return False

    def study_lock(self, study_name: str) -> contextlib.AbstractContextManager[None]:
        return exclusive_lock(
            self._dir / f"study-{_name_digest(study_name)}.lock", f"study {study_name!r}", wait=True
        )

    def close(self) -> None:
        if self._own is not None:
            self._own.close()
            self._own = None
            self._path(self.token).unlink(missing_ok=True)


class PostgresLease:
    """The lease of a PostgreSQL storage: session advisory locks on one connection held for the lease."""

    def __init__(self, url: str) -> None:
        self.token = uuid.uuid4().hex
        self._url = url
        self._engine: Any = None
        self._connection: Any = None

    def __enter__(self) -> Self:
        from sqlalchemy import create_engine
        from sqlalchemy.pool import NullPool

        try:
            self._engine = create_engine(
                self._url, poolclass=NullPool, connect_args={"application_name": application_name()}
            )
            self._connection = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            self._connection.exec_driver_sql(
                f"SELECT pg_advisory_lock({advisory_key('worker:' + self.token)})"
            )
        except Exception as exc:  # driver and connection errors: name the storage, never the password
            self.close()
            raise OptimizerError(
                f"--storage {mask_url(self._url)!r}: cannot open a worker session ({type(exc).__name__}); "
                "check the URL and that the server is running"
            ) from None
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def alive(self, token: str) -> bool:
        if token == self.token:
            return True
        key = advisory_key("worker:" + token)
        if self._connection.exec_driver_sql(f"SELECT pg_try_advisory_lock({key})").scalar():
            self._connection.exec_driver_sql(f"SELECT pg_advisory_unlock({key})")
            return False
        return True

    def study_lock(self, study_name: str) -> contextlib.AbstractContextManager[None]:
        return advisory_lock(self._connection, "study:" + study_name, f"study {study_name!r}", wait=True)

    def close(self) -> None:
        if self._connection is not None:
            with contextlib.suppress(Exception):  # the session may already be gone; closing is best effort
                self._connection.close()
            self._connection = None
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None


def open_lease(url: str) -> FileLease | PostgresLease | LocalLease:
    """A lease on the storage at ``url`` (enter it to acquire it)."""
    if url.startswith("sqlite"):
        return FileLease(url)
    if url.startswith("postgresql"):
        return PostgresLease(url)
    return LocalLease()


@contextlib.contextmanager
def storage_lock(url: str) -> Iterator[None]:
    """Exclusive access to a storage while its tables are created (Optuna's schema set-up races otherwise)."""
    if url.startswith("sqlite"):
        with exclusive_lock(sqlite_lock_dir(url) / "storage.lock", "Optuna storage set-up", wait=True):
            yield
        return
    if not url.startswith("postgresql"):
        yield
        return
    from sqlalchemy import create_engine
    from sqlalchemy.pool import NullPool

    engine = create_engine(url, poolclass=NullPool, connect_args={"application_name": application_name()})
    try:
        with engine.connect() as connection:
            connection = connection.execution_options(isolation_level="AUTOCOMMIT")
            with advisory_lock(connection, "optuna-storage-setup", "Optuna storage set-up", wait=True):
                yield
    finally:
        engine.dispose()
