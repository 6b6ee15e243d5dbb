"""Every warehouse test runs on SQLite, and on PostgreSQL (a fresh schema per test) when a server is named."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine

from tests.conftest import pg_url_or_skip
from warehouse import Warehouse

T0 = datetime(2024, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)


@dataclass(frozen=True)
class Backend:
    """How to open a warehouse on one database: the URL plus engine arguments (a PostgreSQL schema)."""

    name: str
    url: str
    engine_kwargs: dict[str, Any] = field(default_factory=dict)

    def open(self) -> Warehouse:
        return Warehouse(self.url, **self.engine_kwargs)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        yield Backend("sqlite", f"sqlite:///{tmp_path / 'warehouse.db'}")
        return
    url = pg_url_or_skip()
    schema = f"t_{uuid.uuid4().hex}"
    admin = create_engine(url)
    with admin.begin() as connection:
        connection.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield Backend("postgres", url, {"connect_args": {"options": f"-csearch_path={schema}"}})
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture
def warehouse(backend: Backend) -> Iterator[Warehouse]:
    with backend.open() as opened:
        yield opened


@pytest.fixture
def run_id(warehouse: Warehouse) -> str:
    return warehouse.start_run("matrix", git_sha="abc123", seed=7)


def result_record(run_id: str, cell: str, **overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "run_id": run_id,
        "cell_hash": cell,
        "strategy": "ema_cross",
        "symbol": "SP500",
        "timeframe": "1d",
        "window": "2015-01-01/2018-12-31",
        "params": {"fast": 12, "slow": 26, "stop_pct": 2.5},
        "seed": 7,
        "kpis": {"return_pct": 12.5, "max_drawdown_pct": -8.25, "sharpe": 1.1, "trades": 42},
        "status": "ok",
    }
    record.update(overrides)
    return record


def proposal_record(run_id: str, parameter: str = "fast", **overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "run_id": run_id,
        "strategy": "ema_cross",
        "symbol": "SP500",
        "timeframe": "1d",
        "parameter": parameter,
        "current_value": 10,
        "proposed_value": 12,
        "bound": "hard [2, 50], cap 20%",
        "rationale": "Sharpe below baseline for 3 windows",
        "kpis_before": {"sharpe": 0.8, "trades": 40},
        "kpis_after": {"sharpe": 1.1, "trades": 44},
        "config_hash": "cfg-a",
    }
    record.update(overrides)
    return record


def trade_record(run_id: str, **overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "run_id": run_id,
        "strategy": "ema_cross",
        "symbol": "SP500",
        "timeframe": "1d",
        "side": "long",
        "entry_time": T0,
        "exit_time": T0 + timedelta(days=3),
        "entry_price": 100.0,
        "exit_price": 104.0,
        "size": 2.0,
        "pnl": 7.9,
        "pnl_pct": 3.95,
        "fees": 0.1,
        "exit_reason": "tp",
    }
    record.update(overrides)
    return record


def regime_record(run_id: str, **overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "run_id": run_id,
        "symbol": "SP500",
        "timeframe": "1d",
        "window_start": T0 - timedelta(days=60),
        "window_end": T0,
        "regime": "bull",
        "confidence": 0.8,
        "momentum_pct_per_day": 0.12,
        "volatility": 0.011,
        "volume_strength": 1.3,
        "detected_at": T0,
    }
    record.update(overrides)
    return record


def prediction_record(run_id: str, **overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "run_id": run_id,
        "model": "garch-direction",
        "symbol": "SP500",
        "timeframe": "1d",
        "ts": T0,
        "horizon_bars": 5,
        "predicted": 0.7,
        "realized": 1.2,
        "hit": True,
    }
    record.update(overrides)
    return record
