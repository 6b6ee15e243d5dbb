"""Shared fixtures: an isolated TRADELOOP_HOME per test, the PostgreSQL URL when CI provides one, and the
Hypothesis profile."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

# No wall-clock limit in any test: Hypothesis' per-example deadline is off everywhere. Under CI the
# examples are derived from each test's name, so a red run can be replayed exactly.
settings.register_profile("tradeloop", deadline=None)
settings.register_profile("ci", parent=settings.get_profile("tradeloop"), derandomize=True)
settings.load_profile("ci" if os.environ.get("CI") else "tradeloop")

REPO_ROOT = Path(__file__).resolve().parents[1]
# The GitHub API stand-in's fixtures (github_env), for the forge and CLI tests.
pytest_plugins = ["tests.github_standin.fixtures"]
PG_URL_ENV = "TRADELOOP_TEST_PG_URL"


@pytest.fixture(autouse=True)
def _isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """No test writes into the developer's .tradeloop/ or picks up their database URL."""
    monkeypatch.setenv("TRADELOOP_HOME", str(tmp_path_factory.mktemp("home")))
    monkeypatch.delenv("TRADELOOP_DB_URL", raising=False)
    yield


@pytest.fixture
def repo_root() -> Path:
    return REPO_ROOT


def pg_url_or_skip() -> str:
    url = os.environ.get(PG_URL_ENV)
    if not url:
        pytest.skip(f"{PG_URL_ENV} is not set: PostgreSQL tests need a server URL (bash .ci/run sets it)")
    return url


def tmpfs_namespaces_allowed() -> bool:
    """Whether this machine lets an unprivileged process mount a tmpfs in a private user and mount namespace
    (``unshare -Urm``): the tests then fill a real small file system for a real ENOSPC."""
    if shutil.which("unshare") is None:
        return False
    probe = ["unshare", "-Urm", "sh", "-c", "mount -t tmpfs -o size=64k tmpfs /mnt 2>/dev/null || exit 3"]
    return subprocess.run(probe, capture_output=True, check=False).returncode == 0


# The PostgreSQL tests run on one xdist worker (`pytest -n auto --dist loadgroup`, the README's command):
# they share one database's public schema (Optuna's tables) and its advisory locks. Everything else, the act
# workflow runs included (each in its own act temp folder and ports), spreads over the workers.
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.get_closest_marker("postgres") is not None or "postgres" in item.name:
            item.add_marker(pytest.mark.xdist_group("postgres"))
