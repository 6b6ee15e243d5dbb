"""The matrix planner: spec → work units → balanced, deterministic shards.

Terms:

- a **cell** is one backtest: (strategy, symbol, timeframe, window, parameter set), keyed by its cell hash;
- a **work unit** is one (strategy, symbol, timeframe, window) with all its parameter sets. Its cost is
  ``parameter sets × (bars in the window + OVERHEAD_BARS)``: the kernel's work grows with the bars, and every
  backtest also pays a fixed cost (the pandas wrapper, the regime KPIs, the record) that
  :data:`OVERHEAD_BARS` expresses in bar-equivalents.

Units are dealt to shards by the LPT rule (longest processing time first): sorted by (−cost, key), each
goes to the shard with the least cost so far (the lowest index on ties). The result depends only on the
spec, the data and the code, never on the machine, so every runner of a sharded run computes the same plan.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pandas as pd

import tradeloop
from backtest_matrix.data import LoadedBars, load_bars
from backtest_matrix.engine._kernel_cache import kernel_source_hash
from backtest_matrix.matrix._neighbourhood import draw_neighbourhood
from backtest_matrix.matrix._spec import MatrixCell, MatrixSpec
from backtest_matrix.strategies import get_strategy
from tradeloop import canonical_json
from tradeloop.errors import SettingsError

__all__ = [
    "DEFAULT_MAX_CELLS",
    "MAX_SHARDS",
    "OVERHEAD_BARS",
    "ParamSet",
    "Plan",
    "PlannedCell",
    "WorkUnit",
    "cell_hash",
    "engine_version",
    "parameter_sets",
    "parse_shard",
    "plan",
    "window_slice",
]

#: The most cells a plan holds unless the caller raises it (CLI: --max-cells): about 8 minutes of one shard
#: on 2 workers at the measured ~200 cells/s, and ~140 MB of logs.
DEFAULT_MAX_CELLS = 100_000
#: GitHub Actions runs at most 256 jobs of one matrix.
MAX_SHARDS = 256

#: Fixed cost of one backtest in bar-equivalents: benchmarks/matrix.py measured one cell at 12.8 ms on a
#: 19-bar window and 16.7 ms on a 5,031-bar one (2 vCPUs, loaded), so the fixed part (wrapper, regime KPIs,
#: record) weighs as much as ~16,700 bars.
OVERHEAD_BARS = 15_000


@cache
def engine_version() -> str:
    """tradeloop's version plus a hash of the kernel sources: a changed engine never reuses old cells."""
    return f"{tradeloop.__version__}+kernels.{kernel_source_hash()[:12]}"


def cell_hash(
    *,
    strategy: str,
    symbol: str,
    timeframe: str,
    window: str,
    params: Mapping[str, float],
    data_hash: str,
    engine_version: str,
) -> str:
    """The key of a cell (32 hex characters): what determines its result, and nothing about the run."""
    payload = {
        "strategy": strategy,
        "symbol": symbol,
        "timeframe": timeframe,
        "window": window,
        "params": dict(params),
        "data_hash": data_hash,
        "engine_version": engine_version,
    }
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()[:32]


def window_slice(index: pd.DatetimeIndex, days: int | None) -> slice:
    """The bars of a rolling window: those after ``last bar - days`` (all of them when ``days`` is None)."""
    if days is None or len(index) == 0:
        return slice(0, len(index))
    first = int(index.searchsorted(index[-1] - pd.Timedelta(days=days), side="right"))
    return slice(first, len(index))


def parse_shard(text: str) -> tuple[int, int]:
    """``"i/N"`` → ``(i, N)`` with ``1 <= i <= N``; raises :class:`SettingsError` otherwise."""
    index, sep, count = text.partition("/")
    if sep and index.strip().isdigit() and count.strip().isdigit():
        i, n = int(index), int(count)
        if 1 <= i <= n:
            return i, n
    raise SettingsError(f"--shard {text!r} is not i/N with 1 <= i <= N; write e.g. --shard 2/4")


@dataclass(frozen=True)
class ParamSet:
    """One parameter set of a (strategy, symbol): ``live``, ``base`` or a neighbour ``n01``…"""

    name: str
    params: Mapping[str, float]


@dataclass(frozen=True)
class PlannedCell:
    """One backtest of a unit: its parameter set and cell hash."""

    cell_hash: str
    param_set: str
    params: Mapping[str, float]


@dataclass(frozen=True)
class WorkUnit:
    """One (strategy, symbol, timeframe, window) with its parameter sets, the unit of sharding."""

    cell: MatrixCell
    data_hash: str
    bars: int
    window_start: str
    window_end: str
    cells: tuple[PlannedCell, ...]

    @property
    def key(self) -> str:
        return f"{self.cell.strategy}/{self.cell.symbol}/{self.cell.timeframe}/{self.cell.window.name}"

    @property
    def cost(self) -> int:
        return len(self.cells) * (self.bars + OVERHEAD_BARS)


