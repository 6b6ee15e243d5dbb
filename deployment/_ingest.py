"""``tradeloop deploy ingest FILE``: the bot's trades and equity into the warehouse, every row checked first.

The file is CSV (a header row) or JSON lines (one object per line; ``.jsonl`` / ``.ndjson``, or any file
whose first character is ``{``). Each row is a ``trade`` or an ``equity`` point (field ``kind``); the schema
is in ``docs/deployment.md``. Every row is checked before anything is written, and a bad one stops the
ingest with the file, the row, the field, the value and the fix. Rows must be tagged with a live
strategy/symbol and a config hash ``tradeloop deploy plan`` gives for that pair (or a rollout of it names);
any other is refused. Trades are idempotent on ``trade_id`` (and equity points on strategy, symbol, config
hash, mode and time): ingesting a file again adds nothing, and a trade id already stored with other figures
is refused.
"""

from __future__ import annotations

import csv
import difflib
import json
import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from deployment._plan import deployment_plan
from gitops import FeatureFlags, LiveConstants
from tradeloop import new_run_id, utc_now
from tradeloop.errors import DataSourceError
from warehouse import Warehouse

__all__ = ["IngestResult", "ingest_file", "ingest_rows", "known_config_hashes"]

KINDS = ("trade", "equity")
MODES = ("paper", "live")
_COMMON = ("kind", "strategy", "symbol", "config_hash", "mode")
_TRADE = ("trade_id", "side", "entry_time", "exit_time", "entry_price", "exit_price", "size", "pnl_usd")
_TRADE_OPTIONAL = ("fees_usd", "exit_reason")
_EQUITY = ("ts", "equity_usd")
_FIX = "fix the row and ingest the file again (rows already stored are skipped)"


@dataclass(frozen=True)
class IngestResult:
    """What an ingest stored: rows read, trades and equity points new and already stored."""

    file: str
    rows: int
    trades_new: int
    trades_known: int
    equity_new: int
    equity_known: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def known_config_hashes(constants: LiveConstants, flags: FeatureFlags) -> dict[tuple[str, str], set[str]]:
    """Live pair → the config hashes its rows may carry: the plan's parameter sets and its rollout's."""
    known: dict[tuple[str, str], set[str]] = {}
    for pair in deployment_plan(constants, flags).pairs:
        hashes = {item.config_hash for item in pair.sets} | {constants.config_hash}
        rollout = flags.rollout(pair.strategy, pair.symbol)
        if rollout is not None:
            hashes.add(rollout.config_hash)
            if rollout.previous_config_hash is not None:
                hashes.add(rollout.previous_config_hash)
        known[(pair.strategy, pair.symbol)] = hashes
    return known


def ingest_file(
    path: Path, warehouse: Warehouse, constants: LiveConstants, flags: FeatureFlags, *, dry_run: bool = False
) -> IngestResult:
    """Check every row of ``path`` (module docstring), then store the trades and equity points.

    Raises
    ------
    tradeloop.errors.DataSourceError
        The file cannot be read, or a row is invalid; the message names the file, the row, the field, the
        value and the fix. Nothing of the file is stored then.
    """
    path = Path(path)
    return ingest_rows(path.name, _rows(path), warehouse, constants, flags, dry_run=dry_run)


