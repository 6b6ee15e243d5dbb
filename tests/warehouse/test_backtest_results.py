"""Backtest results are idempotent on cell_hash and belong to a recorded run."""

from __future__ import annotations

import pytest

from tests.warehouse.conftest import result_record
from tradeloop.errors import WarehouseError
from warehouse import Warehouse


def test_re_adding_a_cell_hash_is_skipped_not_an_error(warehouse: Warehouse, run_id: str) -> None:
    first = [result_record(run_id, f"cell-{i}") for i in range(5)]
    assert warehouse.add_backtest_results(first) == 5
    assert warehouse.add_backtest_results(first) == 0

    changed_kpis = result_record(run_id, "cell-0", kpis={"return_pct": -99.0})
    mixed = [changed_kpis, result_record(run_id, "cell-5"), result_record(run_id, "cell-5")]
    assert warehouse.add_backtest_results(mixed) == 1

    history = warehouse.backtest_history("ema_cross", "SP500")
    assert sorted(history["cell_hash"]) == [f"cell-{i}" for i in range(6)]
    kept = dict(zip(history["cell_hash"], history["kpis"], strict=True))["cell-0"]
    assert kept["return_pct"] == 12.5  # the first write wins


def test_adding_nothing_is_a_no_op(warehouse: Warehouse) -> None:
    assert warehouse.add_backtest_results([]) == 0
    assert warehouse.add_backtest_results(iter(())) == 0


def test_a_large_batch_is_one_call(warehouse: Warehouse, run_id: str) -> None:
    records = (result_record(run_id, f"cell-{i}", window=f"w{i % 7}") for i in range(2500))
    assert warehouse.add_backtest_results(records) == 2500
    assert len(warehouse.backtest_history("ema_cross", "SP500", "1d")) == 2500


def test_results_need_a_started_run(warehouse: Warehouse, run_id: str) -> None:
    with pytest.raises(
        WarehouseError, match=r"backtest_results.run_id 'never-started' has no experiment_runs row"
    ):
        warehouse.add_backtest_results([result_record(run_id, "a"), result_record("never-started", "b")])
    assert warehouse.backtest_history("ema_cross", "SP500").empty  # all or nothing


def test_a_bad_record_rolls_back_the_whole_batch(warehouse: Warehouse, run_id: str) -> None:
    with pytest.raises(WarehouseError, match=r"row 2"):
        warehouse.add_backtest_results(
            [
                result_record(run_id, "a"),
                result_record(run_id, "b"),
                result_record(run_id, "c", status="bogus"),
            ]
        )
    assert warehouse.backtest_history("ema_cross", "SP500").empty
