"""Atomic file replacement: temp file in the same directory, fsync, ``os.replace``, fsync of the directory.

A reader never sees a half-written file: either the old content or the new one. A writer killed before
the rename leaves a temp file named ``.<name>.tmp-<pid>-<random>``; the next writer of the same file
removes such orphans while it holds the file's lock.

A write that fails (disk full, the file-size limit, permissions, a parent that is a file) raises
:class:`~tradeloop.errors.WriteError` naming the file and the cause, and leaves the old content in place.

Test seam: ``TRADELOOP_TEST_WRITE_FAULT`` = ``ENOSPC`` or ``EFBIG``, optionally ``:<glob>`` of file names
(``ENOSPC:*.jsonl``), makes :func:`write_all` fail as the kernel would, at the ``write`` call of every
writer of matching files (atomic writes and the matrix result log). Never set it in production.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import fnmatch
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from tradeloop.errors import WriteError

__all__ = [
    "WRITE_FAULT_ENV",
    "append_bytes",
    "atomic_write_bytes",
    "atomic_write_many",
    "atomic_write_text",
    "file_lock",
    "fsync_directory",
    "orphaned_temp_files",
    "write_all",
    "write_error",
]

WRITE_FAULT_ENV = "TRADELOOP_TEST_WRITE_FAULT"
_FAULTS = {"ENOSPC": errno.ENOSPC, "EFBIG": errno.EFBIG}
_WRITE_CHUNK = 1 << 20
_FIXES = {
    errno.ENOSPC: "free disk space (or point TRADELOOP_HOME / --out at a disk with room) and run it again",
    errno.EDQUOT: "free space within your disk quota and run it again",
    errno.EFBIG: "the file-size limit (ulimit -f) is too low for it; raise the limit and run it again",
    errno.EACCES: "check the permissions of the file and its directory",
    errno.EPERM: "check the permissions of the file and its directory",
    errno.EROFS: "the file system is read-only; write somewhere else",
    errno.ENOTDIR: "a part of the path is a file, not a directory; fix the path",
    errno.EISDIR: "the path is a directory; name a file",
    errno.ENOENT: "a part of the path does not exist; fix the path",
}


def write_error(path: Path | str, exc: OSError, what: str = "cannot write it") -> WriteError:
    """A :class:`WriteError` for a failed write of ``path``: the file, the cause (errno) and the fix."""
    code = exc.errno or 0
    name = errno.errorcode.get(code, str(code))
    cause = exc.strerror or str(exc)
    fix = _FIXES.get(code, "check the path, the free space and the permissions")
    return WriteError(f"{path}: {what} ({cause}, {name}); {fix}")


def _injected_fault(path: Path) -> None:
    spec = os.environ.get(WRITE_FAULT_ENV)
    if not spec:
        return
    name, _, pattern = spec.partition(":")
    if name not in _FAULTS:
        raise WriteError(f"{WRITE_FAULT_ENV}={spec!r}: use ENOSPC or EFBIG, optionally with :<glob>")
    if not pattern or fnmatch.fnmatch(path.name, pattern):
        raise OSError(_FAULTS[name], os.strerror(_FAULTS[name]), str(path))


def write_all(fd: int, data: bytes, path: Path) -> None:
    """Write all of ``data`` to ``fd`` (the file ``path``), chunk by chunk; an ``OSError`` propagates."""
    _injected_fault(path)
    view = memoryview(data)
    while view:
        written = os.write(fd, view[:_WRITE_CHUNK])
        view = view[written:]


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
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise write_error(path, exc, "cannot create its lock file") from None
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

    Raises
    ------
    WriteError
        The directory, the temp file or the data cannot be written (disk full, file-size limit,
        permissions); ``path`` keeps its old content.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(path, exc, "cannot create its directory") from None
    with file_lock(path):
        for orphan in orphaned_temp_files(path):
            orphan.unlink(missing_ok=True)
        tmp = path.parent / f"{_temp_prefix(path)}{os.getpid()}-{secrets.token_hex(4)}"
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
            try:
                write_all(fd, data, path)
                os.fsync(fd)
            finally:
                os.close(fd)
            tmp.replace(path)
            fsync_directory(path.parent)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise write_error(path, exc) from None
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise


def atomic_write_many(files: dict[Path, bytes], mode: int = 0o644) -> None:
    """Replace several files so that a failed write changes none of them.

    Every new content is written to its temp file and fsynced first; only when all are on disk are they
    renamed into place (a rename needs no space). A failure before the renames leaves every file as it was.

    Raises
    ------
    WriteError
        A directory or a temp file cannot be written; no file was replaced.
    """
    paths = sorted(Path(path) for path in files)
    with contextlib.ExitStack() as stack:
        staged: list[tuple[Path, Path]] = []
        current = paths[0] if paths else Path()
        try:
            for current in paths:
                path = current
                path.parent.mkdir(parents=True, exist_ok=True)
                stack.enter_context(file_lock(path))
                tmp = path.parent / f"{_temp_prefix(path)}{os.getpid()}-{secrets.token_hex(4)}"
                staged.append((tmp, path))
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
                try:
                    write_all(fd, files[path], path)
                    os.fsync(fd)
                finally:
                    os.close(fd)
        except OSError as exc:
            for tmp, _ in staged:
                tmp.unlink(missing_ok=True)
            raise write_error(current, exc) from None
        for tmp, path in staged:
            tmp.replace(path)
        for directory in sorted({path.parent for path in paths}):
            fsync_directory(directory)


def append_bytes(path: Path, data: bytes, what: str = "cannot append to it") -> None:
    """Append ``data`` to ``path`` (created when missing) durably; a failed append is cut back off.

    Raises
    ------
    WriteError
        The file cannot be written; it keeps exactly the content it had.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise write_error(path, exc, what) from None
    try:
        size = os.fstat(fd).st_size
        try:
            write_all(fd, data, path)
            os.fsync(fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)
            raise write_error(path, exc, what) from None
    finally:
        os.close(fd)


def atomic_write_text(path: Path, text: str, mode: int = 0o644) -> None:
    """Replace ``path`` with UTF-8 ``text`` atomically; see :func:`atomic_write_bytes`."""
    atomic_write_bytes(path, text.encode("utf-8"), mode)
