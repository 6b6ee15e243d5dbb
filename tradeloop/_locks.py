"""One writer at a time: locks that the operating system releases when their holder dies.

- :func:`exclusive_lock`: an ``flock`` on a lock file, for what lives on one machine's disk (a shard's result
  log, a cycle's home, a SQLite Optuna storage). The kernel drops it when the holding process exits, however
  it exits (SIGKILL included), so a lock is never stale. The holder writes who it is (pid, host, command,
  start time) into the file, so a refused run can say which run holds it.
- :func:`advisory_lock`: a PostgreSQL session advisory lock, for storage shared by many runners. The server
  drops it when the holding session ends (a killed client's connection closes with it). The refusal names
  the holding session from ``pg_stat_activity`` (its ``application_name``: see :func:`application_name`).

Lock files are never deleted: deleting one while another process waits on it would let two holders in.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import socket
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tradeloop._secrets import environment_secrets, mask_secrets
from tradeloop.errors import LockError, WriteError

__all__ = [
    "advisory_key",
    "advisory_lock",
    "application_name",
    "describe_holder",
    "exclusive_lock",
    "holder_record",
    "is_locked",
]

_HOLDER_BYTES = 4096
_COMMAND_CHARS = 200


def holder_record() -> dict[str, Any]:
    """Who this process is: pid, host, command line (secrets masked) and the time, for a lock's holder."""
    command = " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]) if sys.argv else "python"
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "command": mask_secrets(command, environment_secrets())[:_COMMAND_CHARS],
        "since": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def describe_holder(record: dict[str, Any] | None) -> str:
    """``"pid 123 on host (tradeloop cycle, since 2025-01-01T00:00:00Z)"``, or a generic phrase."""
    if not record or "pid" not in record:
        return "another process"
    details = ", ".join(str(record[key]) for key in ("command", "since") if record.get(key))
    where = f" on {record['host']}" if record.get("host") else ""
    return f"pid {record['pid']}{where}" + (f" ({details})" if details else "")


def application_name() -> str:
    """The PostgreSQL ``application_name`` of tradeloop's sessions: names a lock's holder to other runs."""
    return f"tradeloop pid {os.getpid()} on {socket.gethostname()}"[:63]


def _read_holder(fd: int) -> dict[str, Any] | None:
    try:
        value = json.loads(os.pread(fd, _HOLDER_BYTES, 0).decode("utf-8") or "null")
    except (OSError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _write_holder(fd: int) -> None:
    data = json.dumps(holder_record()).encode("utf-8")
    with contextlib.suppress(OSError):  # who holds it is a courtesy for other runs; the lock is what counts
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)


def _open_lock_file(path: Path, what: str) -> int:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise WriteError(
            f"{what}: cannot create the lock file {path} ({exc.strerror or exc}); "
            "check that its directory is a writable directory"
        ) from None


@contextlib.contextmanager
def exclusive_lock(path: Path, what: str, *, wait: bool = False, fix: str = "") -> Iterator[None]:
    """Hold an exclusive ``flock`` on the lock file ``path`` (created when missing).

    Parameters
    ----------
    path
        The lock file; the lock is on it, not on the thing it guards.
    what
        The thing guarded, for the refusal (e.g. ``"matrix run: log out/shard-1-of-2.jsonl"``).
    wait
        Wait for the holder instead of refusing.
    fix
        What a refused user can do, appended to the message.

    Raises
    ------
    LockError
        ``wait`` is false and another process holds the lock; the message names that process.
    WriteError
        The lock file cannot be created.
    """
    fd = _open_lock_file(Path(path), what)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            holder = describe_holder(_read_holder(fd))
            raise LockError(
                f"{what}: {holder} holds it (lock {path}); " + (fix or "wait for that run to finish")
            ) from None
        _write_holder(fd)
        yield
    finally:
        os.close(fd)


def is_locked(path: Path) -> bool:
    """Whether some process holds the ``flock`` of ``path`` (False when the file does not exist)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops the probe's own lock, if it got one
    return False


def advisory_key(name: str) -> int:
    """A stable signed 64-bit PostgreSQL advisory-lock key for ``name``."""
    return int.from_bytes(hashlib.sha256(f"tradeloop:{name}".encode()).digest()[:8], "big", signed=True)


@contextlib.contextmanager
def advisory_lock(
    connection: Any, name: str, what: str, *, wait: bool = True, fix: str = ""
) -> Iterator[None]:
    """Hold the PostgreSQL session advisory lock of ``name`` on ``connection`` (a SQLAlchemy Connection).

    The connection must stay open while the lock is held: the server releases the lock when the session
    ends, which is what makes a killed holder harmless.

    Raises
    ------
    LockError
        ``wait`` is false and another session holds the lock; the message names that session.
    """
    key = advisory_key(name)
    if wait:
        connection.exec_driver_sql(f"SELECT pg_advisory_lock({key})")
    elif not connection.exec_driver_sql(f"SELECT pg_try_advisory_lock({key})").scalar():
        raise LockError(
            f"{what}: {advisory_holder(connection, key)} holds it; " + (fix or "wait for that run to finish")
        )
    try:
        yield
    finally:
        connection.exec_driver_sql(f"SELECT pg_advisory_unlock({key})")


def advisory_holder(connection: Any, key: int) -> str:
    """The session holding advisory lock ``key``, as ``pg_stat_activity`` names it."""
    unsigned = key & 0xFFFF_FFFF_FFFF_FFFF
    row = connection.exec_driver_sql(
        "SELECT a.application_name, a.client_addr, a.pid, a.backend_start FROM pg_locks l "
        "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.granted "
        f"AND l.classid = {unsigned >> 32}::bigint::oid AND l.objid = {unsigned & 0xFFFF_FFFF}::bigint::oid "
        "AND l.objsubid = 1 LIMIT 1"
    ).first()
    if row is None:
        return "another session"
    name, address, pid, started = row
    since = f"{started:%Y-%m-%dT%H:%M:%S%z}" if started is not None else "?"
    return f"{name or 'a session'} (server pid {pid}, from {address or 'local socket'}, since {since})"
