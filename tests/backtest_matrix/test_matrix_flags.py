"""Flags against the trailing baseline of the same cell on earlier nights (planted in a real warehouse)."""

from __future__ import annotations

import copy
import statistics
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.stats import median_abs_deviation

from backtest_matrix.matrix import (
    FlagConfig,
    HistoryPoint,
    ResultLog,
    cell_key,
    compute_flags,
    history_from_warehouse,
    load_into_warehouse,
    merge_logs,
    robust_z,
    warehouse_row,
)
from tests.backtest_matrix.matrix_records import make_record
from tradeloop.errors import DataError
from warehouse import Warehouse

TONIGHT = "20240110T000000Z-tonight0"
T0 = datetime(2024, 1, 1, 2, tzinfo=UTC)


@pytest.fixture
def warehouse(tmp_path: Path) -> Iterator[Warehouse]:
    with Warehouse(f"sqlite:///{tmp_path / 'warehouse.db'}") as opened:
        yield opened


@pytest.fixture(scope="module")
def tonight() -> list[dict[str, Any]]:
    """Real backtests: ema_cross live and one neighbour on BTC over 90 days and the full history."""
    return [
        make_record(window=window, param_set=param_set, params=params, run_id=TONIGHT)
        for window in ("90d", "full")
        for param_set, params in (("live", {}), ("n01", {"ema_fast": 14.0}))
    ]


def plant_night(
    warehouse: Warehouse, night: int, records: list[dict[str, Any]], shifts: dict[str, dict[str, float]]
) -> None:
    """Night ``night`` (days before tonight) of ``records``: another data hash, KPIs moved by ``shifts``.

    ``shifts`` maps a param set to KPI offsets; cells of other param sets get the noise-free KPIs of tonight.
    """
    run_id = f"2024010{night}T000000Z-night00{night}"
    warehouse.start_run("matrix", git_sha="abc1234", run_id=run_id)
    rows = []
    for record in records:
        past = copy.deepcopy(record)
        past["cell_hash"] = f"{record['cell_hash'][:24]}night{night:03d}"
        past["data_hash"] = f"data-{night}"
        for name, offset in shifts.get(record["param_set"], {}).items():
            past["kpis"][name] += offset
        rows.append({**warehouse_row(past, run_id), "created_at": T0 + timedelta(days=night)})
    warehouse.add_backtest_results(rows)
    warehouse.finish_run(run_id, "ok")


def noise(night: int, scale: float) -> float:
    """A small deterministic wiggle in [-scale, scale]."""
    return scale * float(np.sin(1.7 * night + 0.3))


def flags_for(
    warehouse: Warehouse, records: list[dict[str, Any]], config: FlagConfig | None = None
) -> list[Any]:
    return compute_flags(records, history_from_warehouse(warehouse, records, TONIGHT), config)


def test_steady_history_is_not_flagged(warehouse: Warehouse, tonight: list[dict[str, Any]]) -> None:
    for night in range(1, 8):
        wiggle = {
            "sharpe": noise(night, 0.1),
            "return_pct": noise(night, 0.5),
            "max_drawdown_pct": noise(night, 0.4),
        }
        plant_night(warehouse, night, tonight, {"live": wiggle, "n01": wiggle})
    history = history_from_warehouse(warehouse, tonight, TONIGHT)
    assert {len(points) for points in history.values()} == {7}
    assert flags_for(warehouse, tonight) == []


def test_planted_underperformance_and_drift_are_flagged_with_figures(
    warehouse: Warehouse, tonight: list[dict[str, Any]], tmp_path: Path
) -> None:
    live_90d = next(r for r in tonight if r["param_set"] == "live" and r["window"] == "90d")
    past_sharpe, past_return = [], []
    for night in range(1, 8):
        # The live cells were 1.2 Sharpe better and returned 12 points more on earlier nights; n01 was steady.
        shift = {"sharpe": 1.2 + noise(night, 0.1), "return_pct": 12.0 + noise(night, 0.8)}
        plant_night(warehouse, night, tonight, {"live": shift, "n01": {"sharpe": noise(night, 0.1)}})
        past_sharpe.append(live_90d["kpis"]["sharpe"] + shift["sharpe"])
        past_return.append(live_90d["kpis"]["return_pct"] + shift["return_pct"])
    load_into_warehouse(
        merge_logs([_log(tmp_path, tonight)]), warehouse, TONIGHT, git_sha="abc1234"
    )  # tonight stored
    flags = flags_for(warehouse, tonight)
    assert {(f.kind, f.param_set, f.window, f.metric) for f in flags} == {
        ("underperformance", "live", "90d", "sharpe"),
        ("underperformance", "live", "full", "sharpe"),
        ("drift", "live", "90d", "return_pct"),
        ("drift", "live", "full", "return_pct"),
    }
    under = next(f for f in flags if f.kind == "underperformance" and f.window == "90d")
    assert under.figure == live_90d["kpis"]["sharpe"]
    assert under.baseline == pytest.approx(statistics.median(past_sharpe))
    assert under.score == pytest.approx(statistics.median(past_sharpe) - live_90d["kpis"]["sharpe"])
    assert under.threshold == 0.5 and under.nights == 7 and under.cell_hash == live_90d["cell_hash"]
    drift = next(f for f in flags if f.kind == "drift" and f.window == "90d")
    scale = max(median_abs_deviation(past_return, scale="normal"), 1.0)
    expected_z = (live_90d["kpis"]["return_pct"] - np.median(past_return)) / scale
    assert drift.score == pytest.approx(expected_z) and drift.score < -3.5
    assert drift.baseline == pytest.approx(np.median(past_return)) and drift.threshold == 3.5
    assert "ema_cross/BTC/1d/90d [live]" in drift.message and "robust z" in drift.message


