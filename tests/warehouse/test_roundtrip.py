"""Every table round-trips: tz-aware UTC timestamps, JSON documents, and the values callers passed in."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text

from tests.warehouse.conftest import (
    T0,
    prediction_record,
    proposal_record,
    regime_record,
    result_record,
    trade_record,
)
from warehouse import SCHEMA_VERSION, Warehouse

PLUS_TWO = timezone(timedelta(hours=2))


def assert_utc(value: datetime | pd.Timestamp, expected: datetime) -> None:
    assert value.tzinfo is not None
    assert value.utcoffset() == timedelta(0)
    assert value == expected


def test_run_round_trip_with_provenance_and_params(warehouse: Warehouse) -> None:
    started = datetime(2024, 3, 1, 14, 0, 0, 250000, tzinfo=PLUS_TWO)
    run_id = warehouse.start_run(
        "optimize",
        run_id="20240301T120000Z-deadbeef",
        git_sha="0123abcd-dirty",
        config_hash="cfg-a",
        data_hash="data-b",
        seed=2**40,
        params={"strategies": ["ema_cross"], "budget": {"trials": 200, "knobs": 3}, "note": "é"},
        notes="nightly",
        started_at=started,
    )
    assert run_id == "20240301T120000Z-deadbeef"
    running = warehouse.get_run(run_id)
    assert running.status == "running"
    assert running.finished_at is None
    assert_utc(running.started_at, datetime(2024, 3, 1, 12, 0, 0, 250000, tzinfo=UTC))
    assert running.params == {"strategies": ["ema_cross"], "budget": {"trials": 200, "knobs": 3}, "note": "é"}
    assert (running.git_sha, running.config_hash, running.data_hash, running.seed) == (
        "0123abcd-dirty",
        "cfg-a",
        "data-b",
        2**40,
    )

    warehouse.finish_run(run_id, "ok", notes="done", finished_at=started + timedelta(minutes=5))
    finished = warehouse.get_run(run_id)
    assert finished.status == "ok"
    assert finished.notes == "done"
    assert finished.finished_at is not None
    assert_utc(finished.finished_at, datetime(2024, 3, 1, 12, 5, 0, 250000, tzinfo=UTC))
    assert [run.run_id for run in warehouse.runs(kind="optimize")] == [run_id]
    assert warehouse.runs(kind="matrix") == []


def test_start_run_generates_a_run_id_and_resume_reopens_it(warehouse: Warehouse) -> None:
    run_id = warehouse.start_run("matrix", git_sha="abc")
    assert len(run_id) == len("20240301T120000Z-deadbeef")
    warehouse.finish_run(run_id, "interrupted")
    assert warehouse.start_run("matrix", git_sha="abc", run_id=run_id, resume=True) == run_id
    resumed = warehouse.get_run(run_id)
    assert (resumed.status, resumed.finished_at) == ("running", None)


def test_backtest_results_round_trip_json_and_timestamps(warehouse: Warehouse, run_id: str) -> None:
    kpis = {"return_pct": np.float64(12.5), "sharpe": float("nan"), "trades": np.int64(42), "curve": (1, 2.5)}
    created = datetime(2024, 3, 1, 14, 30, tzinfo=PLUS_TWO)
    records = [
        result_record(run_id, "cell-1", kpis=kpis, created_at=created, git_sha="abc123", data_hash="d1"),
        result_record(run_id, "cell-2", timeframe="1h", status="error", error="ValueError: no bars", kpis={}),
    ]
    assert warehouse.add_backtest_results(records) == 2

    history = warehouse.backtest_history("ema_cross", "SP500")
    assert list(history["cell_hash"]) == ["cell-1", "cell-2"]
    assert isinstance(history["created_at"].dtype, pd.DatetimeTZDtype)
    assert str(history["created_at"].dt.tz) == "UTC"
    first = history.iloc[0]
    assert first["created_at"] == pd.Timestamp("2024-03-01 12:30", tz="UTC")
    # NaN has no JSON form: an undefined KPI is stored as null; NumPy scalars become plain numbers.
    assert first["kpis"] == {"return_pct": 12.5, "sharpe": None, "trades": 42, "curve": [1, 2.5]}
    assert first["params"] == {"fast": 12, "slow": 26, "stop_pct": 2.5}
    assert (first["window"], first["seed"], first["git_sha"], first["data_hash"]) == (
        "2015-01-01/2018-12-31",
        7,
        "abc123",
        "d1",
    )
    second = history.iloc[1]
    assert (second["status"], second["error"], second["kpis"]) == ("error", "ValueError: no bars", {})

    only_hourly = warehouse.backtest_history("ema_cross", "SP500", timeframe="1h")
    assert list(only_hourly["cell_hash"]) == ["cell-2"]
    assert warehouse.backtest_history("ema_cross", "NASDAQ").empty
    assert str(warehouse.backtest_history("ema_cross", "NASDAQ")["created_at"].dt.tz) == "UTC"


def test_proposals_round_trip_and_outcomes(warehouse: Warehouse, run_id: str) -> None:
    ids = warehouse.add_proposals(
        [
            proposal_record(run_id, "fast", created_at=T0),
            proposal_record(
                run_id, "slow", current_value=26, proposed_value=24, delta_pct=-7.5, created_at=T0
            ),
            proposal_record(run_id, "stop_pct", config_hash="cfg-b", created_at=T0 + timedelta(hours=1)),
        ]
    )
    assert len(ids) == 3
    assert len(set(ids)) == 3

    fast, slow, stop = warehouse.proposals("ema_cross", "SP500")
    assert [fast.id, slow.id, stop.id] == ids
    assert fast.delta_pct == pytest.approx(20.0)  # derived from 10 -> 12
    assert slow.delta_pct == -7.5  # given, kept
    assert (fast.current_value, fast.proposed_value, fast.bound) == (10.0, 12.0, "hard [2, 50], cap 20%")
    assert fast.kpis_before == {"sharpe": 0.8, "trades": 40}
    assert fast.kpis_after == {"sharpe": 1.1, "trades": 44}
    assert (fast.outcome, fast.pr_url, fast.decided_at) == ("proposed", None, None)
    assert_utc(fast.created_at, T0)

    decided = datetime(2024, 3, 2, 9, 0, tzinfo=PLUS_TWO)
    url = "https://github.com/acme/bot/pull/7"
    assert warehouse.set_proposal_outcome("merged", config_hash="cfg-a", pr_url=url, decided_at=decided) == 2
    assert warehouse.set_proposal_outcome("declined", ids=[ids[2]]) == 1

    merged = warehouse.proposals(outcome="merged")
    assert [p.parameter for p in merged] == ["fast", "slow"]
    assert merged[0].pr_url == url
    assert merged[0].decided_at is not None
    assert_utc(merged[0].decided_at, datetime(2024, 3, 2, 7, 0, tzinfo=UTC))
    closed = warehouse.proposals(config_hash="cfg-b")
    assert [(p.outcome, p.pr_url) for p in closed] == [("declined", None)]
    assert closed[0].decided_at is not None


def test_predictions_round_trip(warehouse: Warehouse, run_id: str) -> None:
    assert (
        warehouse.add_predictions(
            [
                prediction_record(run_id, ts=T0 + timedelta(days=1), hit=np.bool_(False), realized=-0.4),
                prediction_record(run_id, ts=T0.astimezone(PLUS_TWO), realized=None, hit=None),
            ]
        )
        == 2
    )
    history = warehouse.prediction_history(model="garch-direction", symbol="SP500", timeframe="1d")
    assert list(history["ts"]) == [pd.Timestamp(T0), pd.Timestamp(T0 + timedelta(days=1))]
    assert str(history["ts"].dt.tz) == "UTC"
    pending, scored = history.iloc[0], history.iloc[1]
    assert pd.isna(pending["realized"])
    assert pending["hit"] is None
    assert (scored["horizon_bars"], scored["predicted"], scored["realized"]) == (5, 0.7, -0.4)
    assert history["hit"].tolist() == [None, False]


def test_trades_round_trip(warehouse: Warehouse, run_id: str) -> None:
    assert (
        warehouse.add_trades(
            [
                trade_record(
                    run_id, side="short", entry_time=T0 + timedelta(days=5), exit_time=T0 + timedelta(days=6)
                ),
                trade_record(run_id, fees=None, exit_reason=None),
            ]
        )
        == 2
    )
    trades = warehouse.trades(run_id=run_id, strategy="ema_cross", symbol="SP500", timeframe="1d")
    assert list(trades["side"]) == ["long", "short"]
    first = trades.iloc[0]
    assert first["entry_time"] == pd.Timestamp(T0)
    assert first["exit_time"] == pd.Timestamp(T0 + timedelta(days=3))
    assert (first["entry_price"], first["exit_price"], first["size"], first["pnl"], first["pnl_pct"]) == (
        100.0,
        104.0,
        2.0,
        7.9,
        3.95,
    )
    assert first["fees"] == 0.0  # defaulted
    assert pd.isna(first["exit_reason"])
    assert trades.iloc[1]["exit_reason"] == "tp"
    assert warehouse.trades(symbol="NASDAQ").empty


def test_regimes_round_trip(warehouse: Warehouse, run_id: str) -> None:
    assert (
        warehouse.add_regime_detections(
            [
                regime_record(
                    run_id, window_end=T0 + timedelta(days=1), regime="high_vol", volume_strength=None
                ),
                regime_record(run_id),
                regime_record(run_id, timeframe="1h", regime="bear"),
            ]
        )
        == 3
    )
    daily = warehouse.regime_history("SP500", timeframe="1d")
    assert list(daily["regime"]) == ["bull", "high_vol"]
    assert daily.iloc[0]["window_start"] == pd.Timestamp(T0 - timedelta(days=60))
    assert daily.iloc[0]["detected_at"] == pd.Timestamp(T0)
    assert daily.iloc[0]["confidence"] == 0.8
    assert pd.isna(daily.iloc[1]["volume_strength"])
    assert len(warehouse.regime_history("SP500")) == 3


def test_rollout_upsert_keeps_start_until_the_config_changes(warehouse: Warehouse) -> None:
    first = warehouse.upsert_rollout(
        "ema_cross", "SP500", config_hash="cfg-a", stage="COLD", canary_fraction=0.0, status="active", at=T0
    )
    assert_utc(first.started_at, T0)
    later = T0 + timedelta(hours=6)
    warm = warehouse.upsert_rollout(
        "ema_cross",
        "SP500",
        config_hash="cfg-a",
        stage="WARM",
        canary_fraction=0.1,
        status="active",
        reason="interval passed, no breach",
        pr_number=12,
        at=later,
    )
    assert (warm.stage, warm.canary_fraction, warm.reason, warm.pr_number) == (
        "WARM",
        0.1,
        "interval passed, no breach",
        12,
    )
    assert_utc(warm.started_at, T0)
    assert_utc(warm.updated_at, later)

    other = T0 + timedelta(days=1)
    restarted = warehouse.upsert_rollout(
        "ema_cross",
        "SP500",
        config_hash="cfg-b",
        stage="COLD",
        canary_fraction=0.0,
        status="active",
        at=other,
    )
    assert_utc(restarted.started_at, other)
    warehouse.upsert_rollout(
        "rsi_revert",
        "NASDAQ",
        config_hash="cfg-c",
        stage="FULL",
        canary_fraction=1.0,
        status="done",
        at=other,
    )
    assert [(r.strategy, r.symbol, r.config_hash) for r in warehouse.rollouts()] == [
        ("ema_cross", "SP500", "cfg-b"),
        ("rsi_revert", "NASDAQ", "cfg-c"),
    ]
    assert warehouse.rollouts(symbol="NASDAQ")[0].stage == "FULL"


def test_schema_version_is_recorded(warehouse: Warehouse) -> None:
    assert warehouse.schema_version == SCHEMA_VERSION
    with warehouse.engine.connect() as connection:
        rows = connection.execute(text("SELECT id, version FROM schema_version")).all()
    assert [tuple(row) for row in rows] == [(1, SCHEMA_VERSION)]
