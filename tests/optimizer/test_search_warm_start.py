"""Warm start beats cold start: Stage B from Stage A's top K against Stage B alone, same seed, 100 trials."""

from __future__ import annotations

import statistics
from pathlib import Path
from typing import Any

import pytest

from optimizer import run_search
from tests.optimizer._search_fixtures import LIVE, sp500


def _best(out_dir: Path, seed: int, **options: Any) -> float:
    result = run_search(
        sp500(), "ema_cross", LIVE, cadence="weekly", trials=100, seed=seed, storage="memory", batch_size=10,
        out_dir=out_dir, **options,
    )  # fmt: skip
    return result.best_value


@pytest.mark.slow
def test_stage_a_top_k_warm_start_reaches_a_better_objective_than_a_cold_start(tmp_path: Path) -> None:
    warm = [_best(tmp_path / f"warm{seed}", seed, top_k=10, prescreen_n=20_000) for seed in range(5)]
    cold = [_best(tmp_path / f"cold{seed}", seed, top_k=0) for seed in range(5)]
    assert statistics.median(warm) > statistics.median(cold), (warm, cold)
