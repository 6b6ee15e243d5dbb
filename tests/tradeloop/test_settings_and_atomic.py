from __future__ import annotations

from pathlib import Path

import pytest

from tradeloop import Settings, atomic_write_bytes, atomic_write_text, orphaned_temp_files
from tradeloop.errors import SettingsError


def test_settings_defaults_and_env() -> None:
    settings = Settings.from_env({})
    assert settings.home == Path(".tradeloop")
    assert settings.repo == Path()
    assert settings.warehouse_url.startswith("sqlite:///") and settings.warehouse_url.endswith("warehouse.db")
    custom = Settings.from_env(
        {
            "TRADELOOP_HOME": "/tmp/x",
            "TRADELOOP_DB_URL": "postgresql+psycopg://u@h/db",
            "TRADELOOP_REPO": "/r",
        }
    )
    assert custom.home == Path("/tmp/x")
    assert custom.warehouse_url == "postgresql+psycopg://u@h/db"
    assert custom.constants_path == Path("/r/config/constants.py")
    assert custom.feature_flags_path == Path("/r/feature_flags.json")


def test_settings_reject_a_bad_url_and_a_file_as_home(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match=r"TRADELOOP_DB_URL: .warehouse\.db. is not a database URL"):
        Settings.from_env({"TRADELOOP_DB_URL": "warehouse.db"})
    a_file = tmp_path / "file"
    a_file.write_text("")
    with pytest.raises(SettingsError, match="is not a directory"):
        Settings.from_env({"TRADELOOP_HOME": str(a_file)})


def test_atomic_write_replaces_content_and_cleans_orphans(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    orphan = tmp_path / ".state.json.tmp-99999-deadbeef"
    orphan.write_text("half")
    assert orphaned_temp_files(target) == [orphan]
    atomic_write_text(target, "one")
    assert target.read_text() == "one"
    assert orphaned_temp_files(target) == []
    atomic_write_text(target, "two")
    assert target.read_text() == "two"


def test_atomic_write_leaves_the_old_file_when_writing_fails(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    atomic_write_text(target, "old")
    with pytest.raises(TypeError):  # fails inside the write, after the temp file exists
        atomic_write_bytes(target, "not bytes")  # type: ignore[arg-type]
    assert target.read_text() == "old"
    assert orphaned_temp_files(target) == []


def test_atomic_write_keeps_permissions_mode(tmp_path: Path) -> None:
    target = tmp_path / "x"
    atomic_write_text(target, "data", mode=0o600)
    assert target.stat().st_mode & 0o777 == 0o600
