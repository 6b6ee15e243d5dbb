"""``tradeloop data list | show | check | export``."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

import typer
from rich.markup import escape
from rich.table import Table

from tradeloop._atomic import atomic_write_bytes
from tradeloop.cli._context import CliContext, get_context
from tradeloop.errors import DataSourceError

if TYPE_CHECKING:
    import pandas as pd

    from backtest_matrix import LoadedBars, QualityReport

data_app = typer.Typer(
    help="Market data: list sources, inspect, check quality, export.", no_args_is_help=True
)

SourceArg = Annotated[
    str,
    typer.Argument(
        help="sp500, nasdaq, synthetic, reverting, or a path to a .csv / .parquet file.", show_default=False
    ),
]
TimeframeOpt = Annotated[
    str | None,
    typer.Option("--timeframe", "-t", help="Bar timeframe (1m…1d); higher than the source's resamples it."),
]
DaysOpt = Annotated[
    float | None, typer.Option("--days", help="Length in days (synthetic) or the last N days.")
]
BarsOpt = Annotated[int | None, typer.Option("--bars", help="Length in bars (synthetic only).")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Seed of the synthetic series.")]
StartOpt = Annotated[
    str | None, typer.Option("--start", help="First timestamp of the synthetic series (UTC).")
]
MapOpt = Annotated[
    list[str] | None,
    typer.Option("--map", help="Column mapping for files, repeatable: --map open=Open --map volume=Vol."),
]
TimestampColumnOpt = Annotated[
    str | None, typer.Option("--timestamp-column", help="Timestamp column of a file (default: auto).")
]
UnitOpt = Annotated[str, typer.Option("--unit", help="Timestamp unit of a file: s, ms, iso or auto.")]
TzOpt = Annotated[str, typer.Option("--tz", help="Time zone of naive timestamps in a file.")]
MinHistoryOpt = Annotated[
    float | None, typer.Option("--min-history-days", help="Least history required. \\[default: 90]")
]


def min_history_quality(source: str, min_history_days: float | None) -> Any:
    """The source's default quality checks with ``--min-history-days`` applied; None when it is not given."""
    if min_history_days is None:
        return None
    from backtest_matrix import default_quality_config

    return replace(default_quality_config(source), min_history_days=min_history_days)


def _parse_mapping(pairs: list[str] | None) -> dict[str, str] | None:
    if not pairs:
        return None
    mapping: dict[str, str] = {}
    for pair in pairs:
        field_name, sep, column = pair.partition("=")
        if not sep or not field_name.strip() or not column.strip():
            raise DataSourceError(f"--map {pair!r} is not FIELD=COLUMN; write e.g. --map open=Open")
        key = field_name.strip().lower()
        if key in mapping:
            raise DataSourceError(
                f"--map {key} is given twice ({key}={mapping[key]} and {pair}); map each field once"
            )
        mapping[key] = column.strip()
    return mapping


def _load(cli: CliContext, source: str, *, check: bool, quality: Any = None, **options: Any) -> LoadedBars:
    from backtest_matrix import load_bars

    columns = _parse_mapping(options.pop("mapping"))
    return load_bars(
        source, columns=columns, cache_dir=cli.settings.cache_dir, check=check, quality=quality, **options
    )


def _summary(loaded: LoadedBars) -> dict[str, Any]:
    bars = loaded.bars
    return {
        "source": loaded.source,
        "timeframe": loaded.timeframe,
        "bars": len(bars),
        "first": bars.index[0].isoformat() if len(bars) else None,
        "last": bars.index[-1].isoformat() if len(bars) else None,
        "data_hash": loaded.data_hash,
        "quality": loaded.report.summary(),
    }


def _rows_table(frame: pd.DataFrame, title: str) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("timestamp (UTC)", no_wrap=True)
    for column in frame.columns:
        table.add_column(str(column), justify="right")
    for timestamp, row in frame.iterrows():
        cells = [f"{value:,.0f}" if name == "volume" else f"{value:,.6g}" for name, value in row.items()]
        table.add_row(f"{timestamp:%Y-%m-%d %H:%M}", *cells)
    return table


@data_app.command("list")
def list_sources(ctx: typer.Context) -> None:
    """List the built-in data sources."""
    from backtest_matrix import list_sources as sources

    cli = get_context(ctx)
    rows = [dict(source) if isinstance(source, dict) else vars(source) for source in sources()]
    if cli.json_output:
        cli.emit_json({"sources": rows})
        return
    table = Table("source", "timeframe", "calendar", "description")
    for row in rows:
        table.add_row(
            str(row.get("name")),
            str(row.get("timeframe")),
            str(row.get("calendar")),
            str(row.get("description")),
        )
    cli.console.print(table)
    cli.console.print("Files: pass a .csv or .parquet path as SOURCE (see --map, --unit, --tz).")


