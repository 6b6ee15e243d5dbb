"""Pandas wrappers around the kernels: a single backtest with its trades, and the batch sweep."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numba
import numpy as np
import pandas as pd

from backtest_matrix.engine._layout import (
    CFG_DIRECTION,
    CFG_FEE,
    CFG_FILL,
    CFG_INIT_CASH,
    CFG_MIN_RESERVE,
    CFG_PERIODS_PER_YEAR,
    CFG_SLIPPAGE,
    CFG_YEARS,
    EXIT_REASONS,
    FILL_CLOSE,
    FILL_NEXT_OPEN,
    KPI_NAMES,
    N_CFG,
    N_KPIS,
    N_TRADE_FIELDS,
    TRADE_FIELDS,
)
from backtest_matrix.strategies import Strategy, get_strategy
from tradeloop.errors import StrategyError

__all__ = [
    "BacktestResult",
    "EngineConfig",
    "backtest",
    "bar_arrays",
    "day_starts",
    "engine_config_array",
    "periods_per_year",
    "returns_matrix",
    "span_years",
    "sweep",
]

_DAY_NANOS = 86_400 * 1_000_000_000
_YEAR_NANOS = 365.25 * _DAY_NANOS


@dataclass(frozen=True)
class EngineConfig:
    """How orders fill and what they cost; shared by every combination of a run.

    Attributes
    ----------
    fill
        ``"next_open"`` (default): a signal computed on bar t's close fills at bar t+1's open.
        ``"close"``: it fills at bar t's close, as vectorbt's ``Portfolio.from_signals`` does by default.
    fee_bps, slippage_bps
        Cost per side, in basis points of the traded value; slippage moves the fill price against us.
    direction
        ``"long"`` or ``"long_short"``.
    init_cash
        Starting equity.
    min_reserve
        Share of equity always kept in cash; a position uses at most ``1 - min_reserve`` of it.
    """

    fill: Literal["next_open", "close"] = "next_open"
    fee_bps: float = 0.0
    slippage_bps: float = 0.0
    direction: Literal["long", "long_short"] = "long"
    init_cash: float = 10_000.0
    min_reserve: float = 0.0

    def __post_init__(self) -> None:
        if self.fill not in ("next_open", "close"):
            raise StrategyError(f"fill must be 'next_open' or 'close', got {self.fill!r}")
        if self.direction not in ("long", "long_short"):
            raise StrategyError(f"direction must be 'long' or 'long_short', got {self.direction!r}")
        for name in ("fee_bps", "slippage_bps"):
            value = getattr(self, name)
            if not 0.0 <= value < 10_000.0:
                raise StrategyError(f"{name} must be within [0, 10000) basis points, got {value!r}")
        if not self.init_cash > 0.0:
            raise StrategyError(f"init_cash must be positive, got {self.init_cash!r}")
        if not 0.0 <= self.min_reserve < 1.0:
            raise StrategyError(f"min_reserve must be within [0, 1), got {self.min_reserve!r}")

    def to_array(self, bars_per_year: float, years: float) -> np.ndarray:
        cfg = np.zeros(N_CFG)
        cfg[CFG_FILL] = FILL_CLOSE if self.fill == "close" else FILL_NEXT_OPEN
        cfg[CFG_FEE] = self.fee_bps / 1e4
        cfg[CFG_SLIPPAGE] = self.slippage_bps / 1e4
        cfg[CFG_DIRECTION] = 1.0 if self.direction == "long_short" else 0.0
        cfg[CFG_INIT_CASH] = self.init_cash
        cfg[CFG_MIN_RESERVE] = self.min_reserve
        cfg[CFG_PERIODS_PER_YEAR] = bars_per_year
        cfg[CFG_YEARS] = years
        return cfg


@dataclass(frozen=True)
class BacktestResult:
    """One backtest: KPIs, the trade list and the equity at every close."""

    strategy: str
    params: dict[str, float]
    config: EngineConfig
    kpis: dict[str, float]
    trades: pd.DataFrame
    equity: pd.Series = field(repr=False)

    @property
    def returns(self) -> pd.Series:
        """Per-bar simple returns of the equity (the first bar against the initial cash)."""
        previous = self.equity.shift(1).fillna(self.config.init_cash)
        return self.equity / previous - 1.0


def span_years(ts: np.ndarray) -> float:
    """Years (of 365.25 days) between the first and the last timestamp (UTC nanoseconds)."""
    return float(ts[-1] - ts[0]) / _YEAR_NANOS if len(ts) > 1 else 0.0


def periods_per_year(ts: np.ndarray) -> float:
    """Bars per year observed in ``ts`` (so weekday calendars annualise with ~252, 24/7 daily with 365)."""
    years = span_years(ts)
    return (len(ts) - 1) / years if years > 0 else math.nan


def day_starts(ts: np.ndarray) -> np.ndarray:
    """True where a bar's UTC day differs from the previous bar's (never for the first bar)."""
    day = ts // _DAY_NANOS
    starts = np.zeros(len(ts), dtype=np.bool_)
    starts[1:] = day[1:] != day[:-1]
    return starts


def engine_config_array(config: EngineConfig, ts: np.ndarray) -> np.ndarray:
    """The kernels' run configuration for ``config`` over bars stamped ``ts``."""
    return config.to_array(periods_per_year(ts), span_years(ts))


