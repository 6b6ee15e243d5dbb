"""Merging shard logs: dedupe by cell hash, conflicts, tolerant reads, status counts, warehouse loads."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine

from backtest_matrix.matrix import (
    ResultLog,
    find_logs,
    load_into_warehouse,
    merge_logs,
    record_from_row,
    record_sort_key,
    unique_run_id,
    warehouse_row,
)
from tests.backtest_matrix.matrix_records import make_record, matrix_records
from tests.conftest import pg_url_or_skip
from tradeloop.errors import DataError
from warehouse import Warehouse

RUN = "20240101T000000Z-night000"


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    """16 ok cells plus one error and one timeout (with a live equity curve on the live cells)."""
    failed = [
        make_record(window="90d", param_set="base", symbol="SOL", status="error",
                    error="memory limit 2048 MiB exceeded (MemoryError)"),
        make_record(window="full", param_set="base", symbol="SOL", status="timeout"),
    ]  # fmt: skip
    return [*matrix_records(RUN), *failed]


def write_shards(directory: Path, shards: list[list[dict[str, Any]]]) -> list[Path]:
    paths = []
    for number, shard in enumerate(shards, 1):
        log = ResultLog(directory / f"shard-{number}-of-{len(shards)}.jsonl")
        log.append_many(shard)
        paths.append(log.path)
    return paths


def test_merge_dedupes_across_shards_and_counts_statuses(
    tmp_path: Path, records: list[dict[str, Any]]
) -> None:
    conflicting = copy.deepcopy(records[5])
    conflicting["kpis"]["sharpe"] += 1.0
    shards = [records[:8], [*records[6:14], conflicting], records[12:]]  # 2 + 2 overlapping cells, 1 conflict
    paths = write_shards(tmp_path / "a", shards)
    with paths[2].open("ab") as handle:  # a corrupt interior line, then a torn tail of a killed writer
        handle.write(b"{not json\n")
        handle.write(json.dumps(records[0]).encode()[:50])
    merged = merge_logs([tmp_path / "a"])
    assert merged.files == paths
    assert merged.records == sorted(merged.records, key=record_sort_key)
    assert {r["cell_hash"] for r in merged.records} == {r["cell_hash"] for r in records}
    assert len(merged.records) == len(records) == 18
    assert merged.status_counts == {"ok": 16, "error": 1, "timeout": 1}
    assert merged.duplicates == 4
    assert merged.conflicts == [records[5]["cell_hash"]]
    kept = next(r for r in merged.records if r["cell_hash"] == records[5]["cell_hash"])
    assert kept["kpis"]["sharpe"] == records[5]["kpis"]["sharpe"]  # the first record wins
    assert (merged.corrupt_lines, merged.torn_tails) == (1, 1)
    counts = merged.counts()
    assert counts["cells"] == 18 and counts["files"] == 3 and counts["conflicts"] == 1
    assert unique_run_id(merged) == RUN


def test_merge_does_not_depend_on_the_shard_layout(tmp_path: Path, records: list[dict[str, Any]]) -> None:
    one = merge_logs(write_shards(tmp_path / "one", [records]))
    reversed_shards = [records[i::3][::-1] for i in range(3)][::-1]
    three = merge_logs([tmp_path / "three", *write_shards(tmp_path / "three", reversed_shards)])
    assert json.dumps(one.records, sort_keys=True) == json.dumps(three.records, sort_keys=True)
    assert one.status_counts == three.status_counts and three.duplicates == 0 and not three.conflicts
    assert [r["window"] for r in one.records[:4]] == ["90d", "90d", "full", "full"]  # sorted by cell key


def test_find_logs_names_a_missing_path_and_an_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"nowhere does not exist"):
        find_logs([tmp_path / "nowhere"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"no \*\.jsonl result log in .*empty"):
        find_logs([tmp_path / "empty"])


def test_a_record_with_a_bad_status_is_refused_with_its_file(tmp_path: Path) -> None:
    log = ResultLog(tmp_path / "bad.jsonl")
    log.append({**make_record(), "status": "crashed"})
    with pytest.raises(DataError, match=r"bad\.jsonl: record '[0-9a-f]{32}' has status 'crashed'"):
        merge_logs([log.path])
    log2 = ResultLog(tmp_path / "partial.jsonl")
    log2.append({"cell_hash": "abc", "status": "ok"})
    with pytest.raises(DataError, match=r"partial\.jsonl: record 'abc' has no strategy"):
        merge_logs([log2.path])


def test_warehouse_row_keeps_the_extra_fields_in_kpis(records: list[dict[str, Any]]) -> None:
    row = warehouse_row(records[0], "owner")
    assert row["run_id"] == "owner" and row["cell_hash"] == records[0]["cell_hash"]
    assert row["kpis"]["_regime_kpis"] == records[0]["regime_kpis"]
    for field, key in (("regime", "_regime"), ("param_set", "_param_set"), ("window_start", "_window_start"),
                       ("window_end", "_window_end")):  # fmt: skip
        assert row["kpis"][key] == records[0][field]
    assert "equity" not in row and "_equity" not in row["kpis"]
    assert row["kpis"]["sharpe"] == records[0]["kpis"]["sharpe"]


# -- the warehouse: SQLite, and PostgreSQL when TRADELOOP_TEST_PG_URL names a server -------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Warehouse]:
    if request.param == "sqlite":
        with Warehouse(f"sqlite:///{tmp_path / 'warehouse.db'}") as opened:
            yield opened
        return
    url = pg_url_or_skip()
    schema = f"t_{uuid.uuid4().hex}"
    admin = create_engine(url)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        with Warehouse(url, connect_args={"options": f"-csearch_path={schema}"}) as opened:
            yield opened
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


def test_load_into_warehouse_is_idempotent(
    tmp_path: Path, records: list[dict[str, Any]], warehouse: Warehouse
) -> None:
    merged = merge_logs(write_shards(tmp_path, [records[:10], records[8:]]))
    first = load_into_warehouse(merged, warehouse, RUN, git_sha="abc1234", config_hash="cfg0")
    again = load_into_warehouse(merge_logs([tmp_path]), warehouse, RUN, git_sha="abc1234")
    assert (first.inserted, first.already_stored) == (18, 0)
    assert (again.inserted, again.already_stored) == (0, 18)
    runs = warehouse.runs("matrix")
    assert [(r.run_id, r.status) for r in runs] == [(RUN, "ok")]
    assert runs[0].seed == 7 and "error=1" in (runs[0].notes or "")
    stored = [
        {str(name): value for name, value in row.items()}
        for symbol in ("BTC", "ETH", "SOL")
        for strategy in ("ema_cross", "rsi_reversion")
        for row in warehouse.backtest_history(strategy, symbol).to_dict("records")
    ]
    assert len(stored) == 18
    by_hash = {r["cell_hash"]: r for r in merged.records}  # as logged: NaN and inf are null
    for row in stored:
        original = by_hash[row["cell_hash"]]
        back = record_from_row(row)
        assert back["status"] == original["status"] and back["error"] == original["error"]
        assert back["param_set"] == original["param_set"] and back["regime"] == original["regime"]
        assert back["window_end"] == original["window_end"]
        assert back["kpis"] == pytest.approx(original["kpis"], nan_ok=True)
        for regime, figures in original["regime_kpis"].items():
            assert back["regime_kpis"][regime] == pytest.approx(figures, nan_ok=True)