@data_app.command("show")
def show(
    ctx: typer.Context,
    source: SourceArg,
    timeframe: TimeframeOpt = None,
    days: DaysOpt = None,
    bars: BarsOpt = None,
    seed: SeedOpt = 0,
    start: StartOpt = None,
    mapping: MapOpt = None,
    timestamp_column: TimestampColumnOpt = None,
    unit: UnitOpt = "auto",
    tz: TzOpt = "UTC",
    rows: Annotated[int, typer.Option("--rows", help="Rows shown from the head and the tail.", min=0)] = 5,
    min_history_days: MinHistoryOpt = None,
) -> None:
    """Load a source (checked), then print its size, span, data hash and first/last bars."""
    cli = get_context(ctx)
    loaded = _load(
        cli, source, check=True, quality=min_history_quality(source, min_history_days), timeframe=timeframe,
        days=days, bars=bars, seed=seed, start=start, mapping=mapping, timestamp_column=timestamp_column,
        unit=unit, tz=tz,
    )  # fmt: skip
    summary = _summary(loaded)
    if cli.json_output:
        cli.emit_json(summary)
        return
    for key, value in summary.items():
        shown = f"{value:,}" if isinstance(value, int) else value
        cli.console.print(f"[bold]{key:>10}[/bold]  {shown}")
    if rows:
        cli.console.print(_rows_table(loaded.bars.head(rows), "head"))
        cli.console.print(_rows_table(loaded.bars.tail(rows), "tail"))


@data_app.command("check")
def check(
    ctx: typer.Context,
    source: SourceArg,
    timeframe: TimeframeOpt = None,
    days: DaysOpt = None,
    bars: BarsOpt = None,
    seed: SeedOpt = 0,
    start: StartOpt = None,
    mapping: MapOpt = None,
    timestamp_column: TimestampColumnOpt = None,
    unit: UnitOpt = "auto",
    tz: TzOpt = "UTC",
    calendar: Annotated[
        str | None, typer.Option("--calendar", help="24/7 or weekdays (weekends are not gaps).")
    ] = None,
    max_missing_bars: Annotated[
        int | None, typer.Option("--max-missing-bars", help="Tolerated missing bars in one gap.", min=0)
    ] = None,
    min_history_days: MinHistoryOpt = None,
    window_days: Annotated[
        float | None, typer.Option("--window-days", help="The window the data must cover.")
    ] = None,
) -> None:
    """Run the quality checks and print the findings; exit 1 when any finding is an error."""
    from backtest_matrix import default_quality_config

    cli = get_context(ctx)
    quality = default_quality_config(source)
    if calendar is not None:
        quality = replace(quality, calendar=_calendar(calendar))
    if max_missing_bars is not None:
        quality = replace(quality, max_missing_bars=max_missing_bars)
    if min_history_days is not None:
        quality = replace(quality, min_history_days=min_history_days)
    if window_days is not None:
        quality = replace(quality, window_days=window_days)
    loaded = _load(
        cli, source, check=False, quality=quality, timeframe=timeframe, days=days, bars=bars, seed=seed,
        start=start, mapping=mapping, timestamp_column=timestamp_column, unit=unit, tz=tz,
    )  # fmt: skip
    _print_report(cli, loaded, loaded.report)
    if loaded.report.errors:
        raise typer.Exit(1)


def _calendar(value: str) -> Literal["24/7", "weekdays"]:
    if value == "24/7":
        return "24/7"
    if value == "weekdays":
        return "weekdays"
    raise DataSourceError(f"--calendar {value!r} is not a calendar; use 24/7 or weekdays")


def _print_report(cli: CliContext, loaded: LoadedBars, report: QualityReport) -> None:
    if cli.json_output:
        cli.emit_json({**_summary(loaded), "ok": report.ok, "report": report.to_dict()})
        return
    status = "[green]PASS[/green]" if report.ok else "[red]FAIL[/red]"
    cli.console.print(
        f"{status} {loaded.source} ({loaded.timeframe}, {len(loaded.bars):,} bars): {report.summary()}"
    )
    for finding in report.findings:
        colour = "red" if finding.severity == "error" else "yellow"
        more = f" (+{finding.count - 1} more rows)" if finding.count > 1 else ""
        label = f"[{colour}]{finding.severity}[/{colour}]"
        cli.console.print(f"  {label} {escape(f'[{finding.check}] {finding.message}{more}')}")
        cli.console.print(f"      fix: {escape(finding.fix)}")


@data_app.command("export")
def export(
    ctx: typer.Context,
    source: SourceArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output file: .csv or .parquet.")],
    timeframe: TimeframeOpt = None,
    days: DaysOpt = None,
    bars: BarsOpt = None,
    seed: SeedOpt = 0,
    start: StartOpt = None,
    mapping: MapOpt = None,
    timestamp_column: TimestampColumnOpt = None,
    unit: UnitOpt = "auto",
    tz: TzOpt = "UTC",
    min_history_days: MinHistoryOpt = None,
) -> None:
    """Write the checked bars of a source to a CSV or Parquet file (atomically)."""
    cli = get_context(ctx)
    suffix = out.suffix.lower()
    if suffix not in {".csv", ".parquet", ".pq"}:
        shown = suffix or "(none)"
        raise DataSourceError(f"--out {str(out)!r}: unknown format {shown!r}; use .csv or .parquet")
    loaded = _load(
        cli, source, check=True, quality=min_history_quality(source, min_history_days), timeframe=timeframe,
        days=days, bars=bars, seed=seed, start=start, mapping=mapping, timestamp_column=timestamp_column,
        unit=unit, tz=tz,
    )  # fmt: skip
    atomic_write_bytes(out, _encode(loaded.bars, suffix))
    summary = {**_summary(loaded), "out": str(out)}
    if cli.json_output:
        cli.emit_json(summary)
    else:
        cli.console.print(f"wrote {summary['bars']:,} bars to {out} (data hash {loaded.data_hash})")


def _encode(bars: pd.DataFrame, suffix: str) -> bytes:
    frame = bars.rename_axis("timestamp")
    if suffix == ".csv":
        return frame.to_csv(date_format="%Y-%m-%dT%H:%M:%S%z").encode()
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    return buffer.getvalue()
