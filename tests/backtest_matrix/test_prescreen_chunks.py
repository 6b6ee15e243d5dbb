"""Stage A evaluates its rows in chunks sorted by signal parameters; the results must not notice.

``optimizer._prescreen._evaluate`` sorts the rows so that each lattice point's rows share one signal pass,
sweeps them chunk by chunk and puts the results back in generation order: the same frame, byte for byte,
as one sweep of all rows in their own order.
"""

from __future__ import annotations

import numpy as np
import pytest

import optimizer._prescreen as prescreen_module
from backtest_matrix.engine import sweep
from backtest_matrix.strategies import get_strategy
from optimizer import search_space
from tests.backtest_matrix.reference import random_walk_bars


def test_chunked_sorted_evaluation_equals_one_sweep_in_generation_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bars = random_walk_bars(11, 2_000, freq="1h")
    cls = get_strategy("ema_cross")
    combos = prescreen_module.generate_combinations(search_space(cls, {}, "weekly"), 600, "sobol", 3)
    combos = combos[cls.feasible(combos[cls.param_names()].to_numpy(np.float64))].reset_index(drop=True)
    progress: list[tuple[int, int]] = []
    monkeypatch.setattr(prescreen_module, "_CHUNK_ROWS", 70)
    chunked = prescreen_module._evaluate(
        bars, cls, combos, None, lambda done, total: progress.append((done, total))
    )
    whole = sweep(bars, cls, combos).reset_index(drop=True)
    assert list(chunked.columns) == list(whole.columns)
    assert chunked.index.equals(whole.index)
    assert chunked.to_numpy().tobytes() == whole.to_numpy().tobytes()
    assert progress[-1] == (len(combos), len(combos)) and len(progress) == -(-len(combos) // 70)
