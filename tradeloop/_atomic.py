"""Atomic file replacement: temp file in the same directory, fsync, ``os.replace``, fsync of the directory.

A reader never sees a half-written file: either the old content or the new one. A writer killed before
the rename leaves a temp file named ``.<name>.tmp-<pid>-<random>``; the next writer of the same file
removes such orphans while it holds the file's lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_write_bytes", "atomic_write_text", "file_lock", "fsync_directory", "orphaned_temp_files"]


def _temp_prefix(path: Path) -> str:
    return f".{path.name}.tmp-"


def orphaned_temp_files(path: Path) -> list[Path]:
    """Temp files left next to ``path`` by writers that died before their rename."""
    prefix = _temp_prefix(path)
    return sorted(p for p in path.parent.glob(prefix + "*") if p.name.startswith(prefix))


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``.<name>.lock`` beside ``path`` (released even on SIGKILL)."""
    lock_path = path.parent / f".{path.name}.lock"
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def fsync_directory(directory: Path) -> None:
    """Make a directory's entries (a new or renamed file in it) durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write_bytes(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Replace ``path`` with ``data`` atomically and durably.

    Writers of the same path are serialised by a lock file, and orphaned temp files from killed
    writers are removed under that lock.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(path):
        for orphan in orphaned_temp_files(path):
            orphan.unlink(missing_ok=True)
        tmp = path.parent / f"{_temp_prefix(path)}{os.getpid()}-{secrets.token_hex(4)}"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            tmp.replace(path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        fsync_directory(path.parent)


def atomic_write_text(path: Path, text: str, mode: int = 0o644) -> None:
    """Replace ``path`` with UTF-8 ``text`` atomically; see :func:`atomic_write_bytes`."""
    atomic_write_bytes(path, text.encode("utf-8"), mode)
