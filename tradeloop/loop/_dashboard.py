"""``dashboard``: the static site of a home, from its warehouse, its repository's history, the optimizer's
studies, the latest nightly flags and the live pairs' bars (``tradeloop dashboard``, and the end of
``tradeloop cycle``).

A missing warehouse (a fresh home) gives a site whose panels say "No data yet"; a warehouse of a newer
schema is refused by the warehouse's own error. What else cannot be read (no git history, no study, no bars)
becomes a note on the page, never a failure: the dashboard shows what there is.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tradeloop._settings import Settings
from tradeloop.errors import TradeloopError

if TYPE_CHECKING:
    import pandas as pd

    from backtest_matrix.matrix import Flag
    from reports import DashboardData, DashboardSite, StudySummary

__all__ = ["DashboardOptions", "dashboard", "dashboard_data"]


@dataclass(frozen=True)
class DashboardOptions:
    """Where to write the site and what to read (``tradeloop dashboard``'s options).

    ``base`` is the branch whose history of the live state is shown; ``storage`` the optimizer's storage
    (default: the home's ``optuna.db``); ``prices``: load each live pair's bars for buy-and-hold;
    ``summary``: the file the markdown summary is appended to (default ``$GITHUB_STEP_SUMMARY`` when set).
    """

    out: Path
    base: str = "HEAD"
    storage: str | None = None
    prices: bool = True
    summary: Path | None = None


def dashboard(settings: Settings, options: DashboardOptions) -> DashboardSite:
    """Read the home's data (:func:`dashboard_data`) and write the site into ``options.out``.

    Raises
    ------
    tradeloop.errors.WarehouseError
        The warehouse is unreachable or of a newer schema than this code.
    """
    from reports import write_dashboard
    from tradeloop._atomic import append_bytes
    from tradeloop.loop._matrix import STEP_SUMMARY_ENV

    site = write_dashboard(dashboard_data(settings, options), options.out)
    summary = options.summary or (
        Path(os.environ[STEP_SUMMARY_ENV]) if os.environ.get(STEP_SUMMARY_ENV) else None
    )
    if summary is not None:
        append_bytes(summary, site.markdown().encode("utf-8"), "cannot append the dashboard's summary")
    return site


def dashboard_data(settings: Settings, options: DashboardOptions) -> DashboardData:
    """Everything the panels show; empty where a source has nothing yet (module docstring)."""
    from reports import DashboardData

    notes: list[str] = []
    tables, source = _tables(settings, notes)
    changes, rejections = _history(settings, options.base, notes)
    flags, flags_run = _flags(settings, tables.get("backtests"), notes)
    prices = _prices(settings, tables.get("equity"), notes) if options.prices else {}
    return DashboardData(
        generated_at=settings.current_time(), tables=tables, changes=changes, rejections=rejections,
        flags=flags, flags_run=flags_run, studies=_studies(settings, options.storage, notes), prices=prices,
        max_delta=_max_delta(settings, notes), source=f"{source} and {settings.repo}", notes=tuple(notes),
    )  # fmt: skip


def _tables(settings: Settings, notes: list[str]) -> tuple[dict[str, pd.DataFrame], str]:
    from reports import read_warehouse_tables
    from warehouse import get_warehouse

    database = settings.home / "warehouse.db"
    if settings.db_url is None and not database.is_file():
        notes.append(f"no warehouse yet at {database}: run `tradeloop cycle` or `tradeloop matrix merge`")
        return {}, f"no warehouse ({database})"
    with get_warehouse(settings.warehouse_url) as warehouse:
        return read_warehouse_tables(warehouse), f"the warehouse {warehouse.url}"


def _history(settings: Settings, base: str, notes: list[str]) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    from gitops import read_memory

    try:
        memory = read_memory(settings.repo, base)
    except TradeloopError as exc:
        if base != "HEAD":  # a --base given that cannot be read is an error, not an empty panel
            raise
        notes.append(f"no git history of the live state: {exc}")
        return (), ()
    return memory.changes, memory.rejections


def _flags(
    settings: Settings, backtests: pd.DataFrame | None, notes: list[str]
) -> tuple[tuple[Flag, ...], str | None]:
    """The flags the latest matrix run wrote next to its nightly report."""
    from backtest_matrix.matrix import Flag
    from reports import FLAGS_FILE

    if backtests is None or backtests.empty:
        return (), None
    run_id = str(backtests.sort_values("created_at")["run_id"].iloc[-1])
    path = settings.run_dir(run_id) / FLAGS_FILE
    if not path.is_file():
        notes.append(f"no flags of the latest matrix run {run_id} at {path}")
        return (), run_id
    try:
        return tuple(Flag(**flag) for flag in json.loads(path.read_text())), run_id
    except (ValueError, TypeError) as exc:
        notes.append(f"{path}: unreadable flags ({exc}); rerun `tradeloop matrix merge` to rewrite them")
        return (), run_id


def _studies(settings: Settings, storage: str | None, notes: list[str]) -> tuple[StudySummary, ...]:
    from sqlalchemy.exc import SQLAlchemyError

    from optimizer import default_storage_url
    from reports import read_studies

    if storage is None and not (settings.home / "optuna.db").is_file():
        return ()
    url = storage or default_storage_url(settings.home)
    try:
        return read_studies(url)
    except (SQLAlchemyError, ValueError, RuntimeError) as exc:
        notes.append(f"the optimizer's studies could not be read from {url}: {str(exc).splitlines()[0]}")
        return ()


def _prices(settings: Settings, equity: pd.DataFrame | None, notes: list[str]) -> dict[str, pd.Series]:
    """Close prices of each symbol with equity (its matrix data source, native bars), for buy-and-hold."""
    from backtest_matrix import load_bars
    from gitops import load_constants
    from tradeloop.loop._common import matrix_path, pair_source

    if equity is None or equity.empty:
        return {}
    try:
        constants = load_constants(settings.constants_path)
    except TradeloopError as exc:
        notes.append(f"no buy-and-hold: {exc}")
        return {}
    prices: dict[str, pd.Series] = {}
    for symbol in sorted(set(equity["symbol"])):
        try:
            source = pair_source(constants, symbol, None, matrix_path(settings))
            prices[symbol] = load_bars(source, cache_dir=settings.cache_dir, check=True).bars["close"]
        except TradeloopError as exc:
            notes.append(f"no buy-and-hold for {symbol}: {str(exc).splitlines()[0]}")
    return prices


def _max_delta(settings: Settings, notes: list[str]) -> float:
    from gitops import load_constants

    try:
        return float(load_constants(settings.constants_path).optimizer_max_delta)
    except TradeloopError as exc:
        notes.append(f"the ±cap is drawn at 20 %: {exc}")
        return 0.2