def bar_arrays(bars: pd.DataFrame) -> tuple[np.ndarray, ...]:
    """Contiguous ``ts`` (int64 UTC ns) and float64 OHLCV arrays from a bars DataFrame."""
    index = pd.DatetimeIndex(bars.index)
    # Writeable copies: pandas hands out read-only views, which the kernels' signatures do not accept.
    ts = np.require(index.as_unit("ns").asi8, np.int64, ["C", "W"])
    names = ("open", "high", "low", "close", "volume")
    return (ts, *(np.require(bars[name].to_numpy(np.float64), np.float64, ["C", "W"]) for name in names))


def _strategy(strategy: str | type[Strategy]) -> type[Strategy]:
    return get_strategy(strategy) if isinstance(strategy, str) else strategy


def backtest(
    bars: pd.DataFrame,
    strategy: str | type[Strategy],
    params: Mapping[str, Any] | None = None,
    *,
    config: EngineConfig | None = None,
) -> BacktestResult:
    """Run one parameter set over ``bars`` and return its KPIs, trades and equity."""
    from backtest_matrix.engine._simulate_nb import simulate_nb

    cls = _strategy(strategy)
    config = config or EngineConfig()
    values = cls.resolve(params)
    own, risk = cls.split(values)
    ts, open_, high, low, close, volume = bar_arrays(bars)
    n = close.shape[0]
    flags = np.empty(n, np.int8)
    stop_frac = np.empty(n)
    cls.signals_nb(ts, open_, high, low, close, volume, own, flags, stop_frac)
    kpis = np.empty(N_KPIS)
    trades = np.empty((n + 1, N_TRADE_FIELDS))
    equity = np.empty(n)
    cfg = engine_config_array(config, ts)
    count = simulate_nb(
        day_starts(ts), open_, high, low, close, flags, stop_frac, risk, cfg, kpis, True, trades, equity
    )
    return BacktestResult(
        strategy=cls.name,
        params=values,
        config=config,
        kpis=dict(zip(KPI_NAMES, kpis.tolist(), strict=True)),
        trades=_trades_frame(trades[:count], pd.DatetimeIndex(bars.index)),
        equity=pd.Series(equity, index=bars.index, name="equity"),
    )


def returns_matrix(
    bars: pd.DataFrame,
    strategy: str | type[Strategy],
    parameter_sets: Sequence[Mapping[str, Any]],
    *,
    config: EngineConfig | None = None,
) -> np.ndarray:
    """(T × M) per-bar equity returns of every parameter set on ``bars``: :attr:`BacktestResult.returns`
    column by column, without building trade lists or frames (validation needs thousands of columns).
    """
    from backtest_matrix.engine._simulate_nb import simulate_nb

    cls = _strategy(strategy)
    config = config or EngineConfig()
    ts, open_, high, low, close, volume = bar_arrays(bars)
    n = close.shape[0]
    new_day, cfg = day_starts(ts), engine_config_array(config, ts)
    flags, stop_frac = np.empty(n, np.int8), np.empty(n)
    kpis, no_trades, equity = np.empty(N_KPIS), np.empty((0, N_TRADE_FIELDS)), np.empty(n)
    out = np.empty((n, len(parameter_sets)))
    for column, params in enumerate(parameter_sets):
        own, risk = cls.split(cls.resolve(params))
        cls.signals_nb(ts, open_, high, low, close, volume, own, flags, stop_frac)
        simulate_nb(
            new_day, open_, high, low, close, flags, stop_frac, risk, cfg, kpis, True, no_trades, equity
        )
        out[0, column] = equity[0] / config.init_cash - 1.0
        out[1:, column] = equity[1:] / equity[:-1] - 1.0
    return out


