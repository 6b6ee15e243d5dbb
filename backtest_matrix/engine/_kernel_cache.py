"""Keep numba's on-disk cache honest.

numba's ``cache=True`` checks only the cached function's own source file. A kernel that inlines or calls
kernels from other modules (the sweep inlines the simulation, strategies call the indicators) would keep
loading stale machine code after those modules change. So every cached kernel is invalidated together
whenever any kernel source changes: a stamp of their combined hash lives beside numba's cache files.
"""

from __future__ import annotations

import contextlib
import hashlib
from pathlib import Path

__all__ = ["KERNEL_PACKAGES", "invalidate_stale_kernel_caches", "kernel_source_hash"]

_ROOT = Path(__file__).resolve().parents[1]
KERNEL_PACKAGES = (_ROOT / "engine", _ROOT / "strategies")
_STAMP = "kernels.sha256"


def kernel_source_hash(packages: tuple[Path, ...] = KERNEL_PACKAGES) -> str:
    digest = hashlib.sha256()
    for package in packages:
        for path in sorted(package.glob("*.py")):
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def invalidate_stale_kernel_caches(packages: tuple[Path, ...] = KERNEL_PACKAGES) -> bool:
    """Delete the packages' numba cache files when the kernel sources changed; True when it did.

    Read-only installs (no writable ``__pycache__``) are left alone: numba cannot cache there either.
    """
    current = kernel_source_hash(packages)
    stamp = packages[0] / "__pycache__" / _STAMP
    with contextlib.suppress(OSError):
        if stamp.read_text() == current:
            return False
    try:
        for package in packages:
            for cached in (*package.glob("__pycache__/*.nbi"), *package.glob("__pycache__/*.nbc")):
                cached.unlink(missing_ok=True)
        stamp.parent.mkdir(exist_ok=True)
        stamp.write_text(current)
    except OSError:
        return False
    return True
