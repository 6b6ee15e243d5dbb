"""Run under ``NUMBA_ENABLE_CUDASIM=1`` (numba reads it at import): the CUDA sweep against the CPU sweep.

For every strategy, both fills and both directions, a few signal-parameter groups × risk rows (stops,
take-profit tiers, trailing stops, sizing, fees, slippage, a reserve) are swept on the simulated device and
on the CPU; every KPI must be bit-identical (NaNs in the same places). The device sweep runs once through
``sweep(device="cuda")`` and once with a tiny batch budget, so that the groups go to the device in several
batches. Prints one line per case and exits non-zero on the first difference.
"""

from __future__ import annotations

import itertools
import os
import sys

import numba
import numpy as np
import pandas as pd

from backtest_matrix.engine import EngineConfig, day_starts, engine_config_array, sweep
from backtest_matrix.engine._backtest import _combination_matrix, bar_arrays
from backtest_matrix.engine._device import resolve_device
from backtest_matrix.engine._sweep_cuda import sweep_cuda
from backtest_matrix.strategies import get_strategy, strategy_names
from tests.backtest_matrix.reference import random_walk_bars

GROUPS = 3
RISK_ROWS = 4


def combinations(name: str, rng: np.random.Generator) -> pd.DataFrame:
    """``GROUPS`` feasible signal-parameter sets (the default first), each with ``RISK_ROWS`` risk rows."""
    cls = get_strategy(name)
    own = [cls.defaults()[p.name] for p in cls.params]
    groups = [own]
    while len(groups) < GROUPS:
        row = []
        for p in cls.params:
            if p.kind == "choice":
                row.append(float(rng.choice(p.choices)))
            elif p.kind == "int":  # short indicator spans, so that a hundred bars carry signals
                row.append(float(rng.integers(p.low, min(p.high, p.low + max(2.0, (p.high - p.low) * 0.05)))))
            else:
                row.append(round(float(rng.uniform(p.low, p.high)), 2))
        if cls.feasible(np.array([row]))[0]:
            groups.append(row)
    risk_rows = [
        {},
        {"stop_loss_pct": 1.5, "exit_tp0_pct": 2.0, "exit_tp0_fraction": 0.5, "exit_tp1_pct": 4.0},
        {"exit_trailing_stop_pct": 1.0, "trade_fraction": 0.6},
        {"stop_loss_pct": 0.7, "exit_tp0_pct": 0.8, "exit_tp2_pct": 3.0, "exit_tp2_fraction": 0.3},
    ][:RISK_ROWS]
    rows = [
        {**dict(zip(cls.param_names(), own_row, strict=True)), **risk}
        for own_row, risk in itertools.product(groups, risk_rows)
    ]
    frame = pd.DataFrame(rows)
    frame = frame.fillna({column: cls.defaults()[column] for column in frame.columns})
    return frame.sample(frac=1.0, random_state=int(rng.integers(1 << 31)))


def main() -> int:
    assert os.environ.get("NUMBA_ENABLE_CUDASIM") == "1", "run with NUMBA_ENABLE_CUDASIM=1"
    rng = np.random.default_rng(22)
    bars = random_walk_bars(seed=22, n=120, freq="6h", volatility=0.03, gaps=4)
    assert resolve_device("cuda") == "cuda" and numba.config.ENABLE_CUDASIM, "not on the simulated device"
    cases = 0
    for name, fill, direction in itertools.product(
        strategy_names(), ("next_open", "close"), ("long", "long_short")
    ):
        config = EngineConfig(
            fill=fill, direction=direction, fee_bps=10.0, slippage_bps=2.0, min_reserve=0.05
        )
        combos = combinations(name, rng)
        cpu = sweep(bars, name, combos, config=config, device="cpu")
        gpu = sweep(bars, name, combos, config=config, device="cuda")
        batched = _batched(bars, name, combos, config)
        for label, other in (("cuda", gpu), ("cuda-batched", batched)):
            same = np.array_equal(cpu.to_numpy(), other.to_numpy(), equal_nan=True)
            if not same:
                diff = (cpu.compare(other)).head(5)
                print(f"MISMATCH {name} {fill} {direction} {label}\n{diff}", flush=True)
                return 1
        trades = int(cpu["trades"].sum())
        if trades == 0:
            print(f"NO TRADES {name} {fill} {direction}: the case tests nothing", flush=True)
            return 1
        print(f"ok {name} {fill} {direction} rows={len(combos)} trades={trades}", flush=True)
        cases += 1
    print(f"cases={cases}")
    return 0


def _batched(bars: pd.DataFrame, name: str, combos: pd.DataFrame, config: EngineConfig) -> pd.DataFrame:
    """``sweep(device="cuda")`` with a batch budget of one group: every group in its own device batch."""
    cls = get_strategy(name)
    matrix = _combination_matrix(cls, combos)
    k = len(cls.params)
    order = np.lexsort(matrix[:, :k].T[::-1])
    own = matrix[order, :k]
    starts = np.flatnonzero(np.r_[True, np.any(own[1:] != own[:-1], axis=1)])
    ts, *ohlcv = bar_arrays(bars)
    kpis = sweep_cuda(
        ts, day_starts(ts), tuple(ohlcv), np.ascontiguousarray(own[starts]), np.append(starts, len(order)),
        np.ascontiguousarray(matrix[order, k:]), engine_config_array(config, ts), cls.signals_nb,
        batch_bytes=1,
    )  # fmt: skip
    out = np.empty_like(kpis)
    out[order] = kpis
    from backtest_matrix.engine import KPI_NAMES

    frame = pd.DataFrame(matrix, columns=[p.name for p in cls.space()], index=combos.index)
    return pd.concat([frame, pd.DataFrame(out, columns=list(KPI_NAMES), index=combos.index)], axis=1)


if __name__ == "__main__":
    sys.exit(main())
