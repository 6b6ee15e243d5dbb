"""Settings from ``TRADELOOP_*`` environment variables, overridable by the CLI's global options."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

from tradeloop._secrets import mask_url
from tradeloop.errors import SettingsError

__all__ = ["DEVICES", "Settings", "device_setting"]

DEFAULT_HOME = ".tradeloop"
# Where the batch engine runs: "auto" takes a CUDA GPU when one is present, else the CPU.
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class Settings:
    """Where tradeloop keeps its state.

    Attributes
    ----------
    home
        The git-ignored directory for local run state: data cache, result logs, Optuna DB, warehouse DB and
        reports, one subfolder per run id (``TRADELOOP_HOME``, default ``.tradeloop/``).
    repo
        The repository holding the live state files ``config/constants.py`` and ``feature_flags.json``
        (``TRADELOOP_REPO``, default the current directory).
    db_url
        A SQLAlchemy URL for the warehouse (``TRADELOOP_DB_URL``); ``None`` means SQLite under ``home``.
    now
        A fixed time for every decision that depends on the clock (cooldowns, change budgets), from
        ``TRADELOOP_NOW`` (ISO-8601 with a UTC offset); ``None`` means the real clock. For tests and for
        replaying a past decision.
    device
        Where the batch engine sweeps (``TRADELOOP_DEVICE``): ``auto`` (default: a CUDA GPU when one is
        present, else the CPU), ``cpu`` or ``cuda``; the sweeping commands' ``--device`` overrides it.
    """

    home: Path
    repo: Path
    db_url: str | None = None
    now: datetime | None = None
    device: str = "auto"

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        home = Path(env.get("TRADELOOP_HOME") or DEFAULT_HOME)
        repo = Path(env.get("TRADELOOP_REPO") or ".")
        db_url = env.get("TRADELOOP_DB_URL") or None
        settings = cls(
            home=home,
            repo=repo,
            db_url=db_url,
            now=_fixed_time(env.get("TRADELOOP_NOW")),
            device=device_setting(env),
        )
        settings.validate()
        return settings

    def with_overrides(self, *, home: Path | None = None, repo: Path | None = None) -> Settings:
        """A copy with the CLI's ``--home`` / ``--repo`` applied."""
        updated = replace(self, home=home or self.home, repo=repo or self.repo)
        updated.validate()
        return updated

    def validate(self) -> None:
        if self.home.exists() and not self.home.is_dir():
            raise SettingsError(
                f"TRADELOOP_HOME / --home: {str(self.home)!r} exists but is not a directory; "
                "point it at a directory (it is created when missing)"
            )
        if self.db_url is not None and "://" not in self.db_url:
            raise SettingsError(
                f"TRADELOOP_DB_URL: {mask_url(self.db_url)!r} is not a database URL (no '://' after the "
                "scheme); use e.g. 'postgresql+psycopg://user@host:5432/db' or unset it for SQLite"
            )

    def current_time(self) -> datetime:
        """``now`` when fixed (``TRADELOOP_NOW``), else the real UTC time: the clock decisions use."""
        from tradeloop._provenance import utc_now

        return self.now or utc_now()

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"

    @property
    def runs_dir(self) -> Path:
        return self.home / "runs"

    def run_dir(self, run_id: str) -> Path:
        return self.runs_dir / run_id

    @property
    def warehouse_url(self) -> str:
        """``db_url`` when set, else SQLite at ``<home>/warehouse.db``."""
        if self.db_url:
            return self.db_url
        return f"sqlite:///{(self.home / 'warehouse.db').resolve()}"

    @property
    def constants_path(self) -> Path:
        return self.repo / "config" / "constants.py"

    @property
    def feature_flags_path(self) -> Path:
        return self.repo / "feature_flags.json"


def _fixed_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise SettingsError(
            f"TRADELOOP_NOW: {text!r} is not an ISO-8601 time with a UTC offset; use e.g. "
            "'2025-01-31T12:00:00+00:00', or unset it to use the real clock"
        )
    return parsed


def device_setting(env: Mapping[str, str] | None = None) -> str:
    """``TRADELOOP_DEVICE`` (``auto`` when unset), checked against :data:`DEVICES`."""
    env = os.environ if env is None else env
    device = (env.get("TRADELOOP_DEVICE") or "auto").strip().lower()
    if device not in DEVICES:
        raise SettingsError(
            f"TRADELOOP_DEVICE: {env.get('TRADELOOP_DEVICE')!r} is not a device; use one of "
            f"{', '.join(DEVICES)} (auto takes a CUDA GPU when one is present), or unset it"
        )
    return device
