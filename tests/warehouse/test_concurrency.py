"""Several warehouses, in one process or many, share one database without losing writes."""

from __future__ import annotations

import multiprocessing
from typing import Any

import pytest

from tests.warehouse.conftest import Backend, result_record
from warehouse import Warehouse

ROWS_PER_WORKER = 120
SHARED_CELLS = 30
BATCH = 10


def test_two_warehouses_see_each_others_writes(backend: Backend) -> None:
    with backend.open() as first, backend.open() as second:
        run_id = first.start_run("matrix", git_sha="abc")
        assert second.get_run(run_id).status == "running"
        second.add_backtest_results([result_record(run_id, "from-second")])
        first.add_backtest_results([result_record(run_id, "from-first")])
        second.finish_run(run_id, "ok")
        assert first.get_run(run_id).status == "ok"
        assert sorted(first.backtest_history("ema_cross", "SP500")["cell_hash"]) == [
            "from-first",
            "from-second",
        ]
        assert sorted(second.backtest_history("ema_cross", "SP500")["cell_hash"]) == [
            "from-first",
            "from-second",
        ]


def _insert_from_a_process(
    url: str, engine_kwargs: dict[str, Any], worker: int, start: Any, results: Any
) -> None:
    """Open the (maybe not yet created) warehouse at the same moment as the other worker, then write."""
    start.wait()
    with Warehouse(url, **engine_kwargs) as warehouse:
        run_id = warehouse.start_run("matrix", git_sha="abc", run_id=f"run-{worker}")
        own = [result_record(run_id, f"w{worker}-{i}") for i in range(ROWS_PER_WORKER)]
        shared = [result_record(run_id, f"shared-{i}") for i in range(SHARED_CELLS)]
        records = own + shared if worker == 0 else shared + own
        inserted = 0
        for offset in range(0, len(records), BATCH):
            inserted += warehouse.add_backtest_results(records[offset : offset + BATCH])
        warehouse.finish_run(run_id, "ok")
    results.put(inserted)


@pytest.mark.slow
def test_concurrent_processes_lose_nothing(backend: Backend) -> None:
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(2)
    results = context.Queue()
    workers = [
        context.Process(
            target=_insert_from_a_process, args=(backend.url, backend.engine_kwargs, n, start, results)
        )
        for n in range(2)
    ]
    for process in workers:
        process.start()
    for process in workers:
        process.join()
    assert [process.exitcode for process in workers] == [0, 0]
    inserted = [results.get(timeout=1) for _ in workers]

    expected = 2 * ROWS_PER_WORKER + SHARED_CELLS
    assert sum(inserted) == expected  # each shared cell was inserted by exactly one worker
    with backend.open() as warehouse:
        cells = warehouse.backtest_history("ema_cross", "SP500")["cell_hash"]
        assert len(cells) == expected
        assert cells.is_unique
        assert [run.status for run in warehouse.runs("matrix")] == ["ok", "ok"]
