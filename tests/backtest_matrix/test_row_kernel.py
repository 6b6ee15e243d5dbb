"""The sweep's row kernel gives exactly the scalar kernel's KPIs (bit for bit), on random inputs.

``simulate_row_nb`` skips flat stretches and runs in-position stretches in side-specialised loops, and
``simulate_rows_nb`` runs many rows block of bars by block of bars; neither may change a bit of any KPI.
Random bars (some with inconsistent high/low), random signal sets with every flag, strategy stops, new-day
markers, and risk rows with stops, take-profit tiers, trailing stops and sizing, over both fills, both
directions, fees, slippage and a cash reserve, are run through the kernels.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from backtest_matrix.engine import KPI_NAMES, LONG_ENTRY, LONG_EXIT, EngineConfig, backtest, sweep
from backtest_matrix.engine._hold_nb import next_day_nb, signal_scans_nb
from backtest_matrix.engine._layout import N_CFG, N_KPIS, N_TRADE_FIELDS
from backtest_matrix.engine._simulate_nb import simulate_nb
from backtest_matrix.engine._simulate_row_nb import simulate_row_nb, simulate_rows_nb
from tests.backtest_matrix.reference import random_walk_bars


def random_inputs(rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    n = int(rng.integers(1, 500))
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, rng.choice([0.002, 0.01, 0.05]), n)))
    open_ = np.r_[close[0], close[:-1]] * np.exp(rng.normal(0.0, 0.003, n) * rng.choice([0.0, 1.0, 5.0]))
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, 0.004, n)))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, 0.004, n)))
    if rng.random() < 0.2:  # bars whose high and low do not contain the open and the close
        high = high * np.exp(rng.normal(0.0, 0.003, n))
        low = low * np.exp(rng.normal(0.0, 0.003, n))
    flags = ((rng.random((n, 4)) < rng.choice([0.01, 0.05, 0.3])) @ np.array([1, 2, 4, 8])).astype(np.int8)
    stop_frac = np.full(n, np.nan)
    if rng.random() < 0.4:
        stop_frac = np.where(rng.random(n) < 0.5, rng.random(n) * 0.05, np.nan)
    new_day = rng.random(n) < rng.choice([0.0, 0.05, 0.3])
    new_day[0] = False
    return new_day, open_, high, low, close, flags, stop_frac


def random_cfg(rng: np.random.Generator) -> np.ndarray:
    cfg = np.zeros(N_CFG)
    cfg[:8] = (
        rng.integers(0, 2), rng.choice([0.0, 1e-3, 1e-2]), rng.choice([0.0, 5e-4]), rng.integers(0, 2),
        10_000.0, rng.choice([0.0, 0.1]), 1e5, 2.0,
    )  # fmt: skip
    return cfg


def random_risk(rng: np.random.Generator) -> np.ndarray:
    risk = np.zeros(9)
    risk[0] = rng.choice([0.0, rng.random() * 5.0, rng.random() * 50.0])
    for tier in range(3):
        risk[1 + 2 * tier] = rng.choice([0.0, rng.random() * 3.0, rng.random() * 20.0])
        risk[2 + 2 * tier] = rng.choice([1.0, rng.uniform(0.01, 1.0)])
    risk[7] = rng.choice([0.0, rng.random() * 3.0, rng.random() * 30.0])
    risk[8] = rng.choice([1.0, rng.uniform(0.01, 1.0)])
    return risk


def scalar_kpis(inputs: tuple[np.ndarray, ...], risk: np.ndarray, cfg: np.ndarray) -> tuple[np.ndarray, int]:
    kpis = np.empty(N_KPIS)
    count = simulate_nb(*inputs, risk, cfg, kpis, False, np.empty((0, N_TRADE_FIELDS)), np.empty(0))
    return kpis, count


def row_kernel_inputs(inputs: tuple[np.ndarray, ...], cfg: np.ndarray) -> tuple[np.ndarray, ...]:
    """``bars, new_day, next_day, flags, stop_frac, scans`` as the sweep passes them."""
    new_day, open_, high, low, close, flags, stop_frac = inputs
    scans = np.empty((3, len(close) + 1), np.int32)
    signal_scans_nb(flags, cfg, scans)
    bars = np.ascontiguousarray(np.column_stack([open_, high, low, close]))
    return bars, new_day, next_day_nb(new_day), flags, stop_frac, scans


@pytest.mark.parametrize("seed", range(4))
def test_the_row_kernel_equals_the_scalar_kernel_bit_for_bit(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(100):
        inputs = random_inputs(rng)
        cfg = random_cfg(rng)
        row_inputs = row_kernel_inputs(inputs, cfg)
        for _ in range(4):
            risk = random_risk(rng)
            expected, count = scalar_kpis(inputs, risk, cfg)
            actual = np.empty(N_KPIS)
            assert simulate_row_nb(*row_inputs, risk, cfg, actual) == count
            assert actual.tobytes() == expected.tobytes(), (risk, cfg, actual, expected)


@pytest.mark.parametrize("seed", range(4))
def test_rows_run_block_by_block_equal_the_scalar_kernel_bit_for_bit(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    for _ in range(60):
        inputs = random_inputs(rng)
        cfg = random_cfg(rng)
        risks = np.array([random_risk(rng) for _ in range(6)])
        block = int(rng.choice([1, 2, 7, 64, 1000]))  # blocks cut stretches, trades and days anywhere
        actual = np.empty((len(risks), N_KPIS))
        simulate_rows_nb(*row_kernel_inputs(inputs, cfg), risks, cfg, actual, block)
        for risk, row in zip(risks, actual, strict=True):
            expected, _ = scalar_kpis(inputs, risk, cfg)
            assert row.tobytes() == expected.tobytes(), (block, risk, cfg, row, expected)


@pytest.mark.parametrize("seed", range(2))
def test_a_row_without_scans_searches_its_signals_and_equals_the_scalar_kernel(seed: int) -> None:
    """A row alone in its signal group gets no scan pass (``scans`` without columns): it searches ``flags``
    for its next acting bar, block by block, with the same KPIs bit for bit."""
    rng = np.random.default_rng(200 + seed)
    for _ in range(60):
        inputs = random_inputs(rng)
        cfg = random_cfg(rng)
        bars, new_day, next_day, flags, stop_frac, _ = row_kernel_inputs(inputs, cfg)
        risk = random_risk(rng)
        block = int(rng.choice([1, 3, 64, 1000]))
        actual = np.empty((1, N_KPIS))
        no_scans = np.empty((3, 0), np.int32)
        simulate_rows_nb(bars, new_day, next_day, flags, stop_frac, no_scans, risk[None], cfg, actual, block)
        expected, _ = scalar_kpis(inputs, risk, cfg)
        assert actual[0].tobytes() == expected.tobytes(), (block, risk, cfg, actual[0], expected)


def test_signal_scans_find_the_next_acting_signal() -> None:
    flags = np.array([0, 1, 0, 2, 4, 8, 0, 5], np.int8)
    scans = np.empty((3, 9), np.int32)
    signal_scans_nb(flags, np.array([1.0, 0, 0, 0, 1.0, 0, 1.0, 1.0]), scans)  # close, long only
    assert scans.tolist() == [[1, 1, 7, 7, 7, 7, 7, 7, 8], [3, 3, 3, 3, 8, 8, 8, 8, 8], [5] * 6 + [8] * 3]
    signal_scans_nb(flags, np.array([0.0, 0, 0, 1.0, 1.0, 0, 1.0, 1.0]), scans)  # next open, long/short
    assert scans.tolist() == [[2, 2, 2, 5, 5, 5, 8, 8, 8], [4] * 5 + [8] * 4, [6] * 7 + [8] * 2]
    assert next_day_nb(np.array([False, True, False, True])).tolist() == [1, 1, 3, 3, 4]


@pytest.mark.parametrize("fill", ["next_open", "close"])
@pytest.mark.parametrize("direction", ["long", "long_short"])
def test_a_sweep_row_equals_its_single_backtest_exactly(fill: str, direction: str) -> None:
    bars = random_walk_bars(7, 3_000, freq="1h")
    rng = np.random.default_rng(3)
    rows = pd.DataFrame(
        {
            "ema_fast": 5, "ema_slow": rng.choice([20, 40], 24),
            "stop_loss_pct": rng.choice([0.0, 0.5, 2.0], 24),
            "exit_tp0_pct": rng.choice([0.0, 0.4, 1.5], 24), "exit_tp0_fraction": 0.5,
            "exit_tp1_pct": rng.choice([0.0, 3.0], 24), "exit_tp1_fraction": 0.3,
            "exit_tp2_pct": 5.0, "exit_tp2_fraction": 1.0,
            "exit_trailing_stop_pct": rng.choice([0.0, 0.3, 1.0], 24),
            "trade_fraction": rng.choice([1.0, 0.4], 24),
        }
    )  # fmt: skip
    config = EngineConfig(fill=fill, direction=direction, fee_bps=5.0, slippage_bps=2.0)  # type: ignore[arg-type]
    swept = sweep(bars, "ema_cross", rows, config=config)
    for i, row in rows.iterrows():
        single = backtest(bars, "ema_cross", row.to_dict(), config=config).kpis
        expected = np.array([single[name] for name in KPI_NAMES])
        assert swept.loc[i, list(KPI_NAMES)].to_numpy(np.float64).tobytes() == expected.tobytes()


def test_a_flat_stretch_over_several_day_starts_folds_a_day_without_change() -> None:
    # Rising closes, long from bar 0 to bar 3 and from bar 9 to the end, days starting at bars 4, 6, 11 and
    # 13: every other day gains, so only the flat day 4-5 (the second day start of the flat stretch 4-8)
    # makes the worst day 0; a kernel that folded only the stretch's first day start would report a gain.
    n = 14
    close = 100.0 + np.arange(n, dtype=np.float64)
    flags = np.zeros(n, np.int8)
    flags[[0, 9]] = LONG_ENTRY
    flags[3] = LONG_EXIT
    new_day = np.zeros(n, np.bool_)
    new_day[[4, 6, 11, 13]] = True
    cfg = np.zeros(N_CFG)
    cfg[[0, 4, 6, 7]] = (1.0, 10_000.0, 1e5, 2.0)  # close fill, long only
    inputs = (new_day, close, close, close, close, flags, np.full(n, np.nan))
    risk = np.r_[np.zeros(8), 1.0]
    expected, _ = scalar_kpis(inputs, risk, cfg)
    actual = np.empty(N_KPIS)
    simulate_row_nb(*row_kernel_inputs(inputs, cfg), risk, cfg, actual)
    assert actual[KPI_NAMES.index("worst_day_pct")] == 0.0
    assert actual.tobytes() == expected.tobytes()


def test_the_trade_writer_does_the_same_in_python_and_in_numba() -> None:
    from numba import njit

    from backtest_matrix.engine._orders_nb import _write_trade

    @njit
    def jitted(trades: np.ndarray, n: int, fields: tuple[float, float, float]) -> None:
        _write_trade(trades, n, fields)

    for n in (0, 1, 2, 7):  # rows 2 and 7 do not exist: nothing is written
        python, numba = np.zeros((2, 4)), np.zeros((2, 4))
        _write_trade(python, n, (1.0, 2.0, 3.0))
        jitted(numba, n, (1.0, 2.0, 3.0))
        assert np.array_equal(python, numba)
        assert python.sum() == (6.0 if n < 2 else 0.0)
    _write_trade(None, 0, (1.0,))  # no trade list: nothing to write, no error
