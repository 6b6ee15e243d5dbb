"""The batch sweep on a CUDA GPU (``numba-cuda``): one thread per combination.

The work splits as on the CPU (``_sweep_nb``): combinations are grouped by their strategy parameters and a
group's signals are computed once and shared by all its rows. The host computes the signals of a batch of
groups with the strategies' own CPU kernels (in parallel), the device scans them for the next acting
signal (one thread per group) and runs every row (one thread per combination) through the same row
kernel as the CPU sweep, ``simulate_row_nb``, which numba compiles for the device. The bars go to the
device once per call (one data slice); the signals once per batch of groups, batches sized so that
their device buffers stay within ``batch_bytes``.

Under the simulator (``NUMBA_ENABLE_CUDASIM=1``) the KPIs equal the CPU engine's bit for bit
(tests/backtest_matrix/test_sweep_cuda.py). On a device they can differ in the last bits, because NVVM
contracts ``a * b + c`` into fused multiply-adds and libdevice's ``pow``/``sqrt`` round differently;
a last-bit difference can move a stop or a crossing by a bar. ``benchmarks/gpu.py`` reports the count of
combinations whose KPIs differ and the largest difference.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numba import config as _config
from numba import cuda as _cuda

from backtest_matrix.engine._hold_nb import next_day_nb, signal_scans_nb
from backtest_matrix.engine._layout import N_KPIS
from backtest_matrix.engine._simulate_row_nb import simulate_row_nb
from backtest_matrix.engine._sweep_nb import group_signals_nb

__all__ = ["DEFAULT_BATCH_BYTES", "sweep_cuda"]

# numba-cuda's partial annotations would make every kernel "untyped" to mypy.
cuda: Any = _cuda
config: Any = _config

# Device memory for one batch of groups' signals and scans (21 bytes per bar and group): at 210,240 bars
# about 900 groups, i.e. ~58,000 rows of 64 per group in flight.
DEFAULT_BATCH_BYTES = 4 << 30
_THREADS_PER_BLOCK = 128
# Per bar and group on the device: flags (int8), stop_frac (float64), three int32 scans.
_BYTES_PER_GROUP_BAR = 1 + 8 + 3 * 4

if config.ENABLE_CUDASIM:

    def _host(array: Any) -> Any:
        """The NumPy array behind a simulated device array: the @njit row kernel takes NumPy arrays."""
        return getattr(array, "_ary", array)

else:

    @cuda.jit(device=True)  # type: ignore[untyped-decorator]
    def _host(array: Any) -> Any:
        return array


@cuda.jit  # type: ignore[untyped-decorator]
def _scans_kernel(flags: Any, cfg: Any, scans: Any) -> None:
    """One thread per group: its next acting entry, long exit and short exit at every bar."""
    g = cuda.grid(1)
    if g < flags.shape[0]:
        signal_scans_nb(_host(flags)[g], _host(cfg), _host(scans)[g])


@cuda.jit  # type: ignore[untyped-decorator]
def _rows_kernel(
    bars: Any, new_day: Any, next_day: Any, flags: Any, stop_frac: Any, scans: Any, row_group: Any,
    risk: Any, cfg: Any, out: Any,
) -> None:  # fmt: skip
    """One thread per combination: its KPIs into its row of ``out``, on its group's signals."""
    i = cuda.grid(1)
    if i < risk.shape[0]:
        g = row_group[i]
        simulate_row_nb(
            _host(bars), _host(new_day), _host(next_day), _host(flags)[g], _host(stop_frac)[g],
            _host(scans)[g], _host(risk)[i], _host(cfg), _host(out)[i],
        )  # fmt: skip


def sweep_cuda(
    ts: np.ndarray,
    new_day: np.ndarray,
    ohlcv: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    group_params: np.ndarray,
    group_bounds: np.ndarray,
    risk: np.ndarray,
    cfg: np.ndarray,
    signals_fn: Callable[..., None],
    batch_bytes: int | None = None,
) -> np.ndarray:
    """KPIs (rows of ``KPI_NAMES``) for each row of ``risk``, as ``sweep_nb`` computes them, on the GPU.

    Rows ``group_bounds[g]:group_bounds[g + 1]`` share the strategy parameters ``group_params[g]``;
    ``batch_bytes`` bounds the device memory of a batch of groups' signals (``None``: the default).
    """
    open_, high, low, close, _ = ohlcv
    n = close.shape[0]
    out = np.empty((risk.shape[0], N_KPIS))
    if risk.shape[0] == 0:
        return out
    d_bars = cuda.to_device(np.ascontiguousarray(np.column_stack((open_, high, low, close))))
    d_new_day = cuda.to_device(new_day)
    d_next_day = cuda.to_device(next_day_nb(new_day))
    d_cfg = cuda.to_device(cfg)
    budget = _batch_budget() if batch_bytes is None else batch_bytes
    per_batch = max(1, budget // max(1, n * _BYTES_PER_GROUP_BAR))
    for g0 in range(0, group_params.shape[0], per_batch):
        g1 = min(group_params.shape[0], g0 + per_batch)
        r0, r1 = int(group_bounds[g0]), int(group_bounds[g1])
        flags = np.empty((g1 - g0, n), np.int8)
        stop_frac = np.empty((g1 - g0, n))
        group_signals_nb(ts, *ohlcv, np.ascontiguousarray(group_params[g0:g1]), flags, stop_frac, signals_fn)
        d_flags = cuda.to_device(flags)
        d_scans = cuda.device_array((g1 - g0, 3, n + 1), np.int32)
        _scans_kernel[_blocks(g1 - g0), _THREADS_PER_BLOCK](d_flags, d_cfg, d_scans)
        row_group = np.repeat(np.arange(g1 - g0, dtype=np.int64), np.diff(group_bounds[g0 : g1 + 1]))
        d_out = cuda.device_array((r1 - r0, N_KPIS))
        _rows_kernel[_blocks(r1 - r0), _THREADS_PER_BLOCK](
            d_bars, d_new_day, d_next_day, d_flags, cuda.to_device(stop_frac), d_scans,
            cuda.to_device(row_group), cuda.to_device(np.ascontiguousarray(risk[r0:r1])), d_cfg, d_out,
        )  # fmt: skip
        out[r0:r1] = d_out.copy_to_host()
    return out


def _batch_budget() -> int:
    """``DEFAULT_BATCH_BYTES``, or half the device's free memory when that is less."""
    try:
        free, _ = cuda.current_context().get_memory_info()
    except (AttributeError, NotImplementedError):  # the simulator has no memory to report
        return DEFAULT_BATCH_BYTES
    return int(min(DEFAULT_BATCH_BYTES, free // 2))


def _blocks(threads: int) -> int:
    return -(-threads // _THREADS_PER_BLOCK)
