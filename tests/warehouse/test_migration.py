"""Alembic migrations: a database created by the schema-1 code is upgraded in place when it is opened."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import IntegrityError

from tests.warehouse import schema_v1
from tests.warehouse.conftest import Backend
from warehouse import SCHEMA_VERSION, Warehouse

T0 = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)


def _v1_row(parameter: str, outcome: str) -> dict[str, object]:
    return {
        "run_id": "20250102T030405Z-0000abcd", "strategy": "ema_cross", "symbol": "SP500", "timeframe": "1d",
        "parameter": parameter, "current_value": 12.0, "proposed_value": 13.0, "delta_pct": 8.33,
        "bound": "[2, 200]", "rationale": "old", "kpis_before": {}, "kpis_after": {},
        "config_hash": "cfg-old", "outcome": outcome, "pr_url": None, "created_at": T0, "decided_at": T0,
    }  # fmt: skip


def _create_v1(backend: Backend) -> None:
    """A database exactly as tradeloop wrote it at schema version 1, holding every old outcome."""
    engine = create_engine(backend.url, **backend.engine_kwargs)
    try:
        with engine.begin() as connection:
            schema_v1.Base.metadata.create_all(connection)
            connection.execute(
                schema_v1.Base.metadata.tables["schema_version"]
                .insert()
                .values(id=1, version=1, applied_at=T0)
            )
            history = schema_v1.Base.metadata.tables["optimization_history"]
            connection.execute(
                history.insert(),
                [
                    _v1_row(p, o)
                    for p, o in (("a", "merged"), ("b", "closed"), ("c", "rolled_back"), ("d", "proposed"))
                ],
            )
    finally:
        engine.dispose()


def test_a_schema_1_database_is_migrated_in_place(backend: Backend) -> None:
    _create_v1(backend)
    with backend.open() as warehouse:
        assert warehouse.schema_version == SCHEMA_VERSION == 3
        outcomes = {row.parameter: row.outcome for row in warehouse.proposals()}
        assert outcomes == {"a": "merged", "b": "declined", "c": "reverted", "d": "proposed"}
        assert all(row.proposal_hash is None and row.pr_number is None for row in warehouse.proposals())
        with warehouse.engine.connect() as connection:
            assert (
                connection.execute(text("SELECT version_num FROM warehouse_alembic_version")).scalar_one()
                == "0003"
            )
            assert connection.execute(text("SELECT version FROM schema_version")).scalar_one() == 3
            columns = {c["name"] for c in inspect(connection).get_columns("optimization_history")}
            indexes = {i["name"] for i in inspect(connection).get_indexes("optimization_history")}
        assert {"proposal_hash", "pr_number", "commit_sha"} <= columns
        assert "ix_optimization_history_proposal_hash" in indexes
        changed = warehouse.set_proposal_outcome(
            "opened", ids=[warehouse.proposals(outcome="proposed")[0].id], pr_number=7
        )
        assert changed == 1 and warehouse.proposals(outcome="opened")[0].pr_number == 7


def test_the_migrated_table_refuses_an_old_outcome_in_the_database(backend: Backend) -> None:
    _create_v1(backend)
    with backend.open() as warehouse, pytest.raises(IntegrityError), warehouse.engine.begin() as connection:
        connection.execute(text("UPDATE optimization_history SET outcome = 'closed'"))


def test_reopening_a_migrated_database_changes_nothing(backend: Backend) -> None:
    _create_v1(backend)
    with backend.open() as first:
        before = first.proposals()
    with backend.open() as second:
        assert second.proposals() == before


def test_a_new_database_is_stamped_at_the_newest_revision(backend: Backend) -> None:
    with (
        Warehouse(backend.url, **backend.engine_kwargs) as warehouse,
        warehouse.engine.connect() as connection,
    ):
        assert (
            connection.execute(text("SELECT version_num FROM warehouse_alembic_version")).scalar_one()
            == "0003"
        )
