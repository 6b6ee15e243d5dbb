"""tradeloop: keep a trading bot's parameters improving in small, validated, reversible steps.

This package holds what every stage shares: the CLI, settings, the error tree, run ids and provenance, atomic
writes, OS-released locks and the one masking function for secrets.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from tradeloop._atomic import (
    append_bytes,
    atomic_write_bytes,
    atomic_write_many,
    atomic_write_text,
    file_lock,
    fsync_directory,
    orphaned_temp_files,
)
from tradeloop._locks import advisory_lock, exclusive_lock
from tradeloop._provenance import (
    NO_GIT,
    Provenance,
    canonical_json,
    config_hash,
    data_hash,
    git_sha,
    json_safe,
    new_run_id,
    utc_now,
)
from tradeloop._secrets import mask_secrets, mask_url
from tradeloop._settings import Settings

try:
    __version__ = version("tradeloop")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = [
    "NO_GIT",
    "Provenance",
    "Settings",
    "__version__",
    "advisory_lock",
    "append_bytes",
    "atomic_write_bytes",
    "atomic_write_many",
    "atomic_write_text",
    "canonical_json",
    "config_hash",
    "data_hash",
    "exclusive_lock",
    "file_lock",
    "fsync_directory",
    "git_sha",
    "json_safe",
    "mask_secrets",
    "mask_url",
    "new_run_id",
    "orphaned_temp_files",
    "utc_now",
]
