"""One writer at a time (``tradeloop._locks``): the holder is named, and a SIGKILLed holder leaves no lock.

The holders are real processes killed with a real SIGKILL; the shared-storage lock is a real PostgreSQL
advisory lock when a server is configured.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import pg_url_or_skip
from tradeloop._locks import advisory_lock, application_name, exclusive_lock, is_locked
from tradeloop.errors import LockError

HOLD_FILE = """
import sys, time
from pathlib import Path
from tradeloop._locks import exclusive_lock
with exclusive_lock(Path(sys.argv[1]), "test"):
    print("held", flush=True)
    time.sleep(600)
"""
HOLD_ADVISORY = """
import sys, time
from sqlalchemy import create_engine
from tradeloop._locks import advisory_lock, application_name
engine = create_engine(sys.argv[1], connect_args={"application_name": application_name()})
with engine.connect() as connection:
    connection = connection.execution_options(isolation_level="AUTOCOMMIT")
    with advisory_lock(connection, sys.argv[2], "test"):
        print("held", flush=True)
        time.sleep(600)
"""


def _holder(code: str, *args: str) -> Iterator[subprocess.Popen[str]]:
    process = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None and process.stdout.readline().strip() == "held"
        yield process
    finally:
        process.kill()
        process.wait()


@pytest.fixture
def file_holder(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    path = tmp_path / "locks" / "thing.lock"
    for process in _holder(HOLD_FILE, str(path)):
        yield path, process


def test_a_held_file_lock_is_refused_with_the_holders_pid_and_command(
    file_holder: tuple[Path, subprocess.Popen[str]],
) -> None:
    path, holder = file_holder
    with pytest.raises(LockError) as caught, exclusive_lock(path, "the thing", fix="try later"):
        pass
    message = str(caught.value)
    assert message.startswith("the thing: pid ") and f"pid {holder.pid} on " in message
    assert "-c" in message and message.endswith("try later")
    assert is_locked(path)


def test_a_sigkilled_holder_leaves_no_stale_file_lock(
    file_holder: tuple[Path, subprocess.Popen[str]],
) -> None:
    path, holder = file_holder
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    assert not is_locked(path)
    with exclusive_lock(path, "the thing"):  # at once: no wait, no stale lock to clean up
        assert is_locked(path)


@pytest.mark.postgres
def test_a_postgresql_advisory_lock_names_its_holder_and_dies_with_it() -> None:
    from sqlalchemy import create_engine

    url = pg_url_or_skip()
    name = f"test-lock-{os.getpid()}-{time.monotonic_ns()}"
    engine = create_engine(url, connect_args={"application_name": application_name()})
    try:
        for holder in _holder(HOLD_ADVISORY, url, name):
            with engine.connect() as connection:
                connection = connection.execution_options(isolation_level="AUTOCOMMIT")
                with (
                    pytest.raises(LockError) as caught,
                    advisory_lock(connection, name, "study x", wait=False),
                ):
                    pass
                assert f"tradeloop pid {holder.pid} on " in str(caught.value)
                os.kill(holder.pid, signal.SIGKILL)
                holder.wait()
                deadline = time.monotonic() + 60  # the server notices the closed connection promptly
                while True:
                    try:
                        with advisory_lock(connection, name, "study x", wait=False):
                            break
                    except LockError:
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(0.1)
    finally:
        engine.dispose()
