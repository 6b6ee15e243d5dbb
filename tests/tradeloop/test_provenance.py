from __future__ import annotations

import hashlib
import re
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tradeloop import NO_GIT, Provenance, canonical_json, config_hash, data_hash, git_sha, new_run_id
from tradeloop.errors import ProvenanceError


def _bars(n: int = 4, unit: str = "ns") -> pd.DataFrame:
    index = pd.date_range("2024-01-01", periods=n, freq="1h", tz="UTC", unit=unit)  # type: ignore[call-arg]
    values = np.arange(n, dtype=float) + 100
    return pd.DataFrame(
        {"open": values, "high": values + 1, "low": values - 1, "close": values + 0.5, "volume": values * 10},
        index=index,
    )


def test_run_id_is_sortable_utc_and_unique() -> None:
    first = new_run_id(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
    assert re.fullmatch(r"20260102T030405Z-[0-9a-f]{8}", first)
    assert new_run_id() != new_run_id()


def test_git_sha_outside_a_repository_is_nogit(tmp_path: Path) -> None:
    assert git_sha(tmp_path) == NO_GIT


def test_git_sha_reads_head_and_flags_dirty_tree(tmp_path: Path) -> None:
    def git(*args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(tmp_path), *args], check=True, capture_output=True, text=True
        ).stdout.strip()

    git("init", "-q")
    assert git_sha(tmp_path) == NO_GIT  # no commit yet
    (tmp_path / "a.txt").write_text("one")
    git("add", "a.txt")
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "first")
    head = git("rev-parse", "HEAD")
    assert git_sha(tmp_path) == head
    (tmp_path / "a.txt").write_text("two")
    assert git_sha(tmp_path) == f"{head}-dirty"


def test_config_hash_ignores_key_order_and_sees_values() -> None:
    assert config_hash({"a": 1, "b": {"c": 2}}) == config_hash({"b": {"c": 2}, "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})
    expected = hashlib.sha256(b'{"a":1,"b":[1.5,"x"]}').hexdigest()[:16]
    assert config_hash({"b": [1.5, "x"], "a": 1}) == expected


def test_canonical_json_refuses_nan_with_the_fix() -> None:
    with pytest.raises(ProvenanceError, match="NaN"):
        canonical_json({"x": float("nan")})


def test_data_hash_depends_on_values_not_on_resolution_or_column_order() -> None:
    bars = _bars()
    assert data_hash(bars) == data_hash(_bars(unit="us"))
    assert data_hash(bars) == data_hash(bars[["volume", "close", "low", "high", "open"]])
    changed = bars.copy()
    changed.iloc[2, changed.columns.get_loc("close")] += 1e-9
    assert data_hash(changed) != data_hash(bars)
    shifted = bars.copy()
    shifted.index = shifted.index + pd.Timedelta("1s")
    assert data_hash(shifted) != data_hash(bars)


def test_data_hash_names_missing_columns() -> None:
    with pytest.raises(ProvenanceError, match=r"\['volume'\]"):
        data_hash(_bars().drop(columns="volume"))


def test_provenance_capture(tmp_path: Path) -> None:
    provenance = Provenance.capture(tmp_path, run_id="r1")
    assert provenance.as_dict()["run_id"] == "r1"
    assert provenance.git_sha == NO_GIT
    assert datetime.fromisoformat(provenance.written_at).tzinfo is not None


def test_json_safe_replaces_non_finite_numbers_recursively() -> None:
    from tradeloop import json_safe

    value = {"a": float("nan"), "b": [1.5, float("inf"), np.float64(-np.inf)], "c": "x", "d": np.float32(2.0)}
    assert json_safe(value) == {"a": None, "b": [1.5, None, None], "c": "x", "d": 2.0}
