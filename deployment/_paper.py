"""``tradeloop paper run``: a rollout's parameter sets paper-traded on the bars that arrive after its start.

For every rollout of ``feature_flags.json`` that has not failed, the candidate (``LIVE_PARAMS``) and the
parameters it replaces (the rollout's ``previous_params``) are paper-traded side by side, from the rollout's
start, through COLD, WARM, LIMITED and FULL: the candidate's paper equity is WARM's evidence, and the previous
parameters' paper equity is the counterfactual the monitor compares the live candidate with at LIMITED and
FULL (what they would have earned had the rollout not happened).

**The same engine as the backtests.** Each run backtests every set on the feed's bars since the rollout began
(:func:`backtest_matrix.engine.backtest`: the same signals, fills, fees, slippage and sizing, with
``TRADING_CAPITAL_USD``, ``FEE_BPS`` and ``SLIPPAGE_BPS``) and reports the bars it has not reported yet. The
engine is causal (a bar's equity depends on that bar and the ones before), so the paper record over any past
bars equals the backtest of those bars, however the run was split into steps.

**Append-only and resumable.** Each rollout has a journal, ``<journal_dir>/<strategy>-<symbol>-<config
hash>.jsonl`` (``tradeloop paper run``: ``<home>/paper/<warehouse id>/``): the rows reported, in the schema
of ``tradeloop deploy ingest`` (mode ``paper``), per set in time order (a bar's closed trades, then its
equity). A run stores the new rows in the warehouse first
(idempotent: on the trade id, and on pair, config hash, mode and time), then appends them to the journal and
fsyncs it, and a re-run continues after each set's last journaled bar. A run killed at any point loses
nothing (the rows not journaled are reported again) and duplicates nothing (the warehouse skips rows it has,
a torn last line is cut off, a trade already journaled is not written again).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pandas as pd

from deployment._feed import Feed, FeedRead
from deployment._ingest import ingest_rows
from gitops import FeatureFlags, LiveConstants, Rollout
from tradeloop._atomic import append_bytes
from tradeloop.errors import DataSourceError
from warehouse import Warehouse

__all__ = ["FeedFactory", "PaperRun", "PaperSet", "engine_rows", "paper_run"]

#: ``(strategy, symbol, timeframe) -> Feed``: where each pair's new bars come from.
FeedFactory = Callable[[str, str, str], Feed]


@dataclass(frozen=True)
class PaperSet:
    """One parameter set paper-traded for a rollout: role, tag, last bar reported and what this run added."""

    role: str
    config_hash: str
    last_bar: datetime | None
    equity_new: int
    trades_new: int

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "last_bar": None if self.last_bar is None else self.last_bar.isoformat()}


@dataclass(frozen=True)
class PaperRun:
    """What one paper run did for one rollout: the feed read, the sets advanced, the journal and notes."""

    strategy: str
    symbol: str
    stage: str
    phase: str
    journal: str
    feed: FeedRead | None
    sets: tuple[PaperSet, ...] = ()
    note: str = ""

    @property
    def key(self) -> str:
        return f"{self.strategy}/{self.symbol}"

    def to_dict(self) -> dict[str, Any]:
        return {"key": self.key, "stage": self.stage, "phase": self.phase, "journal": self.journal,
                "feed": None if self.feed is None else self.feed.to_dict(),
                "sets": [item.to_dict() for item in self.sets], "note": self.note}  # fmt: skip


def paper_run(
    constants: LiveConstants,
    flags: FeatureFlags,
    feeds: FeedFactory,
    warehouse: Warehouse,
    journal_dir: Path,
    clock: datetime,
    *,
    pause_s: float = 0.0,
) -> list[PaperRun]:
    """Advance the paper trading of every rollout to the bars its feed holds at ``clock`` (module docstring).

    ``pause_s`` (tests only) waits between storing a set's new rows and journaling them.

    Raises
    ------
    tradeloop.errors.DataSourceError
        A feed cannot be read (the message names the file and the fix); a bad row only stops that feed.
    """
    runs = []
    for key, rollout in sorted(flags.rollouts.items()):
        strategy, _, symbol = key.partition("/")
        entry = constants.live_params[strategy][symbol]
        journal = journal_dir / f"{strategy}-{symbol}-{rollout.config_hash}.jsonl"
        base = PaperRun(strategy, symbol, rollout.stage.value, rollout.phase, str(journal), None)
        if rollout.phase == "failed":
            runs.append(
                _note(base, "failed: the bot is back on the previous parameters; nothing to paper-trade")
            )
            continue
        read = feeds(strategy, symbol, str(entry["timeframe"])).read(clock)
        bars = read.since(rollout.started_at)
        sets_of = _sets(rollout, entry)
        done = _journal_state(journal, {config_hash for _, config_hash, _ in sets_of})
        sets = []
        for role, config_hash, params in sets_of:
            last, known = done.get(config_hash, (None, set()))
            rows = [row for row in engine_rows(bars, strategy, symbol, config_hash, "paper", params,
                                               constants, rollout.started_at, after=last)
                    if row.get("trade_id") not in known]  # fmt: skip
            if rows:
                ingest_rows(journal.name, enumerate(rows, start=1), warehouse, constants, flags)
                time.sleep(pause_s)  # tests: a window to kill the run between the store and the journal
                _append(journal, rows)
            ends = [row["ts"] for row in rows if row["kind"] == "equity"]
            newest = datetime.fromisoformat(ends[-1]) if ends else last
            trades = sum(row["kind"] == "trade" for row in rows)
            sets.append(PaperSet(role, config_hash, newest, len(ends), trades))
        note = _stale_note(read, rollout.started_at) if len(bars) == 0 else ""
        runs.append(PaperRun(strategy, symbol, base.stage, base.phase, str(journal), read, tuple(sets), note))
    return runs


def _stale_note(read: FeedRead, started: datetime) -> str:
    """Why a feed gave no bar since the rollout started, when its last bar is older than the start."""
    if read.problem or (read.clock is not None and read.clock > started):
        return ""
    last = "has no bar" if read.clock is None else f"ends at {read.clock.isoformat()}"
    return (
        f"no bar since the rollout started ({started.isoformat()}): the feed {read.source} {last}; "
        "wait for its next bar, or point --feed at the file your data feed appends to"
    )


def _note(run: PaperRun, note: str) -> PaperRun:
    return PaperRun(run.strategy, run.symbol, run.stage, run.phase, run.journal, None, (), note)


def _sets(rollout: Rollout, entry: Mapping[str, Any]) -> list[tuple[str, str, Mapping[str, Any]]]:
    sets: list[tuple[str, str, Mapping[str, Any]]] = [("candidate", rollout.config_hash, entry)]
    previous = rollout.previous_params
    if previous is not None and rollout.previous_config_hash not in (None, rollout.config_hash):
        assert rollout.previous_config_hash is not None
        sets.append(("previous", rollout.previous_config_hash, previous))
    return sets


def engine_rows(
    bars: pd.DataFrame,
    strategy: str,
    symbol: str,
    config_hash: str,
    mode: str,
    params: Mapping[str, Any],
    constants: LiveConstants,
    started: datetime,
    *,
    after: datetime | None,
    scale: float = 1.0,
    extra_slippage_bps: float = 0.0,
) -> list[dict[str, Any]]:
    """The ingest rows of ``params`` backtested on ``bars`` for the bars after ``after``: per bar, the trades
    that closed there, then the equity (``scale`` times the engine's, for a share of the capital)."""
    if len(bars) == 0:
        return []
    from backtest_matrix.engine import EngineConfig, backtest

    config = EngineConfig(init_cash=constants.trading_capital_usd, fee_bps=constants.fee_bps,
                          slippage_bps=constants.slippage_bps + extra_slippage_bps)  # fmt: skip
    values = {name: value for name, value in params.items() if name != "timeframe"}
    result = backtest(bars, strategy, values, config=config)
    common = {"strategy": strategy, "symbol": symbol, "config_hash": config_hash, "mode": mode}
    tag = f"{mode}-{config_hash[:16]}-{pd.Timestamp(started).strftime('%Y%m%dT%H%M')}"
    closed = result.trades[result.trades["reason"] != "open"]
    by_exit: dict[pd.Timestamp, list[dict[str, Any]]] = {}
    for trade in closed.itertuples(index=False):
        by_exit.setdefault(pd.Timestamp(str(trade.exit_time)), []).append(
            _trade_row(common, tag, trade, scale)
        )
    rows: list[dict[str, Any]] = []
    cut = None if after is None else pd.Timestamp(after)
    for at, equity in zip(result.equity.index, result.equity.to_numpy(), strict=True):
        stamp = pd.Timestamp(at)
        if cut is not None and stamp <= cut:
            continue
        rows += by_exit.get(stamp, [])
        rows.append(
            {"kind": "equity", **common, "ts": stamp.isoformat(), "equity_usd": float(equity) * scale}
        )
    return rows


def _trade_row(common: Mapping[str, Any], tag: str, trade: Any, scale: float) -> dict[str, Any]:
    entry = pd.Timestamp(trade.entry_time)
    return {
        "kind": "trade", **common, "trade_id": f"{tag}-{entry.value // 10**9}", "side": trade.side,
        "entry_time": entry.isoformat(), "exit_time": pd.Timestamp(trade.exit_time).isoformat(),
        "entry_price": float(trade.entry_price), "exit_price": float(trade.exit_price),
        "size": float(trade.size) * scale, "pnl_usd": float(trade.pnl) * scale,
        "fees_usd": float(trade.fees) * scale, "exit_reason": str(trade.reason),
    }  # fmt: skip


def _journal_lines(journal: Path) -> list[bytes]:
    """The journal's complete lines; a line torn by a kill is cut off (its rows are reported again)."""
    with journal.open("rb") as handle:
        data = handle.read()
    end = data.rfind(b"\n") + 1
    if end < len(data):
        with journal.open("r+b") as handle:
            handle.truncate(end)
    return data[:end].splitlines()


def _journal_state(journal: Path, hashes: set[str]) -> dict[str, tuple[datetime | None, set[str]]]:
    """Config hash → (its last journaled bar, the trade ids journaled after it), read from the end back to
    each hash's last equity point (a run journals a set's bars in time order, a bar's trades before it)."""
    state: dict[str, tuple[datetime | None, set[str]]] = {}
    if not journal.exists():
        return state
    lines = _journal_lines(journal)
    pending = set(hashes)
    for number in range(len(lines), 0, -1):
        if not pending:
            break
        row = _journal_row(journal, number, lines[number - 1])
        config_hash = row["config_hash"]
        if config_hash not in pending:
            continue
        _, trades = state.setdefault(config_hash, (None, set()))
        if row["kind"] == "trade":
            trades.add(row["trade_id"])
        else:
            state[config_hash] = (datetime.fromisoformat(row["ts"]), trades)
            pending.discard(config_hash)
    return state


def _journal_row(journal: Path, number: int, line: bytes) -> dict[str, Any]:
    try:
        row = json.loads(line)
    except json.JSONDecodeError as exc:
        raise DataSourceError(
            f"{journal}: line {number} is not JSON ({exc.msg}); the journal is append-only: delete it to "
            "report every bar again (the warehouse skips the rows it has)"
        ) from None
    return dict(row)


def _append(journal: Path, rows: list[dict[str, Any]]) -> None:
    data = "".join(json.dumps(row, sort_keys=True) + "\n" for row in rows).encode("utf-8")
    append_bytes(journal, data, "cannot append to the paper journal")
