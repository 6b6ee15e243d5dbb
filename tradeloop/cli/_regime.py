"""``tradeloop regime detect | history``: the market regime of a data source, stored in the warehouse."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from tradeloop.cli._context import CliContext, get_context

if TYPE_CHECKING:
    import pandas as pd

    from warehouse import Warehouse

__all__ = ["regime_app"]

regime_app = typer.Typer(
    help="Market regimes (bull, bear, sideways, high_vol): detect them on a data source, store, list.",
    no_args_is_help=True,
)

BUILT_IN = ("sp500", "nasdaq", "synthetic")


def default_symbol(source: str) -> str:
    """The symbol stored for a source: ``SP500`` for ``sp500``, a file's stem for a file."""
    return source.upper() if source.lower() in BUILT_IN else Path(source).stem


@regime_app.command("detect")
def detect(
    ctx: typer.Context,
    data: Annotated[
        str, typer.Option("--data", "-d", help="sp500, nasdaq, synthetic, reverting or a .csv/.parquet path.")
    ],
    timeframe: Annotated[
        str | None, typer.Option("--timeframe", "-t", help="Resample to this timeframe.")
    ] = None,
    days: Annotated[
        float | None, typer.Option("--days", help="Synthetic length, or the last N days.")
    ] = None,
    data_seed: Annotated[int, typer.Option("--data-seed", help="Seed of the synthetic series.")] = 0,
    symbol: Annotated[
        str | None,
        typer.Option("--symbol", help="Symbol to store under. \\[default: SP500 for sp500, file stem]"),
    ] = None,
    recent: Annotated[int, typer.Option("--recent", help="Recent segments shown.", min=1)] = 5,
    store: Annotated[bool, typer.Option("--store", help="Store the segments in the warehouse.")] = False,
) -> None:
    """The current regime of a data source, its confidence and features, and the recent segments."""
    from backtest_matrix import load_bars
    from backtest_matrix.regimes import detect_regimes
    from tradeloop import git_sha
    from tradeloop.loop import detection_segments, store_segments
    from warehouse import get_warehouse

    cli = get_context(ctx)
    loaded = load_bars(data, timeframe=timeframe, days=days, seed=data_seed, cache_dir=cli.settings.cache_dir)
    detection = detect_regimes(loaded.bars)
    segments = detection_segments(detection)
    last = detection.features.iloc[-1]
    name = symbol or default_symbol(data)
    result: dict[str, Any] = {
        "source": loaded.source,
        "symbol": name,
        "timeframe": loaded.timeframe,
        "bars": len(loaded.bars),
        "data_hash": loaded.data_hash,
        "as_of": loaded.bars.index[-1].isoformat(),
        "regime": detection.labels.iloc[-1] if isinstance(detection.labels.iloc[-1], str) else None,
        "confidence": float(detection.confidence.iloc[-1]),
        "features": {
            "momentum_pct_per_day": float(last["momentum"]),
            "volatility_pct_per_day": float(last["volatility"]),
            "volume_strength": float(last["volume_strength"]),
        },
        "min_dwell_bars": detection.min_dwell_bars,
        "segments_total": len(segments),
        "segments": segments[-recent:],
        "stored": None,
        "run_id": None,
    }
    if store:
        with get_warehouse(cli.settings) as warehouse:
            provenance = {"git_sha": git_sha(cli.settings.repo), "data_hash": loaded.data_hash}
            result["run_id"], result["stored"] = store_segments(
                warehouse, segments, name, loaded.timeframe, provenance
            )
    if cli.json_output:
        cli.emit_json(result)
        return
    _print_detection(cli, result)


