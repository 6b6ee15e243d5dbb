"""``tradeloop backtest`` and ``tradeloop sweep``: run strategies over a data source."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from tradeloop._atomic import atomic_write_text
from tradeloop._provenance import Provenance, config_hash, json_safe
from tradeloop._schema import did_you_mean
from tradeloop.cli._context import CliContext, get_context
from tradeloop.cli._data import (
    MapOpt,
    MinHistoryOpt,
    TimestampColumnOpt,
    TzOpt,
    UnitOpt,
    _load,
    min_history_quality,
)
from tradeloop.errors import StrategyError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from backtest_matrix.engine import EngineConfig
    from backtest_matrix.strategies import Strategy

StrategyOpt = Annotated[
    str, typer.Option("--strategy", "-s", help="Strategy name (see `tradeloop strategies`).")
]
DataOpt = Annotated[
    str, typer.Option("--data", "-d", help="sp500, nasdaq, synthetic, reverting or a .csv/.parquet path.")
]
TimeframeOpt = Annotated[
    str | None, typer.Option("--timeframe", "-t", help="Resample the data to this timeframe.")
]
DaysOpt = Annotated[
    float | None, typer.Option("--days", help="Synthetic length, or the last N days of data.")
]
DataSeedOpt = Annotated[int, typer.Option("--data-seed", help="Seed of the synthetic series.")]
ParamOpt = Annotated[list[str] | None, typer.Option("--param", "-p", help="Fix a parameter: -p ema_fast=12.")]
FillOpt = Annotated[str, typer.Option("--fill", help="next_open (default) or close (vectorbt's convention).")]
FeeOpt = Annotated[float, typer.Option("--fee-bps", help="Fee per side, in basis points.")]
SlippageOpt = Annotated[float, typer.Option("--slippage-bps", help="Slippage per side, in basis points.")]
DirectionOpt = Annotated[str, typer.Option("--direction", help="long or long_short.")]
DeviceOpt = Annotated[
    str | None,
    typer.Option(
        "--device",
        help="auto (a CUDA GPU when present), cpu or cuda. \\[default: TRADELOOP_DEVICE, else auto]",
    ),
]


#: The KPIs whose best value is the smallest: ``sweep --sort`` ranks them ascending.
LOWER_IS_BETTER = frozenset({"max_drawdown_pct", "max_consecutive_losses"})

#: The most combinations ``sweep`` evaluates unless --max-combinations raises it (about 170 MB of results).
DEFAULT_MAX_COMBINATIONS = 1_000_000


def _parse_assignments(pairs: list[str] | None, option: str) -> dict[str, str]:
    parsed: dict[str, str] = {}
    for pair in pairs or []:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise StrategyError(f"{option} {pair!r} is not NAME=VALUE; write e.g. {option} ema_fast=12")
        if name.strip() in parsed:
            raise StrategyError(
                f"{option} {name.strip()} is given twice ({name.strip()}={parsed[name.strip()]} and {pair}); "
                "give each parameter once"
            )
        parsed[name.strip()] = value.strip()
    return parsed


def _number(text: str, where: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise StrategyError(f"{where}: {text!r} is not a number") from None


def _engine_config(fill: str, fee_bps: float, slippage_bps: float, direction: str) -> EngineConfig:
    from backtest_matrix.engine import EngineConfig

    fills: dict[str, Literal["next_open", "close"]] = {"next_open": "next_open", "close": "close"}
    directions: dict[str, Literal["long", "long_short"]] = {"long": "long", "long_short": "long_short"}
    if fill not in fills:
        hint = did_you_mean(fill, fills)
        raise StrategyError(f"--fill {fill!r} is not a fill mode; use next_open or close.{hint}")
    if direction not in directions:
        hint = did_you_mean(direction, directions)
        raise StrategyError(f"--direction {direction!r} is not a direction; use long or long_short.{hint}")
    return EngineConfig(
        fill=fills[fill], fee_bps=fee_bps, slippage_bps=slippage_bps, direction=directions[direction]
    )


def _run_dir(cli: CliContext, provenance: Provenance) -> Path:
    path = cli.settings.run_dir(provenance.run_id)
    path.mkdir(parents=True, exist_ok=True)
    return path


def backtest(
    ctx: typer.Context,
    strategy: StrategyOpt,
    data: DataOpt,
    timeframe: TimeframeOpt = None,
    days: DaysOpt = None,
    data_seed: DataSeedOpt = 0,
    param: ParamOpt = None,
    fill: FillOpt = "next_open",
    fee_bps: FeeOpt = 0.0,
    slippage_bps: SlippageOpt = 0.0,
    direction: DirectionOpt = "long",
    mapping: MapOpt = None,
    timestamp_column: TimestampColumnOpt = None,
    unit: UnitOpt = "auto",
    tz: TzOpt = "UTC",
    min_history_days: MinHistoryOpt = None,
) -> None:
    """Backtest one parameter set: print the KPIs and write the trades to the run directory."""
    from backtest_matrix.engine import backtest as run_backtest
    from backtest_matrix.strategies import get_strategy

    cli = get_context(ctx)
    cls = get_strategy(strategy)
    params = {k: _number(v, f"--param {k}") for k, v in _parse_assignments(param, "--param").items()}
    config = _engine_config(fill, fee_bps, slippage_bps, direction)
    files = FileOptions(mapping, timestamp_column, unit, tz, min_history_days)
    loaded = _data(cli, data, timeframe, days, data_seed, files)
    result = run_backtest(loaded.bars, cls, params, config=config)
    provenance = Provenance.capture(cli.settings.repo)
    run_dir = _run_dir(cli, provenance)
    trades_path = run_dir / "trades.csv"
    atomic_write_text(trades_path, result.trades.to_csv(index=False))
    summary = {
        **provenance.as_dict(),
        "strategy": cls.name,
        "data": loaded.source,
        "timeframe": loaded.timeframe,
        "data_hash": loaded.data_hash,
        "config_hash": config_hash(result.params),
        "params": result.params,
        "fill": config.fill,
        "kpis": result.kpis,
        "trades_csv": str(trades_path),
    }
    atomic_write_text(run_dir / "run.json", json.dumps(json_safe(summary), indent=2, allow_nan=False) + "\n")
    if cli.json_output:
        cli.emit_json(summary)
        return
    table = Table(
        "KPI", "value", title=f"{cls.name} on {loaded.source} ({loaded.timeframe}, {len(loaded.bars):,} bars)"
    )
    for name, value in result.kpis.items():
        table.add_row(name, f"{value:,.4g}")
    cli.console.print(table)
    cli.console.print(f"{len(result.trades)} trades written to {trades_path}")


@dataclass(frozen=True)
class FileOptions:
    """How a .csv / .parquet ``--data`` is read (``data show``'s options of the same names)."""

    mapping: list[str] | None = None
    timestamp_column: str | None = None
    unit: str = "auto"
    tz: str = "UTC"
    min_history_days: float | None = None


def _data(
    cli: CliContext, source: str, timeframe: str | None, days: float | None, seed: int, files: FileOptions
) -> Any:
    return _load(
        cli, source, check=True, quality=min_history_quality(source, files.min_history_days),
        timeframe=timeframe, days=days, bars=None, seed=seed, start=None, mapping=files.mapping,
        timestamp_column=files.timestamp_column, unit=files.unit, tz=files.tz,
    )  # fmt: skip


def _grid(cls: type[Strategy], specs: dict[str, str], max_combinations: int) -> dict[str, np.ndarray]:
    """The grid's axes; its size is computed and checked against the cap before any axis is allocated."""
    import numpy as np

    ranges: dict[str, tuple[float, float, float]] = {}
    for name, spec in specs.items():
        parts = spec.split(":")
        if len(parts) != 3:
            raise StrategyError(f"--grid {name}={spec!r} is not LO:HI:STEP; write e.g. --grid {name}=5:50:5")
        low, high, step = (_number(part, f"--grid {name}") for part in parts)
        if not all(math.isfinite(v) for v in (low, high, step)) or step <= 0 or high < low:
            raise StrategyError(f"--grid {name}={spec!r}: need finite LO <= HI and STEP > 0")
        ranges[name] = (low, high, step)
    sizes = {name: math.floor((high - low) / step + 0.5) + 1 for name, (low, high, step) in ranges.items()}
    _check_cap(math.prod(sizes.values()), max_combinations, "--grid " + " x ".join(map(str, sizes.values())))
    return {
        name: np.round(np.arange(low, high + step / 2, step), 10)
        for name, (low, high, step) in ranges.items()
    }


def _check_cap(count: int, cap: int, what: str) -> None:
    if count > cap:
        raise StrategyError(
            f"{what} gives {count:,} combinations, above the cap of {cap:,}; narrow the ranges, widen the "
            f"steps, or raise the cap with --max-combinations {count}"
        )


def _combinations(
    cls: type[Strategy],
    grid: dict[str, str],
    random: int | None,
    seed: int,
    fixed: dict[str, float],
    max_combinations: int = DEFAULT_MAX_COMBINATIONS,
) -> pd.DataFrame:
    import numpy as np
    import pandas as pd

    if grid and random:
        raise StrategyError("use either --grid or --random, not both")
    if grid:
        axes = _grid(cls, grid, max_combinations)
        mesh = np.meshgrid(*axes.values(), indexing="ij")
        frame = pd.DataFrame({name: values.ravel() for name, values in zip(axes, mesh, strict=True)})
    elif random:
        _check_cap(random, max_combinations, f"--random {random}")
        rng = np.random.default_rng(seed)
        columns = {}
        for param in cls.params:
            if param.kind == "choice":
                columns[param.name] = rng.choice(np.array(param.choices), size=random)
            elif param.kind == "int":
                columns[param.name] = rng.integers(int(param.low), int(param.high) + 1, size=random).astype(
                    float
                )
            else:
                columns[param.name] = rng.uniform(param.low, param.high, size=random)
        frame = pd.DataFrame(columns)
    else:
        raise StrategyError("give a search space: --grid NAME=LO:HI:STEP (repeatable) or --random N")
    for name, value in fixed.items():
        frame[name] = value
    own = frame.reindex(columns=cls.param_names()).fillna(cls.defaults()).to_numpy(float)
    return frame[cls.feasible(own)].reset_index(drop=True)


def sweep(
    ctx: typer.Context,
    strategy: StrategyOpt,
    data: DataOpt,
    grid: Annotated[list[str] | None, typer.Option("--grid", "-g", help="Axis: -g ema_fast=5:50:5.")] = None,
    random: Annotated[
        int | None, typer.Option("--random", min=1, help="Sample N combinations in the hard bounds.")
    ] = None,
    max_combinations: Annotated[
        int, typer.Option("--max-combinations", min=1, help="Refuse a larger grid or sample.")
    ] = DEFAULT_MAX_COMBINATIONS,
    seed: Annotated[int, typer.Option("--seed", help="Seed of --random.")] = 0,
    top: Annotated[int, typer.Option("--top", help="Rows shown, best first.", min=1)] = 10,
    sort: Annotated[
        str,
        typer.Option(
            "--sort",
            help="KPI to rank by, best first: descending, but ascending for max_drawdown_pct and "
            "max_consecutive_losses.",
        ),
    ] = "sharpe",
    min_trades: Annotated[int, typer.Option("--min-trades", help="Drop combinations with fewer trades.")] = 0,
    timeframe: TimeframeOpt = None,
    days: DaysOpt = None,
    data_seed: DataSeedOpt = 0,
    param: ParamOpt = None,
    fill: FillOpt = "next_open",
    fee_bps: FeeOpt = 0.0,
    slippage_bps: SlippageOpt = 0.0,
    direction: DirectionOpt = "long",
    device: DeviceOpt = None,
    mapping: MapOpt = None,
    timestamp_column: TimestampColumnOpt = None,
    unit: UnitOpt = "auto",
    tz: TzOpt = "UTC",
    min_history_days: MinHistoryOpt = None,
) -> None:
    """Evaluate many combinations with the batch engine; show the top K and save all to the run directory."""

    from backtest_matrix.engine import KPI_NAMES, resolve_device, sweep_in_chunks
    from backtest_matrix.strategies import get_strategy, unknown_name_message

    cli = get_context(ctx)
    cls = get_strategy(strategy)
    if sort not in KPI_NAMES:
        raise StrategyError(unknown_name_message("--sort", "KPI", sort, KPI_NAMES))
    fixed = {k: _number(v, f"--param {k}") for k, v in _parse_assignments(param, "--param").items()}
    combos = _combinations(cls, _parse_assignments(grid, "--grid"), random, seed, fixed, max_combinations)
    if combos.empty:
        raise StrategyError(
            f"no feasible combination for {cls.name}; check --grid ranges against its constraints"
        )
    config = _engine_config(fill, fee_bps, slippage_bps, direction)
    on = resolve_device(device or cli.settings.device)
    files = FileOptions(mapping, timestamp_column, unit, tz, min_history_days)
    loaded = _data(cli, data, timeframe, days, data_seed, files)
    # About 20 chunks for the progress bar, of at least 2,000 rows: each sweep call packs the bars again and
    # ends with threads waiting for the last task, so more chunks cost more. A GPU takes large ones.
    rows = max(2_000, -(-len(combos) // 20)) if on == "cpu" else 250_000
    with Progress(
        TextColumn("sweep"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=cli.console, disable=cli.json_output, transient=True,
    ) as progress:  # fmt: skip
        task = progress.add_task("sweep", total=len(combos))
        table_all = sweep_in_chunks(
            loaded.bars, cls, combos, rows, config=config, device=on,
            on_chunk=lambda done, _: progress.update(task, completed=done),
        )  # fmt: skip
    table_all = table_all[table_all["trades"] >= min_trades]
    ranked = table_all.sort_values(sort, ascending=sort in LOWER_IS_BETTER, na_position="last")
    provenance = Provenance.capture(cli.settings.repo)
    run_dir = _run_dir(cli, provenance)
    atomic_write_text(run_dir / "sweep.csv", _csv_text(ranked))
    best = ranked.head(top)
    if cli.json_output:
        cli.emit_json(
            {
                **provenance.as_dict(),
                "strategy": cls.name,
                "data": loaded.source,
                "data_hash": loaded.data_hash,
                "combinations": len(combos),
                "device": on,
                "kept": len(ranked),
                "sort": sort,
                "results_csv": str(run_dir / "sweep.csv"),
                "top": best.to_dict("records"),
            }
        )
        return
    shown = [*cls.param_names(), *[c for c in fixed if c not in cls.param_names()], "return_pct", "sharpe",
             "max_drawdown_pct", "win_rate_pct", "trades"]  # fmt: skip
    table = Table(*shown, title=f"top {len(best)} of {len(ranked):,} by {sort}")
    for row in best.to_dict("records"):
        table.add_row(*(f"{row[c]:,.4g}" for c in shown))
    cli.console.print(table)
    cli.console.print(f"all {len(ranked):,} rows written to {run_dir / 'sweep.csv'}")


def _csv_text(frame: Any) -> str:
    """``frame`` as CSV text, written by Arrow (a tenth of pandas' time at 50,000 rows); the same values as
    ``frame.to_csv(index=False)`` (shortest round-trip floats, empty NaN), whole floats without ``.0``."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    sink = pa.BufferOutputStream()
    options = pa_csv.WriteOptions(include_header=False, quoting_style="needed")
    pa_csv.write_csv(pa.Table.from_pandas(frame, preserve_index=False), sink, options)
    header = ",".join(str(column) for column in frame.columns)
    return header + "\n" + bytes(sink.getvalue()).decode()


def strategies(
    ctx: typer.Context,
    name: Annotated[str | None, typer.Argument(help="Show one strategy's parameter space.")] = None,
) -> None:
    """List the strategies, or one strategy's parameters with their bounds and per-cycle step caps."""
    from backtest_matrix.strategies import get_strategy, strategy_names

    cli = get_context(ctx)
    chosen = [get_strategy(name)] if name else [get_strategy(n) for n in strategy_names()]
    spaces = {cls.name: (cls.description, cls.space() if name else cls.params) for cls in chosen}
    if cli.json_output:
        cli.emit_json(
            {
                strategy_name: {"description": description, "params": [asdict(p) for p in params]}
                for strategy_name, (description, params) in spaces.items()
            }
        )
        return
    for strategy_name, (description, params) in spaces.items():
        table = Table("parameter", "kind", "bounds", "default", "max step", "meaning", title=strategy_name)
        for p in params:
            bounds = f"{list(p.choices)}" if p.choices else f"[{p.low:g}, {p.high:g}]"
            table.add_row(p.name, p.kind, bounds, f"{p.default:g}", f"{p.max_step_pct:g}%", p.doc)
        cli.console.print(description)
        cli.console.print(table)