def ingest_rows(
    name: str,
    rows: Iterable[tuple[int, Mapping[str, Any]]],
    warehouse: Warehouse,
    constants: LiveConstants,
    flags: FeatureFlags,
    *,
    dry_run: bool = False,
) -> IngestResult:
    """:func:`ingest_file` on ``(row number, row)`` pairs already read (the paper run and the simulated bot
    write through it); ``name`` names the rows' file in messages."""
    known = known_config_hashes(constants, flags)
    trades: dict[str, tuple[int, dict[str, Any]]] = {}
    points: list[dict[str, Any]] = []
    at_time: dict[tuple[Any, ...], tuple[int, dict[str, Any]]] = {}
    run_id = new_run_id()
    count = 0
    for row_number, row in rows:
        count += 1
        where = f"{name}: row {row_number}"
        kind = _choice(row, "kind", KINDS, where)
        strategy, symbol = _text(row, "strategy", where), _text(row, "symbol", where)
        if (strategy, symbol) not in known:
            live = ", ".join(f"{s}/{y}" for s, y in sorted(known))
            raise DataSourceError(
                f"{where}, fields strategy/symbol: {strategy}/{symbol} is not a live pair (live: {live}); "
                "tag "
                f"the row with a pair of LIVE_PARAMS, or add the pair through a pull request first"
            )
        hashes = " or ".join(sorted(known[(strategy, symbol)]))
        tag = f"{hashes} (the tag `tradeloop deploy plan` gives the parameter set that traded)"
        config_hash = _text(row, "config_hash", where, tag)
        if config_hash not in known[(strategy, symbol)]:
            listed = ", ".join(sorted(known[(strategy, symbol)]))
            raise DataSourceError(
                f"{where}, field config_hash: {config_hash!r} is not a config hash of {strategy}/{symbol} "
                f"(known: {listed}); tag each row with the config_hash `tradeloop deploy plan` gives the "
                "parameter set that traded"
            )
        mode = _choice(row, "mode", MODES, where)
        timeframe = str(constants.live_params[strategy][symbol]["timeframe"])
        common = {"run_id": run_id, "strategy": strategy, "symbol": symbol, "timeframe": timeframe,
                  "config_hash": config_hash, "mode": mode}  # fmt: skip
        if kind == "equity":
            _allowed(row, (*_COMMON, *_EQUITY), where)
            ts, equity = _time(row, "ts", where), _number(row, "equity_usd", where, low=0)
            point = {**common, "ts": ts, "equity_usd": equity}
            first, earlier = at_time.setdefault(_point_key(point), (row_number, point))
            if _point_differs(earlier["equity_usd"], equity):
                raise DataSourceError(
                    f"{where}, field equity_usd: {equity!r} at {ts.isoformat()}, but row {first} reports "
                    f"{earlier['equity_usd']!r} for the same set and time; an equity point is reported once: "
                    "correct one of the rows"
                )
            points.append(point)
            continue
        _allowed(row, (*_COMMON, *_TRADE, *_TRADE_OPTIONAL), where)
        trade = _trade(row, where, common)
        previous = trades.get(trade["trade_id"])
        if previous is not None and _differs(previous[1], trade):
            raise DataSourceError(
                f"{where}, field trade_id: {trade['trade_id']!r} is also row {previous[0]} with other "
                "figures; "
                "a trade id names one trade: give each trade its own id"
            )
        trades[trade["trade_id"]] = (row_number, trade)
    stored = warehouse.trades_by_id(trades) if trades else {}
    for trade_id, (row_number, trade) in trades.items():
        if trade_id in stored and _differs(stored[trade_id], trade):
            raise DataSourceError(
                f"{name}: row {row_number}, field trade_id: {trade_id!r} is stored already with other "
                "figures "
                f"(pnl {stored[trade_id]['pnl']!r}, exit {stored[trade_id]['exit_time']}); a trade id "
                "names one "
                "trade: correct the row, or give a different trade its own id"
            )
    equity_stored = _refuse_restated_equity(name, at_time, warehouse)
    if dry_run:
        new_trades = sum(trade_id not in stored for trade_id in trades)
        new_points = len(at_time) - equity_stored
        return IngestResult(
            name, count, new_trades, len(trades) - new_trades, new_points, len(points) - new_points
        )
    trades_new, trades_known = warehouse.add_evidence_trades([trade for _, trade in trades.values()])
    equity_new, equity_known = warehouse.add_equity(points)
    return IngestResult(name, count, trades_new, trades_known, equity_new, equity_known)