def _print_detection(cli: CliContext, result: dict[str, Any]) -> None:
    features = result["features"]
    cli.console.print(
        f"{result['symbol']} ({result['source']}, {result['timeframe']}) as of {result['as_of']}: "
        f"[bold]{result['regime']}[/bold], confidence {result['confidence']:.2f}; momentum "
        f"{features['momentum_pct_per_day']:+.2f} %/day, volatility {features['volatility_pct_per_day']:.2f} "
        f"%/day, volume strength {features['volume_strength']:.2f}"
    )
    table = Table("start", "end", "bars", "regime", "confidence", title="recent segments")
    for s in result["segments"]:
        table.add_row(s["start"], s["end"], str(s["bars"]), s["regime"], f"{s['confidence']:.2f}")
    cli.console.print(table)
    if result["stored"] is not None:
        cli.console.print(
            f"stored {result['stored']} new segment(s) in the warehouse (run {result['run_id']})"
        )


def _history_frame(warehouse: Warehouse, symbol: str | None, timeframe: str | None) -> pd.DataFrame:
    import pandas as pd
    from sqlalchemy import select

    from warehouse import RegimeDetection

    if symbol is not None:
        return warehouse.regime_history(symbol, timeframe)
    table = RegimeDetection.__table__
    with warehouse.engine.connect() as connection:
        symbols = sorted(connection.execute(select(table.c.symbol).distinct()).scalars())
    frames = [warehouse.regime_history(name, timeframe) for name in symbols]
    if not frames:
        return warehouse.regime_history("", timeframe)  # the empty frame with the right columns
    return pd.concat(frames, ignore_index=True)


@regime_app.command("refresh")
def refresh(
    ctx: typer.Context,
    data: Annotated[
        str | None,
        typer.Option("--data", "-d", help="Bars for every symbol. \\[default: matrix.yaml's sources]"),
    ] = None,
) -> None:
    """Detect and store the current regime of every live symbol/timeframe (the deployment job's step), so
    that `tradeloop deploy plan` shows the regime in force and any pending switch."""
    from tradeloop.loop import refresh_regimes

    cli = get_context(ctx)
    rows = refresh_regimes(cli.settings, data)
    if cli.json_output:
        cli.emit_json({"regimes": [row.to_json() for row in rows]})
        return
    for row in rows:
        cli.console.print(
            f"{row.symbol} ({row.timeframe}) as of {row.as_of}: {row.regime}, confidence "
            f"{row.confidence:.2f}; stored {row.stored} new segment(s)"
        )


@regime_app.command("history")
def history(
    ctx: typer.Context,
    symbol: Annotated[str | None, typer.Option("--symbol", help="Only this symbol.")] = None,
    timeframe: Annotated[str | None, typer.Option("--timeframe", "-t", help="Only this timeframe.")] = None,
    limit: Annotated[int, typer.Option("--limit", help="Latest rows per symbol shown.", min=1)] = 50,
) -> None:
    """Stored regime detections, by symbol and window end."""
    from warehouse import get_warehouse

    cli = get_context(ctx)
    with get_warehouse(cli.settings) as warehouse:
        frame = _history_frame(warehouse, symbol, timeframe)
    frame = frame.groupby("symbol", sort=True, group_keys=False).tail(limit) if len(frame) else frame
    rows = [
        {
            "symbol": row["symbol"],
            "timeframe": row["timeframe"],
            "window_start": row["window_start"].isoformat(),
            "window_end": row["window_end"].isoformat(),
            "regime": row["regime"],
            "confidence": row["confidence"],
            "momentum_pct_per_day": row["momentum_pct_per_day"],
            "volatility_pct_per_day": row["volatility"],
            "volume_strength": row["volume_strength"],
            "run_id": row["run_id"],
            "detected_at": row["detected_at"].isoformat(),
        }
        for row in frame.to_dict("records")
    ]
    if cli.json_output:
        cli.emit_json({"detections": rows})
        return
    table = Table(
        "symbol", "tf", "start", "end", "regime", "confidence", "momentum %/day", title="regime history"
    )
    for row in rows:
        table.add_row(
            row["symbol"], row["timeframe"], row["window_start"], row["window_end"], row["regime"],
            f"{row['confidence']:.2f}", f"{row['momentum_pct_per_day']:+.2f}",
        )  # fmt: skip
    cli.console.print(table)
    if not rows:
        cli.console.print("no regime detections stored; run `tradeloop regime detect --data SRC --store`")