def _trades_frame(rows: np.ndarray, index: pd.DatetimeIndex) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=list(TRADE_FIELDS))
    for name in ("entry_bar", "exit_bar", "exit_fills"):
        frame[name] = frame[name].astype(np.int64)
    frame["side"] = np.where(frame["side"] > 0, "long", "short")
    frame["reason"] = [EXIT_REASONS[int(code)] for code in rows[:, TRADE_FIELDS.index("reason")]]
    frame.insert(1, "entry_time", index[frame["entry_bar"].to_numpy()])
    frame.insert(3, "exit_time", index[frame["exit_bar"].to_numpy()])
    return frame


def sweep(
    bars: pd.DataFrame,
    strategy: str | type[Strategy],
    combinations: pd.DataFrame,
    *,
    config: EngineConfig | None = None,
    device: str | None = None,
) -> pd.DataFrame:
    """KPIs for every row of ``combinations`` (one column per parameter; missing ones take defaults).

    The result has the parameter columns followed by the KPI columns, in the input's row order.
    ``device`` is ``auto``, ``cpu`` or ``cuda`` (``None``: the ``TRADELOOP_DEVICE`` setting, else ``auto``,
    which takes a CUDA GPU when one is present); see :func:`resolve_device`.
    """
    from backtest_matrix.engine._device import resolve_device

    cls = _strategy(strategy)
    config = config or EngineConfig()
    on = resolve_device(device)
    matrix = _combination_matrix(cls, combinations)
    own_names = cls.param_names()
    own = matrix[:, : len(own_names)]
    risk = matrix[:, len(own_names) :]
    order = np.lexsort(own.T[::-1]) if own.shape[1] else np.arange(len(own))
    own_sorted = own[order]
    starts = np.flatnonzero(np.r_[True, np.any(own_sorted[1:] != own_sorted[:-1], axis=1)])
    group_params = np.ascontiguousarray(own_sorted[starts])
    ts, open_, high, low, close, volume = bar_arrays(bars)
    cfg = engine_config_array(config, ts)
    risk_sorted = np.ascontiguousarray(risk[order])
    group_bounds = np.append(starts, len(order))
    if on == "cuda":
        from backtest_matrix.engine._sweep_cuda import sweep_cuda

        kpis_sorted = sweep_cuda(
            ts, day_starts(ts), (open_, high, low, close, volume), group_params, group_bounds, risk_sorted,
            cfg, cls.signals_nb,
        )  # fmt: skip
    else:
        from backtest_matrix.engine._sweep_nb import sweep_nb

        threads = numba.get_num_threads()
        tasks = sweep_tasks(group_bounds, threads=threads)
        kpis_sorted = sweep_nb(
            ts, day_starts(ts), open_, high, low, close, volume, group_params, tasks, risk_sorted, cfg,
            cls.signals_nb, threads,
        )  # fmt: skip
    kpis = np.empty_like(kpis_sorted)
    kpis[order] = kpis_sorted
    names = [param.name for param in cls.space()]
    result = pd.DataFrame(matrix, columns=names, index=combinations.index)
    return pd.concat([result, pd.DataFrame(kpis, columns=list(KPI_NAMES), index=combinations.index)], axis=1)


def sweep_in_chunks(
    bars: pd.DataFrame,
    strategy: str | type[Strategy],
    combinations: pd.DataFrame,
    chunk_rows: int,
    *,
    config: EngineConfig | None = None,
    device: str | None = None,
    on_chunk: Callable[[int, int], None] | None = None,
) -> pd.DataFrame:
    """:func:`sweep` in calls of at most ``chunk_rows`` rows (for progress reports and bounded memory), the
    same result in ``combinations``' row order.

    The rows are sorted by the strategy's own parameters first, so that the rows sharing their signals share
    one signal computation in one call (in the input's order, a chunk of random combinations shares almost
    nothing). ``on_chunk(done, total)`` is called after each call.
    """
    cls = _strategy(strategy)
    own = combinations.reindex(columns=cls.param_names()).to_numpy(np.float64)
    order = np.lexsort(own.T[::-1]) if own.shape[1] else np.arange(len(combinations))
    ordered = combinations.iloc[order]
    parts = []
    for start in range(0, len(ordered), chunk_rows):
        chunk = ordered.iloc[start : start + chunk_rows]
        parts.append(sweep(bars, cls, chunk, config=config, device=device))
        if on_chunk is not None:
            on_chunk(start + len(chunk), len(combinations))
    if not parts:
        return sweep(bars, cls, combinations, config=config, device=device)
    inverse = np.empty_like(order)
    inverse[order] = np.arange(len(order))
    return pd.concat(parts).iloc[inverse]


