"""Bad rows are refused in Python with a message naming table, field, value and what is allowed; the
database's CHECK constraints refuse them too when Python is bypassed."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError, StatementError

from tests.warehouse.conftest import (
    T0,
    prediction_record,
    proposal_record,
    regime_record,
    result_record,
    trade_record,
)
from tradeloop.errors import WarehouseError
from warehouse import (
    BacktestResult,
    Base,
    OptimizationProposal,
    RegimeDetection,
    Rollout,
    Trade,
    Warehouse,
)

NAIVE = datetime(2024, 3, 1, 12, 0)


def test_status_outside_the_allowed_set(warehouse: Warehouse, run_id: str) -> None:
    message = "backtest_results.status (row 0) must be one of ['ok', 'error', 'timeout'], got 'bogus'"
    with pytest.raises(WarehouseError, match=re.escape(message)):
        warehouse.add_backtest_results([result_record(run_id, "a", status="bogus")])


def test_missing_field(warehouse: Warehouse, run_id: str) -> None:
    record = result_record(run_id, "a")
    del record["strategy"]
    with pytest.raises(
        WarehouseError, match=r"backtest_results.strategy \(row 0\) is missing; give it a non-empty"
    ):
        warehouse.add_backtest_results([record])


def test_unknown_field_lists_the_allowed_ones(warehouse: Warehouse, run_id: str) -> None:
    with pytest.raises(WarehouseError, match=r"unknown field\(s\) \['kpi'\]; allowed fields are \[.*'kpis'"):
        warehouse.add_backtest_results([result_record(run_id, "a", kpi={})])


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            {"params": [1, 2]},
            r"backtest_results.params \(row 0\) must be a JSON object \(dict\), got \[1, 2\]",
        ),
        ({"seed": 1.5}, r"backtest_results.seed \(row 0\) must be an integer, got 1.5"),
        ({"strategy": "  "}, r"backtest_results.strategy \(row 0\) is empty"),
        (
            {"kpis": {"when": object()}},
            r"backtest_results.kpis \(row 0\).when: <object .*> \(object\) cannot be stored as JSON",
        ),
        ({"kpis": {1: 2.0}}, r"backtest_results.kpis \(row 0\): JSON object keys must be strings, got 1"),
        ({"created_at": NAIVE}, r"naive datetime for backtest_results.created_at \(row 0\); pass a tz-aware"),
        ({"created_at": "2024-03-01 12:00"}, r"naive datetime for backtest_results.created_at"),
        ({"created_at": "yesterday"}, r"must be an ISO 8601 timestamp with a UTC offset, got 'yesterday'"),
        ({"cell_hash": "x" * 65}, r"backtest_results.cell_hash \(row 0\) is 65 characters long, at most 64"),
    ],
)
def test_backtest_field_errors(
    warehouse: Warehouse, run_id: str, overrides: dict[str, Any], expected: str
) -> None:
    with pytest.raises(WarehouseError, match=expected):
        warehouse.add_backtest_results([result_record(run_id, "a", **overrides)])


def test_iso_strings_with_an_offset_are_accepted(warehouse: Warehouse, run_id: str) -> None:
    warehouse.add_backtest_results([result_record(run_id, "a", created_at="2024-03-01T14:00:00+02:00")])
    stored = warehouse.backtest_history("ema_cross", "SP500")["created_at"].iloc[0]
    assert stored.isoformat() == "2024-03-01T12:00:00+00:00"


def test_naive_datetime_for_a_run(warehouse: Warehouse) -> None:
    message = "naive datetime for experiment_runs.started_at; pass a tz-aware UTC datetime"
    with pytest.raises(WarehouseError, match=re.escape(message)):
        warehouse.start_run("matrix", git_sha="abc", started_at=NAIVE)


def test_naive_datetime_is_refused_even_through_core(warehouse: Warehouse, run_id: str) -> None:
    """The column type itself refuses naive datetimes, whoever writes."""
    with pytest.raises(StatementError) as caught, warehouse.engine.begin() as connection:
        connection.execute(
            insert(Base.metadata.tables["rollouts"]).values(
                strategy="s",
                symbol="x",
                config_hash="c",
                stage="COLD",
                canary_fraction=0.0,
                status="active",
                started_at=NAIVE,
                updated_at=NAIVE,
            )
        )
    assert isinstance(caught.value.orig, WarehouseError)
    assert "naive datetime for a timestamp column; pass a tz-aware UTC datetime" in str(caught.value.orig)


def test_run_errors(warehouse: Warehouse, run_id: str) -> None:
    with pytest.raises(
        WarehouseError, match=rf"experiment_runs.run_id '{run_id}' already exists; pass a new run"
    ):
        warehouse.start_run("matrix", git_sha="abc", run_id=run_id)
    with pytest.raises(WarehouseError, match=r"is a 'matrix' run, cannot resume it as 'optimize'"):
        warehouse.start_run("optimize", git_sha="abc", run_id=run_id, resume=True)
    with pytest.raises(
        WarehouseError,
        match=re.escape("must be one of ['ok', 'error', 'timeout', 'interrupted'], got 'running'"),
    ):
        warehouse.finish_run(run_id, "running")
    with pytest.raises(WarehouseError, match=r"experiment_runs: no run with run_id 'nope'; start it"):
        warehouse.finish_run("nope", "ok")
    with pytest.raises(WarehouseError, match=r"no run with run_id 'nope'"):
        warehouse.get_run("nope")
    with pytest.raises(WarehouseError, match=r"experiment_runs.git_sha is empty; give it a non-empty string"):
        warehouse.start_run("matrix", git_sha="")


def test_proposal_errors(warehouse: Warehouse, run_id: str) -> None:
    with pytest.raises(
        WarehouseError, match=r"optimization_history.current_value \(row 0\) must be a finite number"
    ):
        warehouse.add_proposals([proposal_record(run_id, current_value=float("nan"))])
    with pytest.raises(
        WarehouseError, match=r"optimization_history.current_value \(row 0\) must be a number, got '1'"
    ):
        warehouse.add_proposals([proposal_record(run_id, current_value="1")])
    with pytest.raises(
        WarehouseError, match=r"cannot be derived for parameter 'fast' because current_value is 0"
    ):
        warehouse.add_proposals([proposal_record(run_id, current_value=0)])
    with pytest.raises(WarehouseError, match=r"outcome \(row 0\) must be one of \['proposed', 'opened'"):
        warehouse.add_proposals([proposal_record(run_id, outcome="approved")])
    warehouse.add_proposals([proposal_record(run_id)])
    with pytest.raises(WarehouseError, match=r"optimization_history.outcome must be one of .*got 'accepted'"):
        warehouse.set_proposal_outcome("accepted", config_hash="cfg-a")
    with pytest.raises(WarehouseError, match=r"pass exactly one of ids=, config_hash= or proposal_hash="):
        warehouse.set_proposal_outcome("merged")
    with pytest.raises(WarehouseError, match=r"no proposal with config_hash 'cfg-zzz'"):
        warehouse.set_proposal_outcome("merged", config_hash="cfg-zzz")
    with pytest.raises(WarehouseError, match=r"no proposal with ids \[998, 999\]"):
        warehouse.set_proposal_outcome("merged", ids=iter([998, 999]))


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"side": "flat"}, r"trades.side \(row 0\) must be one of \['long', 'short'\], got 'flat'"),
        ({"entry_price": -1.0}, r"trades.entry_price \(row 0\) must be >= 0, got -1.0"),
        ({"exit_time": T0 - timedelta(days=1)}, r"trades.exit_time \(row 0\) .* is before entry_time"),
        ({"entry_time": NAIVE}, r"naive datetime for trades.entry_time \(row 0\)"),
    ],
)
def test_trade_errors(warehouse: Warehouse, run_id: str, overrides: dict[str, Any], expected: str) -> None:
    with pytest.raises(WarehouseError, match=expected):
        warehouse.add_trades([trade_record(run_id, **overrides)])
    assert warehouse.trades().empty


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (
            {"regime": "crab"},
            r"regime_detections.regime \(row 0\) must be one of \['bull', 'bear', 'sideways', ",
        ),
        ({"confidence": 1.5}, r"regime_detections.confidence \(row 0\) must be in \[0, 1\], got 1.5"),
        ({"window_end": T0 - timedelta(days=90)}, r"window_end \(row 0\) .* is before window_start"),
    ],
)
def test_regime_errors(warehouse: Warehouse, run_id: str, overrides: dict[str, Any], expected: str) -> None:
    with pytest.raises(WarehouseError, match=expected):
        warehouse.add_regime_detections([regime_record(run_id, **overrides)])


def test_prediction_errors(warehouse: Warehouse, run_id: str) -> None:
    with pytest.raises(
        WarehouseError, match=r"prediction_performance.horizon_bars \(row 0\) must be >= 1, got 0"
    ):
        warehouse.add_predictions([prediction_record(run_id, horizon_bars=0)])
    with pytest.raises(
        WarehouseError, match=r"prediction_performance.hit \(row 0\) must be a boolean, got 1"
    ):
        warehouse.add_predictions([prediction_record(run_id, hit=1)])


def test_rollout_errors(warehouse: Warehouse) -> None:
    with pytest.raises(
        WarehouseError, match=r"rollouts.stage must be one of \['COLD', 'WARM', 'LIMITED', 'FULL'\]"
    ):
        warehouse.upsert_rollout("s", "x", config_hash="c", stage="HOT", canary_fraction=0.1, status="active")
    with pytest.raises(WarehouseError, match=r"rollouts.canary_fraction must be in \[0, 1\], got 1.5"):
        warehouse.upsert_rollout(
            "s", "x", config_hash="c", stage="WARM", canary_fraction=1.5, status="active"
        )
    assert warehouse.rollouts() == []


def _valid_row(table: str, run_id: str) -> dict[str, Any]:
    rows: dict[str, dict[str, Any]] = {
        "backtest_results": {**result_record(run_id, "x"), "created_at": T0, "kpis": {}},
        "optimization_history": {
            **proposal_record(run_id),
            "delta_pct": 20.0,
            "outcome": "proposed",
            "created_at": T0,
        },
        "trades": trade_record(run_id),
        "regime_detections": regime_record(run_id),
        "rollouts": {
            "strategy": "s",
            "symbol": "x",
            "config_hash": "c",
            "stage": "COLD",
            "canary_fraction": 0.0,
            "status": "active",
            "started_at": T0,
            "updated_at": T0,
        },
    }
    return rows[table]


@pytest.mark.parametrize(
    ("model", "column", "bad"),
    [
        (BacktestResult, "status", "bogus"),
        (OptimizationProposal, "outcome", "approved"),
        (Trade, "side", "flat"),
        (RegimeDetection, "regime", "crab"),
        (RegimeDetection, "confidence", 1.5),
        (Rollout, "stage", "HOT"),
        (Rollout, "canary_fraction", -0.1),
    ],
)
def test_database_check_constraints(
    warehouse: Warehouse, run_id: str, model: type[Base], column: str, bad: Any
) -> None:
    table = Base.metadata.tables[model.__tablename__]
    row = {**_valid_row(table.name, run_id), column: bad}
    with (
        pytest.raises(IntegrityError, match=f"ck_{table.name}_{column}"),
        warehouse.engine.begin() as connection,
    ):
        connection.execute(insert(table).values(**row))
    with warehouse.engine.begin() as connection:  # the same row with the bad value fixed goes in
        connection.execute(insert(table).values(**_valid_row(table.name, run_id)))
