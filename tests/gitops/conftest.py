"""Fixtures for the live state tests: a scratch repository holding copies of the shipped state files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SHIPPED_CONSTANTS = REPO_ROOT / "config" / "constants.py"
SHIPPED_FLAGS = REPO_ROOT / "feature_flags.json"


@pytest.fixture
def state_repo(tmp_path: Path) -> Path:
    """A directory laid out like the repository root, with copies of the shipped state files."""
    repo = tmp_path / "repo"
    (repo / "config").mkdir(parents=True)
    shutil.copyfile(SHIPPED_CONSTANTS, repo / "config" / "constants.py")
    shutil.copyfile(SHIPPED_FLAGS, repo / "feature_flags.json")
    return repo


@pytest.fixture
def constants_file(state_repo: Path) -> Path:
    return state_repo / "config" / "constants.py"


@pytest.fixture
def flags_file(state_repo: Path) -> Path:
    return state_repo / "feature_flags.json"