@dataclass(frozen=True)
class Plan:
    """The work units of a matrix and their shards.

    Attributes
    ----------
    spec
        The matrix it was planned from.
    shards
        The shard count N.
    units
        Every work unit, in matrix order.
    assignment
        The 1-based shard of each unit (same order as ``units``).
    engine_version
        The engine version inside every cell hash.
    """

    spec: MatrixSpec
    shards: int
    units: tuple[WorkUnit, ...]
    assignment: tuple[int, ...]
    engine_version: str

    def shard(self, index: int) -> tuple[WorkUnit, ...]:
        """The units of shard ``index`` (1-based), in matrix order."""
        return tuple(unit for unit, s in zip(self.units, self.assignment, strict=True) if s == index)

    def shard_cost(self, index: int) -> int:
        return sum(unit.cost for unit in self.shard(index))

    @property
    def cells(self) -> int:
        return sum(len(unit.cells) for unit in self.units)

    def to_json(self) -> dict[str, Any]:
        """The GitHub Actions matrix of the shards (``strategy.matrix: ${{ fromJSON(...) }}``).

        ``{"shard": ["1/N", ..., "N/N"], "include": [{"shard": "i/N", "units": u, "cells": c, "cost": k},
        ...]}``: one job per ``shard`` value; ``include`` only adds facts to each job, and every other key
        would be read by Actions as another matrix axis, so there is none.
        """
        labels = [f"{i}/{self.shards}" for i in range(1, self.shards + 1)]
        include = []
        for i, label in enumerate(labels, 1):
            units = self.shard(i)
            include.append(
                {
                    "shard": label,
                    "units": len(units),
                    "cells": sum(len(unit.cells) for unit in units),
                    "cost": sum(unit.cost for unit in units),
                }
            )
        return {"shard": labels, "include": include}


def parameter_sets(spec: MatrixSpec, strategy: str, symbol: str) -> tuple[ParamSet, ...]:
    """The base set (``live`` or ``base``) of a pair followed by its neighbours ``n01``…"""
    base = spec.base_params[strategy][symbol]
    first = ParamSet("live" if spec.is_live(strategy, symbol) else "base", dict(base))
    hood = spec.neighbourhood
    neighbours = draw_neighbourhood(get_strategy(strategy), base, hood.samples, hood.seed, symbol=symbol)
    width = max(2, len(str(len(neighbours))))
    return (first, *(ParamSet(f"n{i:0{width}d}", values) for i, values in enumerate(neighbours, 1)))


def plan(
    spec: MatrixSpec, shards: int, *, cache_dir: Path | None = None, max_cells: int = DEFAULT_MAX_CELLS
) -> Plan:
    """Expand ``spec`` into work units and deal them to ``shards`` shards.

    Parameters
    ----------
    spec
        A validated matrix.
    shards
        How many shards (runners), >= 1.
    cache_dir
        The bars' Parquet cache (``Settings.cache_dir``); the plan loads every (source, timeframe) once to
        count the bars of each window and to hash the data.
    max_cells
        The most cells the matrix may hold; a larger one is refused before anything is loaded or drawn.

    Returns
    -------
    Plan

    Raises
    ------
    SettingsError
        ``shards`` outside 1 … 256, or more cells than ``max_cells``.
    DataError
        A source cannot be loaded or fails its quality checks.
    """
    if isinstance(shards, bool) or not isinstance(shards, int) or not 1 <= shards <= MAX_SHARDS:
        raise SettingsError(
            f"--shards must be a whole number from 1 to {MAX_SHARDS} (the most jobs of one GitHub Actions "
            f"matrix), got {shards!r}"
        )
    if spec.cell_count > max_cells:
        raise SettingsError(
            f"{spec.source}: the matrix has {spec.cell_count:,} cells, above the cap of {max_cells:,}; fewer "
            f"strategies, symbols, windows or neighbourhood.samples, or raise the cap with --max-cells "
            f"{spec.cell_count}"
        )
    version = engine_version()
    loaded: dict[tuple[str, str], LoadedBars] = {}
    sets = {
        (strategy, symbol): parameter_sets(spec, strategy, symbol)
        for strategy, symbols in spec.strategies.items()
        for symbol in symbols
    }
    units = []
    for cell in spec.cells():
        key = (cell.source, cell.timeframe)
        if key not in loaded:
            loaded[key] = load_bars(cell.source, timeframe=cell.timeframe, cache_dir=cache_dir)
        units.append(_unit(cell, loaded[key], sets[(cell.strategy, cell.symbol)], version))
    return Plan(spec, shards, tuple(units), _deal(units, shards), version)


def _unit(cell: MatrixCell, data: LoadedBars, sets: tuple[ParamSet, ...], version: str) -> WorkUnit:
    index = pd.DatetimeIndex(data.bars.index)
    window = index[window_slice(index, cell.window.days)]
    cells = tuple(
        PlannedCell(
            cell_hash(
                strategy=cell.strategy, symbol=cell.symbol, timeframe=cell.timeframe,
                window=cell.window.name, params=param_set.params, data_hash=data.data_hash,
                engine_version=version,
            ),
            param_set.name,
            param_set.params,
        )
        for param_set in sets
    )  # fmt: skip
    return WorkUnit(
        cell=cell,
        data_hash=data.data_hash,
        bars=len(window),
        window_start=window[0].isoformat() if len(window) else "",
        window_end=window[-1].isoformat() if len(window) else "",
        cells=cells,
    )


def _deal(units: list[WorkUnit], shards: int) -> tuple[int, ...]:
    """LPT: the costliest unit first, each to the least-loaded shard (lowest index on ties)."""
    loads = [0] * shards
    assignment = [0] * len(units)
    for position in sorted(range(len(units)), key=lambda i: (-units[i].cost, units[i].key)):
        target = min(range(shards), key=lambda s: (loads[s], s))
        loads[target] += units[position].cost
        assignment[position] = target + 1
    return tuple(assignment)
