"""Rows in lockstep on SIMD lanes give exactly the scalar kernel's KPIs (bit for bit), on random inputs.

``hold_lanes`` holds ``LANES`` positions at once in vector IR, and ``simulate_lanes_nb`` runs a sweep
task's rows in groups of ``LANES`` around it; neither may change a bit of any KPI. The random bars, signals,
day starts, configurations and risk rows are ``test_row_kernel``'s (stops, take-profit tiers, trailing
stops, sizing, both fills, both directions, bars whose high and low do not contain the open and close).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from numba import njit

from backtest_matrix.engine._hold_nb import hold_long, hold_short
from backtest_matrix.engine._lanes_nb import (
    L_END,
    L_EXTREME,
    L_PREV,
    L_REASON,
    L_SIGN,
    L_STOP,
    LANES,
    N_LANE_FIELDS,
    bar_columns,
    hold_lanes,
    idle_lane,
)
from backtest_matrix.engine._layout import N_KPIS
from backtest_matrix.engine._simulate_lanes_nb import simulate_lanes_nb
from tests.backtest_matrix.test_row_kernel import (
    random_cfg,
    random_inputs,
    random_risk,
    row_kernel_inputs,
    scalar_kpis,
)


@pytest.mark.parametrize("seed", range(4))
def test_rows_in_lockstep_equal_the_scalar_kernel_bit_for_bit(seed: int) -> None:
    rng = np.random.default_rng(300 + seed)
    for _ in range(40):
        inputs = random_inputs(rng)
        cfg = random_cfg(rng)
        bars, new_day, next_day, flags, stop_frac, scans = row_kernel_inputs(inputs, cfg)
        cols = bar_columns(bars[:, 0], bars[:, 1], bars[:, 2], bars[:, 3])
        risks = np.array([random_risk(rng) for _ in range(int(rng.integers(2, 2 * LANES + 3)))])
        actual = np.empty((len(risks), N_KPIS))
        simulate_lanes_nb(bars, cols, new_day, next_day, flags, stop_frac, scans, risks, cfg, actual)
        for risk, row in zip(risks, actual, strict=True):
            expected, _ = scalar_kpis(inputs, risk, cfg)
            assert row.tobytes() == expected.tobytes(), (risk, cfg, row, expected)


@njit  # not cached: numba's cache would not see a change in _lanes_nb
def _run_lanes(lanes: np.ndarray, cols: np.ndarray, t: int, end: int, active: np.ndarray) -> np.ndarray:
    """Hold every active lane up to the bar it acts on (or ``end``); the lanes' states there, and that bar."""
    final = np.empty((N_LANE_FIELDS + 1, LANES))
    while True:
        bound = end
        for lane in range(LANES):
            if active[lane]:
                bound = min(bound, int(lanes[L_END, lane]))
        bar, acting = hold_lanes(lanes, cols, t, bound, end)
        for lane in range(LANES):
            if active[lane] and (bar == end or (acting >> lane) & 1):
                final[:N_LANE_FIELDS, lane] = lanes[:, lane]
                final[N_LANE_FIELDS, lane] = bar
                active[lane] = False
                idle_lane(lanes, lane)
        if bar == end or not active.any():
            return final
        t = bar + 1


def _random_lane(rng: np.random.Generator, bars: np.ndarray, t: int) -> tuple[float, ...]:
    side = 1.0 if rng.random() < 0.6 else -1.0
    entry = bars[t, 0]
    stop = entry * (1.0 - side * rng.uniform(0.002, 0.05)) if rng.random() < 0.9 else math.nan
    target = entry * (1.0 + side * rng.uniform(0.002, 0.1)) if rng.random() < 0.9 else math.nan
    if rng.random() < 0.3:  # a stop or target exactly at a later bar's open, low or high: the ties
        later = bars[t + int(rng.integers(0, 60))]
        stop = later[int(rng.choice([0, 2 if side > 0.0 else 1]))]
        target = later[int(rng.choice([0, 1 if side > 0.0 else 2]))] if rng.random() < 0.5 else target
    trail = rng.uniform(0.001, 0.05) if rng.random() < 0.7 else 0.0
    extreme = entry if trail > 0.0 else side * math.inf
    cash, size = rng.uniform(-5.0, 50.0), rng.uniform(0.1, 2.0)
    prev = cash + side * size * entry
    peak = max(prev, 1.0) * rng.uniform(1.0, 1.3)
    signal_bar = t + int(rng.integers(0, 400))
    returns = (prev, rng.normal(), rng.uniform(0.0, 1.0), rng.uniform(0.0, 1.0), peak, rng.uniform(0.5, 1.0))
    return (side, stop, target, 1.0 - side * trail, extreme, cash, size, *returns, signal_bar)


def test_held_lanes_equal_the_scalar_hold_loops_bit_for_bit() -> None:
    """Every lane stops on the bar ``hold_long`` / ``hold_short`` stop on, with their state bit for bit:
    long and short lanes mixed, stops and targets set or not (NaN), trailing or not, idle lanes."""
    from tests.backtest_matrix.reference import random_walk_bars

    bars_frame = random_walk_bars(7, 3_000)
    bars = np.ascontiguousarray(bars_frame[["open", "high", "low", "close"]].to_numpy())
    cols = bar_columns(bars[:, 0], bars[:, 1], bars[:, 2], bars[:, 3])
    rng = np.random.default_rng(11)
    for _ in range(300):
        t = int(rng.integers(0, len(bars) - 450))
        end = t + int(rng.integers(0, 400))
        lanes = np.empty((N_LANE_FIELDS, LANES))
        active = rng.random(LANES) < 0.9
        expected = {}
        for lane in range(LANES):
            idle_lane(lanes, lane)
            if not active[lane]:
                continue
            (side, stop, target, factor, extreme, cash, size, prev, rsum, rsq, dsq, peak, lowest,
             signal_bar) = _random_lane(rng, bars, t)  # fmt: skip
            hold = hold_long if side > 0.0 else hold_short
            returns = (prev, rsum, rsq, dsq, peak, lowest)
            expected[lane] = hold(
                t, min(signal_bar, end), bars, cash, side * size, stop, target, factor, extreme, 3, returns
            )
            mirrored = (side * stop, side * target, factor, side * extreme, 3.0)
            lanes[:, lane] = (cash, side * size, *mirrored, *returns, side, float(signal_bar))
        final = _run_lanes(lanes, cols, t, end, active.copy())
        for lane, (bar, extreme, stop, reason, returns) in expected.items():
            side = final[L_SIGN, lane]
            got = (final[N_LANE_FIELDS, lane], side * final[L_EXTREME, lane], side * final[L_STOP, lane],
                   final[L_REASON, lane], *final[L_PREV : L_PREV + 6, lane])  # fmt: skip
            want = (float(bar), extreme, stop, float(reason), *returns)
            assert np.array_equal(np.array(got), np.array(want), equal_nan=True), (lane, got, want)