# Below this many groups per thread a sweep splits groups across the threads.
_FEW_GROUPS_PER_THREAD = 8


def sweep_tasks(group_bounds: np.ndarray, max_rows: int = 64, threads: int = 1) -> np.ndarray:
    """Split groups (rows ``group_bounds[g]:group_bounds[g + 1]``) into ``(group, start, stop)`` tasks.

    A task has at most ``max_rows`` rows. When there are few groups (under ``8 × threads``), a group with
    enough rows is cut into at least ``threads`` tasks, so that every thread has work; with many groups a
    group's rows stay in as few tasks as ``max_rows`` allows, as each task computes its group's signals.
    Tasks are ordered chunk by chunk across the groups (first chunks of all groups, then second chunks,
    ...), and with many groups that order is dealt round-robin over the threads (tasks ``0, threads,
    2 × threads, ...`` first), so that numba's static split of the task list into contiguous slices hands
    every thread a similar mix of cheap and expensive tasks: neighbouring groups have neighbouring
    parameters, and similar costs.
    """
    sizes = np.diff(group_bounds)
    chunks = -(-sizes // max_rows)
    few_groups = len(sizes) < _FEW_GROUPS_PER_THREAD * threads
    if few_groups:
        chunks = np.maximum(chunks, np.minimum(sizes, threads))
    rows_per_chunk = -(-sizes // np.maximum(chunks, 1))
    group = np.repeat(np.arange(len(sizes)), chunks)
    index_in_group = np.arange(len(group)) - np.repeat(np.cumsum(chunks) - chunks, chunks)
    start = group_bounds[group] + index_in_group * rows_per_chunk[group]
    stop = np.minimum(start + rows_per_chunk[group], group_bounds[group + 1])
    keep = start < stop
    tasks = np.column_stack([group, start, stop])[keep]
    order = np.lexsort((tasks[:, 0], index_in_group[keep]))
    if not few_groups:
        order = np.concatenate([order[thread :: max(threads, 1)] for thread in range(max(threads, 1))])
    return np.ascontiguousarray(tasks[order].astype(np.int64))


def _combination_matrix(cls: type[Strategy], combinations: pd.DataFrame) -> np.ndarray:
    """Validate ``combinations`` column by column (vectorised) and fill defaults."""
    space = cls.space()
    by_name = {param.name: param for param in space}
    for column in combinations.columns:
        if column not in by_name:
            from backtest_matrix.strategies import unknown_name_message

            raise StrategyError(
                unknown_name_message(f"sweep of {cls.name}", "parameter", str(column), by_name)
            )
    matrix = np.empty((len(combinations), len(space)))
    for i, param in enumerate(space):
        if param.name not in combinations.columns:
            matrix[:, i] = param.default
            continue
        values = combinations[param.name].to_numpy(dtype=np.float64)
        bad = ~np.isfinite(values) | (values < param.low) | (values > param.high)
        if param.kind == "int":
            bad |= values != np.round(values)
        if param.kind == "choice":
            bad |= ~np.isin(values, param.choices)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise StrategyError(
                f"sweep of {cls.name}: row {row}: {param.name}={float(values[row])!r} "
                f"is outside {param.kind} "
                f"[{param.low:g}, {param.high:g}]"
                + (f" choices {list(param.choices)}" if param.choices else "")
            )
        matrix[:, i] = values
    infeasible = ~cls.feasible(matrix[:, : len(cls.params)])
    if infeasible.any():
        row = int(np.flatnonzero(infeasible)[0])
        own = dict(zip(cls.param_names(), matrix[row, : len(cls.params)].tolist(), strict=True))
        cls.check_constraints(own, f"sweep of {cls.name}: row {row}")
    return matrix
