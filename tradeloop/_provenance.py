"""Run ids and provenance: git sha, config hash and data hash.

Every result record and every state file carries these, so that any figure can be traced back to the
code, the live configuration and the exact bars that produced it.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import shutil
import subprocess
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tradeloop.errors import ProvenanceError

if TYPE_CHECKING:
    import pandas as pd

# numpy and pandas are imported inside the functions that need them, so that `tradeloop --help` and other
# light commands start without loading them.

__all__ = [
    "NO_GIT",
    "Provenance",
    "canonical_json",
    "config_hash",
    "data_hash",
    "git_sha",
    "json_safe",
    "new_run_id",
    "utc_now",
]

NO_GIT = "nogit"
_BAR_COLUMNS = ("open", "high", "low", "close", "volume")


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_run_id(now: datetime | None = None) -> str:
    """A sortable, unique run id: ``YYYYmmddTHHMMSSZ-<8 hex>``."""
    now = (now or utc_now()).astimezone(UTC)
    return f"{now:%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"


def git_sha(repo: Path | str = ".") -> str:
    """The ``HEAD`` commit of the repository containing ``repo``, or ``"nogit"``.

    ``"nogit"`` is returned when git is not installed, ``repo`` is not inside a work tree, or the
    repository has no commit yet. A sha with ``-dirty`` appended means tracked files differ from ``HEAD``.
    """
    git = shutil.which("git")
    if git is None or not Path(repo).exists():
        return NO_GIT
    head = subprocess.run(
        [git, "-C", str(repo), "rev-parse", "--verify", "--quiet", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    )
    if head.returncode != 0:
        return NO_GIT
    sha = head.stdout.strip()
    dirty = subprocess.run(
        [git, "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
        capture_output=True,
        text=True,
        check=False,
    )
    return f"{sha}-dirty" if dirty.stdout.strip() else sha


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace: the byte-stable form that hashes are taken over."""
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False, default=_default)
    except ValueError as exc:
        raise ProvenanceError(f"cannot hash {value!r}: {exc}; replace NaN/inf by null or a number") from exc


def json_safe(value: Any) -> Any:
    """``value`` with NaN and inf replaced by ``None`` (JSON has no such numbers), recursively."""
    import numpy as np

    if isinstance(value, float | np.floating):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return value


def _default(value: Any) -> Any:
    import numpy as np
    import pandas as pd

    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, datetime | pd.Timestamp):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def config_hash(config: Any) -> str:
    """SHA-256 (hex, first 16 chars) of the canonical JSON of a configuration mapping."""
    return hashlib.sha256(canonical_json(config).encode()).hexdigest()[:16]


def data_hash(bars: pd.DataFrame) -> str:
    """SHA-256 (hex, first 16 chars) over the bars' UTC nanosecond timestamps and float64 OHLCV values.

    The hash depends only on the values, not on the index resolution, column order or extra columns.
    """
    import numpy as np
    import pandas as pd

    missing = [c for c in _BAR_COLUMNS if c not in bars.columns]
    if missing:
        raise ProvenanceError(
            f"cannot hash bars: columns {missing} are missing; expected {list(_BAR_COLUMNS)}"
        )
    digest = hashlib.sha256()
    index = pd.DatetimeIndex(bars.index)
    if index.tz is not None:
        index = index.tz_convert("UTC")
    digest.update(np.ascontiguousarray(index.as_unit("ns").asi8).tobytes())
    for column in _BAR_COLUMNS:
        digest.update(column.encode())
        digest.update(np.ascontiguousarray(bars[column].to_numpy(dtype=np.float64)).tobytes())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class Provenance:
    """Who wrote something: the run id, the git sha of the code, and when (UTC, ISO 8601)."""

    run_id: str
    git_sha: str
    written_at: str = field(default_factory=lambda: utc_now().isoformat(timespec="seconds"))

    @classmethod
    def capture(cls, repo: Path | str = ".", run_id: str | None = None) -> Provenance:
        return cls(run_id=run_id or new_run_id(), git_sha=git_sha(repo))

    def as_dict(self) -> dict[str, str]:
        return asdict(self)