def _point_key(point: Mapping[str, Any]) -> tuple[Any, ...]:
    return (point["strategy"], point["symbol"], point["config_hash"], point["mode"], point["ts"])


def _point_differs(stored: float, equity: float) -> bool:
    return not math.isclose(stored, equity, rel_tol=1e-9, abs_tol=1e-9)


def _refuse_restated_equity(
    name: str, at_time: Mapping[tuple[Any, ...], tuple[int, dict[str, Any]]], warehouse: Warehouse
) -> int:
    """An equity point stored already with another figure is refused, as a trade id is: skipping it would
    call the new figure "already stored". Returns how many of the points are stored already."""
    known = 0
    sets: dict[tuple[Any, ...], list[datetime]] = {}
    for key in at_time:
        sets.setdefault(key[:4], []).append(key[4])
    for (strategy, symbol, config_hash, mode), times in sets.items():
        start = min(times) - timedelta(microseconds=1)
        stored = warehouse.equity_points(strategy, symbol, config_hash, mode, start=start, end=max(times))
        for ts, equity in stored:
            found = at_time.get((strategy, symbol, config_hash, mode, ts))
            if found is None:
                continue
            known += 1
            if _point_differs(equity, found[1]["equity_usd"]):
                raise DataSourceError(
                    f"{name}: row {found[0]}, field equity_usd: {found[1]['equity_usd']!r} at "
                    f"{ts.isoformat()}, but the warehouse holds {equity!r} for {strategy}/{symbol} "
                    f"{config_hash} ({mode}) at that time; an equity point is reported once: correct the row"
                )
    return known


