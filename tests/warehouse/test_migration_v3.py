"""Alembic revision 0003: a database created at the previous head (schema 2) gains the deployment evidence.

The schema-2 database is built with exactly the DDL tradeloop had then (``schema_v2.py``), stamped at
revision 0002 as tradeloop stamped it, holding rows; opening it with this code upgrades it in place, on SQLite
and on PostgreSQL, to the same tables a new database gets.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, inspect, text
from sqlalchemy.exc import IntegrityError

from tests.warehouse import schema_v2
from tests.warehouse.conftest import Backend
from warehouse import SCHEMA_VERSION, Warehouse
from warehouse._migrate import _SCRIPTS

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def _create_v2(backend: Backend) -> None:
    """A database exactly as tradeloop wrote it at schema version 2, with a backtest trade and a rollout."""
    engine = create_engine(backend.url, **backend.engine_kwargs)
    try:
        with engine.begin() as connection:
            schema_v2.Base.metadata.create_all(connection)
            tables = schema_v2.Base.metadata.tables
            connection.execute(tables["schema_version"].insert().values(id=1, version=2, applied_at=T0))
            connection.execute(
                tables["trades"]
                .insert()
                .values(
                    run_id="r1",
                    strategy="ema_cross",
                    symbol="SP500",
                    timeframe="1d",
                    side="long",
                    entry_time=T0,
                    exit_time=T0 + timedelta(days=1),
                    entry_price=100.0,
                    exit_price=101.0,
                    size=1.0,
                    pnl=1.0,
                    pnl_pct=1.0,
                    fees=0.0,
                    exit_reason="tp",
                )
            )
            connection.execute(
                tables["rollouts"]
                .insert()
                .values(
                    strategy="ema_cross",
                    symbol="SP500",
                    config_hash="c" * 16,
                    stage="COLD",
                    canary_fraction=0.0,
                    status="active",
                    reason=None,
                    pr_number=3,
                    started_at=T0,
                    updated_at=T0,
                )
            )
            config = Config()
            config.set_main_option("script_location", str(_SCRIPTS))
            config.attributes["connection"] = connection
            command.stamp(config, "0002")
    finally:
        engine.dispose()


def _shape(engine: Engine) -> dict[str, Any]:
    """Every table's columns (name, nullable), indexes, unique constraints and check-constraint names."""
    inspector = inspect(engine)
    shape: dict[str, Any] = {}
    for table in sorted(inspector.get_table_names()):
        if table == "warehouse_alembic_version":
            continue
        shape[table] = {
            "columns": sorted((c["name"], bool(c["nullable"])) for c in inspector.get_columns(table)),
            "indexes": sorted((i["name"], tuple(i["column_names"])) for i in inspector.get_indexes(table)),
            "unique": sorted(tuple(u["column_names"]) for u in inspector.get_unique_constraints(table)),
            "checks": sorted(c["name"] for c in inspector.get_check_constraints(table)),
        }
    return shape


def test_a_schema_2_database_is_upgraded_to_the_deployment_evidence(backend: Backend, tmp_path: Any) -> None:
    _create_v2(backend)
    with backend.open() as warehouse:
        assert warehouse.schema_version == SCHEMA_VERSION == 3
        with warehouse.engine.connect() as connection:
            assert (
                connection.execute(text("SELECT version_num FROM warehouse_alembic_version")).scalar_one()
                == "0003"
            )
            assert connection.execute(text("SELECT version FROM schema_version")).scalar_one() == 3
        old = warehouse.trades(strategy="ema_cross")
        assert len(old) == 1 and old.iloc[0]["pnl"] == 1.0
        assert old.iloc[0]["trade_id"] is None and old.iloc[0]["mode"] is None
        [rollout] = warehouse.rollouts()
        assert (rollout.stage, rollout.pr_number, rollout.previous_config_hash, rollout.stage_since) == (
            "COLD", 3, None, None,
        )  # fmt: skip
        migrated = _shape(warehouse.engine)
        trade = {
            "run_id": "ingest", "strategy": "ema_cross", "symbol": "SP500", "timeframe": "1d", "side": "long",
            "entry_time": T0, "exit_time": T0 + timedelta(hours=2), "entry_price": 100.0, "exit_price": 99.0,
            "size": 1.0, "pnl": -1.0, "pnl_pct": -1.0, "trade_id": "bot-1", "config_hash": "c" * 16,
            "mode": "paper",
        }  # fmt: skip
        assert warehouse.add_evidence_trades([trade]) == (1, 0)
        assert warehouse.add_evidence_trades([trade]) == (0, 1)
        point = {"run_id": "ingest", "strategy": "ema_cross", "symbol": "SP500", "timeframe": "1d",
                 "config_hash": "c" * 16, "mode": "paper", "ts": T0, "equity_usd": 1000.0}  # fmt: skip
        assert warehouse.add_equity([point, {**point, "ts": T0 + timedelta(days=1)}]) == (2, 0)
        assert warehouse.add_equity([point]) == (0, 1)
        assert warehouse.equity_points("ema_cross", "SP500", "c" * 16, "paper") == [
            (T0, 1000.0), (T0 + timedelta(days=1), 1000.0),
        ]  # fmt: skip
        assert warehouse.trade_pnls("ema_cross", "SP500", "c" * 16, "paper") == [-1.0]
        with pytest.raises(IntegrityError), warehouse.engine.begin() as connection:
            connection.execute(text("UPDATE trades SET mode = 'demo' WHERE trade_id = 'bot-1'"))
    # A new database at this code's head has exactly the tables the upgrade produced.
    fresh = Backend("sqlite", f"sqlite:///{tmp_path / 'fresh.db'}")
    if backend.name == "sqlite":
        with fresh.open() as new:
            assert _shape(new.engine) == migrated
    else:
        assert set(migrated) >= {"equity", "rollout_checks", "trades", "rollouts"}
        assert ("trade_id",) in migrated["trades"]["unique"]
        assert "ck_rollout_checks_decision_allowed" in migrated["rollout_checks"]["checks"]


def test_a_new_database_is_stamped_at_revision_0003(backend: Backend) -> None:
    with (
        Warehouse(backend.url, **backend.engine_kwargs) as warehouse,
        warehouse.engine.connect() as connection,
    ):
        assert (
            connection.execute(text("SELECT version_num FROM warehouse_alembic_version")).scalar_one()
            == "0003"
        )
