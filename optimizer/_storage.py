"""Optuna storage: SQLite in the run home by default, PostgreSQL by URL; heartbeats, retries and a reaper.

Every study lives in a standard Optuna RDB storage (``RDBStorage``), so ``optuna-dashboard <url>`` reads it.

**Heartbeats.** A worker records a heartbeat for each of its running trials every ``heartbeat_interval``
seconds. A RUNNING trial whose last heartbeat is older than ``grace_period`` is *stale* (its worker is alive
but silent: stopped, or cut off from the storage): ``optuna.storages.fail_stale_trials`` (run by every
worker at start-up and before each batch) marks it FAIL, and the next batch runs its slot again with the same
parameters, at most ``max_retry`` times (:mod:`optimizer._slots`). A *dead* worker's trials need no grace
period: its lease is gone, and the next worker fails them at once (:mod:`optimizer._leases`).

**The reaper.** Optuna only sees trials that sent at least one heartbeat. A worker killed between
``ask()`` and its first heartbeat leaves a RUNNING trial that ``fail_stale_trials`` never finds.
:func:`reap_stale_trials` fails every RUNNING trial older than the grace period that has no heartbeat
(its slot is then run again like any failed trial's).
"""

from __future__ import annotations

import contextlib
import sqlite3
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import optuna
from sqlalchemy.engine import make_url

from optimizer._leases import storage_lock
from tradeloop._atomic import write_error
from tradeloop._secrets import mask_secrets, mask_url, url_password
from tradeloop.errors import OptimizerError, TradeloopError

__all__ = [
    "MEMORY_STORAGE",
    "HeartbeatSettings",
    "default_storage_url",
    "fail_stale",
    "make_storage",
    "mask_url",
    "reap_stale_trials",
]

MEMORY_STORAGE = "memory"  # Optuna's in-memory storage: one process, nothing persisted, no heartbeats


@contextmanager
def _quiet_experimental() -> Iterator[None]:
    """Heartbeats and their callbacks are marked experimental in Optuna; we use them on purpose."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


@dataclass(frozen=True)
class HeartbeatSettings:
    """Heartbeat interval and grace period (seconds) and how often a stale trial is retried."""

    interval: int = 30
    grace_period: int = 120
    max_retry: int = 2

    def __post_init__(self) -> None:
        if self.interval < 1 or self.grace_period <= self.interval:
            raise OptimizerError(
                f"heartbeat interval {self.interval} s and grace period {self.grace_period} s: need "
                "interval >= 1 and grace period > interval (e.g. 30 and 120)"
            )
        if self.max_retry < 0:
            raise OptimizerError(f"max_retry must be >= 0, got {self.max_retry}")


def default_storage_url(home: Path) -> str:
    """SQLite at ``<home>/optuna.db`` (absolute, so that worker processes agree on it)."""
    return f"sqlite:///{(home / 'optuna.db').resolve()}"


def make_storage(url: str, heartbeat: HeartbeatSettings | None = None) -> optuna.storages.BaseStorage:
    """An Optuna storage for ``url``: ``memory``, ``sqlite:///path`` or a PostgreSQL URL.

    Opening is serialised per storage (:func:`optimizer._leases.storage_lock`: an ``flock`` for SQLite, an
    advisory lock for PostgreSQL), because Optuna's creation of its tables races between processes.

    Raises
    ------
    OptimizerError
        The URL is not a supported storage, or the storage cannot be opened (a damaged SQLite file, an
        unreachable server, a missing driver); the message masks the password and names the fix.
    """
    if url == MEMORY_STORAGE:
        return optuna.storages.InMemoryStorage()
    heartbeat = heartbeat or HeartbeatSettings()
    engine_kwargs: dict[str, Any] = {}
    scheme = url.split("://", 1)[0] if "://" in url else None
    if scheme == "sqlite":
        engine_kwargs["connect_args"] = {"timeout": 60}
    elif scheme is not None and scheme.startswith("postgresql"):
        engine_kwargs["pool_pre_ping"] = True
    else:
        why = " (no '://' after the scheme)" if scheme is None else ""
        raise OptimizerError(
            f"--storage {mask_url(url)!r} is not a supported Optuna storage{why}; use "
            "'sqlite:///path/optuna.db', 'postgresql+psycopg://user@host:5432/db' or 'memory'"
        )
    try:
        if url.startswith("sqlite"):
            _prepare_sqlite(url)
        with storage_lock(url), _quiet_experimental():
            # No stale-trial callback: the next batch runs a failed trial's slot again (optimizer._slots).
            return optuna.storages.RDBStorage(
                url,
                engine_kwargs=engine_kwargs,
                heartbeat_interval=heartbeat.interval,
                grace_period=heartbeat.grace_period,
            )
    except TradeloopError:
        raise
    except Exception as exc:  # SQLAlchemy/driver/sqlite3 errors: name the storage, never the password
        first = (str(exc).splitlines() or [""])[0][:200]
        raise OptimizerError(
            f"--storage {mask_url(url)!r}: cannot open the Optuna storage ({type(exc).__name__}: "
            f"{mask_secrets(first, [url_password(url)])}); {_storage_fix(url, exc)}"
        ) from None


def _prepare_sqlite(url: str) -> None:
    """Create the folder and switch the file to WAL, so that several worker processes can share it."""
    database = make_url(url).database
    if not database or database == ":memory:":
        return
    path = Path(database)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(path, exc, "cannot create the Optuna storage's directory") from None
    with storage_lock(url), contextlib.closing(sqlite3.connect(path, timeout=60)) as connection:
        connection.execute("PRAGMA journal_mode=WAL")


def fail_stale(study: optuna.Study, grace_period: int) -> None:
    """Optuna's ``fail_stale_trials`` followed by :func:`reap_stale_trials` (see the module doc)."""
    with _quiet_experimental():
        optuna.storages.fail_stale_trials(study)
        reap_stale_trials(study, grace_period)