def _rows(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """``(row number, row)``; rows count from 1 (the first data row of a CSV is its line 2)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataSourceError(
            f"{path}: no such file; pass the path of the bot's trades/equity export"
        ) from None
    except UnicodeDecodeError as exc:
        raise DataSourceError(f"{path.name}: not UTF-8 text (byte {exc.start}); export it as UTF-8") from None
    except OSError as exc:
        raise DataSourceError(f"{path}: cannot be read ({exc.strerror}); check its permissions") from None
    if path.suffix in (".jsonl", ".ndjson") or text.lstrip().startswith("{"):
        yield from _json_rows(path.name, text)
    else:
        yield from _csv_rows(path.name, text)


def _json_rows(name: str, text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    number = 0
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        number += 1
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataSourceError(
                f"{name}: row {number} (line {line_number}) is not JSON ({exc.msg} at column {exc.colno}); "
                "write one JSON object per line"
            ) from None
        if not isinstance(row, dict):
            raise DataSourceError(
                f"{name}: row {number} (line {line_number}) is {type(row).__name__}, not a JSON object; "
                "write one object per line"
            )
        yield number, row


def _csv_rows(name: str, text: str) -> Iterator[tuple[int, dict[str, Any]]]:
    reader = csv.DictReader(text.splitlines())
    if reader.fieldnames is None:
        raise DataSourceError(
            f"{name}: empty; a CSV export starts with a header row ({', '.join(_COMMON)}, ...)"
        )
    for number, row in enumerate(reader, start=1):
        if None in row:
            raise DataSourceError(
                f"{name}: row {number} (line {number + 1}) has more values than the header has columns; "
                "quote values that hold commas"
            )
        yield number, {key: value for key, value in row.items() if value not in ("", None)}


def _allowed(row: Mapping[str, Any], fields: tuple[str, ...], where: str) -> None:
    unknown = sorted(set(row) - set(fields))
    if unknown:
        raise DataSourceError(
            f"{where}, field {unknown[0]}: not a field of a {row.get('kind')} row (fields: "
            f"{', '.join(fields)}); "
            "remove it or fix its name"
        )


def _present(row: Mapping[str, Any], field: str, where: str, example: str) -> Any:
    value = row.get(field)
    if value is None or value == "":
        names = set(_COMMON) | set(_EQUITY) | set(_TRADE) | set(_TRADE_OPTIONAL)
        close = difflib.get_close_matches(field, [name for name in row if name not in names], n=1)
        typo = f" (the row has {close[0]!r}: rename it to {field})" if close else ""
        raise DataSourceError(f"{where}, field {field}: missing{typo}; add it, e.g. {example}")
    return value


_TEXT_EXAMPLES = {"strategy": "ema_cross", "symbol": "SP500", "trade_id": "T-1042"}


def _text(row: Mapping[str, Any], field: str, where: str, example: str = "") -> str:
    value = _present(row, field, where, example or _TEXT_EXAMPLES[field])
    if not isinstance(value, str):
        raise DataSourceError(f"{where}, field {field}: got {value!r}; write it as text")
    return value


def _choice(row: Mapping[str, Any], field: str, allowed: tuple[str, ...], where: str) -> str:
    value = _present(row, field, where, allowed[0])
    if value not in allowed:
        raise DataSourceError(f"{where}, field {field}: got {value!r}; use one of {', '.join(allowed)}")
    return str(value)


def _number(
    row: Mapping[str, Any], field: str, where: str, *, low: float | None = None, example: str = "101.5"
) -> float:
    value = _present(row, field, where, example)
    try:
        number = float(value) if not isinstance(value, bool) else math.nan
    except (TypeError, ValueError):
        number = math.nan
    if not math.isfinite(number) or (low is not None and number < low):
        bound = f" >= {low:g}" if low is not None else ""
        raise DataSourceError(
            f"{where}, field {field}: got {value!r}; write a finite number{bound}, e.g. {example}"
        )
    return number


def _time(row: Mapping[str, Any], field: str, where: str) -> datetime:
    value = _present(row, field, where, "2025-01-31T12:05:00+00:00")
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        parsed = None
    if parsed is None or parsed.tzinfo is None:
        raise DataSourceError(
            f"{where}, field {field}: got {value!r}; write an ISO-8601 time with a UTC offset, e.g. "
            "2025-01-31T12:05:00+00:00"
        )
    return parsed


def _trade(row: Mapping[str, Any], where: str, common: Mapping[str, Any]) -> dict[str, Any]:
    entry, exit_ = _time(row, "entry_time", where), _time(row, "exit_time", where)
    if exit_ < entry:
        raise DataSourceError(
            f"{where}, field exit_time: {row['exit_time']!r} is before entry_time {row['entry_time']!r}; "
            "swap or fix them"
        )
    entry_price = _number(row, "entry_price", where, low=0)
    size = _number(row, "size", where, low=0)
    pnl = _number(row, "pnl_usd", where, example="-1.25")
    notional = entry_price * size
    reason = row.get("exit_reason")
    trade_id = _text(row, "trade_id", where)
    if len(trade_id) > 64:
        raise DataSourceError(
            f"{where}, field trade_id: {trade_id[:20]!r}... is longer than 64 characters; shorten it"
        )
    return {
        **common,
        "trade_id": trade_id,
        "side": _choice(row, "side", ("long", "short"), where),
        "entry_time": entry,
        "exit_time": exit_,
        "entry_price": entry_price,
        "exit_price": _number(row, "exit_price", where, low=0),
        "size": size,
        "pnl": pnl,
        "pnl_pct": pnl / notional * 100.0 if notional > 0 else 0.0,
        "fees": _number(row, "fees_usd", where, low=0) if row.get("fees_usd") not in (None, "") else 0.0,
        "exit_reason": None if reason in (None, "") else str(reason)[:32],
    }


def _differs(stored: Mapping[str, Any], trade: Mapping[str, Any]) -> bool:
    for name in ("strategy", "symbol", "config_hash", "mode", "side", "pnl"):
        if stored.get(name) != trade.get(name):
            return True
    return bool(_utc(stored["exit_time"]) != _utc(trade["exit_time"]))


def _utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=utc_now().tzinfo)