def _log(directory: Path, records: list[dict[str, Any]]) -> Path:
    path = directory / "tonight.jsonl"
    ResultLog(path).append_many(records)
    return path


def test_too_little_history_is_not_flagged(warehouse: Warehouse, tonight: list[dict[str, Any]]) -> None:
    for night in (1, 2):
        plant_night(warehouse, night, tonight, {"live": {"sharpe": 5.0, "return_pct": 50.0}})
    assert flags_for(warehouse, tonight) == []
    assert len(flags_for(warehouse, tonight, FlagConfig(min_nights=2))) == 4


def test_only_the_last_k_nights_form_the_baseline(
    warehouse: Warehouse, tonight: list[dict[str, Any]]
) -> None:
    live = [r for r in tonight if r["param_set"] == "live"]
    for night in range(1, 9):  # the 8 oldest nights were much better...
        plant_night(warehouse, night, live, {"live": {"sharpe": 3.0}})
    for night in range(9, 16):  # ...the 7 latest were like tonight
        plant_night(warehouse, night, live, {"live": {"sharpe": noise(night, 0.05)}})
    assert flags_for(warehouse, live, FlagConfig(baseline_nights=7)) == []
    flagged = flags_for(warehouse, live, FlagConfig(baseline_nights=15))
    assert {f.kind for f in flagged} == {"underperformance"} and {f.nights for f in flagged} == {15}


def test_other_params_and_tonights_own_rows_are_not_history(
    warehouse: Warehouse, tonight: list[dict[str, Any]], tmp_path: Path
) -> None:
    live = [r for r in tonight if r["param_set"] == "live"]
    other = [{**r, "params": {**r["params"], "ema_slow": 30.0}} for r in live]
    for night in range(1, 8):
        plant_night(warehouse, night, other, {"live": {"sharpe": 3.0}})
    load_into_warehouse(merge_logs([_log(tmp_path, tonight)]), warehouse, TONIGHT, git_sha="abc1234")
    assert history_from_warehouse(warehouse, live, TONIGHT) == {}
    assert (
        history_from_warehouse(warehouse, live, "someone-else") == {}
    )  # same hashes as tonight: not history


def test_failed_cells_are_never_flagged(tonight: list[dict[str, Any]]) -> None:
    failed = {**tonight[0], "status": "error", "kpis": {}}
    points = [HistoryPoint(f"n{i}", T0 + timedelta(days=i), f"h{i}", {"sharpe": 9.0}) for i in range(7)]
    assert compute_flags([failed], {cell_key(failed): points}) == []


def test_cell_key_ignores_the_label_and_number_types() -> None:
    a = {
        "strategy": "s",
        "symbol": "X",
        "timeframe": "1d",
        "window": "90d",
        "params": {"p": 12},
        "param_set": "live",
    }
    b = {**a, "params": {"p": 12.0}, "param_set": "base", "data_hash": "other"}
    assert cell_key(a) == cell_key(b)
    assert cell_key(a) != cell_key({**a, "window": "30d"})


def test_robust_z_matches_scipy_and_floors_the_scale() -> None:
    history = [1.0, 2.0, 2.5, 3.0, 10.0]
    z, median, scale = robust_z(20.0, history, min_scale=0.01)
    assert median == 2.5 and scale == pytest.approx(median_abs_deviation(history, scale="normal"))
    assert z == pytest.approx((20.0 - 2.5) / scale)
    assert robust_z(5.0, [4.0, 4.0, 4.0], min_scale=2.0) == (0.5, 4.0, 2.0)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"baseline_nights": 0}, "baseline_nights"),
        ({"min_nights": 9}, "min_nights"),
        ({"drift_z": -1}, "drift_z"),
    ],
)
def test_flag_config_is_validated(kwargs: dict[str, Any], field: str) -> None:
    with pytest.raises(DataError, match=field):
        FlagConfig(**kwargs)