def reap_stale_trials(study: optuna.Study, grace_period: float, now: datetime | None = None) -> list[int]:
    """Fail RUNNING trials started more than ``grace_period`` s ago that never sent a heartbeat.

    Each reaped trial goes to the storage's heartbeat-stale callback (a retry, when configured).
    Returns the numbers of the trials reaped.
    """
    storage = study._storage  # the public Study API has no heartbeat access; RDBStorage is wrapped in a cache
    if not isinstance(storage, optuna.storages._heartbeat.BaseHeartbeat):
        return []
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(seconds=grace_period)
    with_heartbeat = _trials_with_heartbeat(storage, study)
    reaped: list[int] = []
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        started = trial.datetime_start
        if trial._trial_id in with_heartbeat or started is None:
            continue
        if _as_utc(started) > cutoff:
            continue
        try:
            if storage.set_trial_state_values(trial._trial_id, state=optuna.trial.TrialState.FAIL):
                reaped.append(trial._trial_id)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # another worker finished or reaped it first
    callback = storage.get_heartbeat_stale_trial_callback()
    numbers = []
    for trial_id in reaped:
        frozen = storage.get_trial(trial_id)
        numbers.append(frozen.number)
        if callback is not None:
            callback(study, frozen)
    return numbers


def _trials_with_heartbeat(storage: Any, study: optuna.Study) -> set[int]:
    from optuna.storages._rdb import models
    from optuna.storages._rdb.storage import _create_scoped_session

    rdb = getattr(storage, "_backend", storage)
    if not isinstance(rdb, optuna.storages.RDBStorage):
        return set()
    with _create_scoped_session(rdb.scoped_session) as session:
        rows = (
            session.query(models.TrialHeartbeatModel.trial_id)
            .join(models.TrialModel, models.TrialModel.trial_id == models.TrialHeartbeatModel.trial_id)
            .filter(models.TrialModel.study_id == study._study_id)
            .all()
        )
    return {int(row[0]) for row in rows}


def _as_utc(moment: datetime) -> datetime:
    # Optuna stores naive local times (datetime.now()); make them comparable with an aware UTC now.
    return moment.astimezone(UTC) if moment.tzinfo else moment.astimezone().astimezone(UTC)


def _storage_fix(url: str, exc: Exception) -> str:
    """The fix for a storage that does not open: the file, the URL, the server or the driver."""
    if isinstance(exc, ModuleNotFoundError) or "No module named" in str(exc):
        return "install the database driver (pip install 'tradeloop[postgres]')"
    if url.startswith("sqlite"):
        return "check that the file is an Optuna SQLite database (move a damaged one away) and is writable"
    return "check the URL (user, host, port, database) and that the server is running"
