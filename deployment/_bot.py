"""A simulated trading bot for the embedded end-to-end run: a stand-in for the real bot at COLD to FULL.

It does what a real bot does with tradeloop, through the same doors:

1. reads the consumer contract, :func:`deployment.read_plan`, from the repository's two state files;
2. trades every parameter set the plan runs **live**, at the plan's share of the capital, on the feed's bars
   (one engine run per set from the rollout's start, as :func:`deployment.engine_rows`; its equity and trades
   scaled by the share; ``extra_slippage_bps`` on the candidate's fills plants a degradation that the paper
   run does not see);
3. exports the new bars' trades and equity as a CSV file in the schema of ``tradeloop deploy ingest``, and
   ingests that file with :func:`deployment.ingest_file`, so live evidence travels the path a real bot's does.

Paper sets are not its business (``tradeloop paper run`` trades them). Its cursor (the last bar reported per
pair) is ``<out>/<strategy>-<symbol>.cursor.json``, replaced atomically after the ingest; a run killed before
that reports the same bars again, and the ingest skips what it has.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from deployment._ingest import IngestResult, ingest_file
from deployment._paper import FeedFactory, engine_rows
from deployment._plan import deployment_plan
from gitops import load_state
from tradeloop._atomic import atomic_write_text
from warehouse import Warehouse

__all__ = ["BotStep", "simulated_bot_step"]


@dataclass(frozen=True)
class BotStep:
    """One step of the simulated bot: the export it wrote and ingested, and the bars it reported up to."""

    export: str | None
    rows: int
    through: dict[str, str]
    ingest: IngestResult | None

    def to_dict(self) -> dict[str, Any]:
        return {"export": self.export, "rows": self.rows, "through": dict(self.through),
                "ingest": None if self.ingest is None else self.ingest.to_dict()}  # fmt: skip


def simulated_bot_step(
    repo: Path,
    feeds: FeedFactory,
    warehouse: Warehouse,
    out_dir: Path,
    clock: datetime,
    *,
    extra_slippage_bps: float = 0.0,
) -> BotStep:
    """Trade the plan's live sets of every rollout on the bars that arrived by ``clock``; export and ingest
    (module docstring)."""
    constants, flags = load_state(repo)
    plan = deployment_plan(constants, flags)
    rows: list[dict[str, Any]] = []
    through: dict[str, str] = {}
    for pair in plan.pairs:
        rollout = flags.rollout(pair.strategy, pair.symbol)
        if rollout is None:
            continue
        cursor_file = out_dir / f"{pair.strategy}-{pair.symbol}.cursor.json"
        after = _cursor(cursor_file) or rollout.started_at
        bars = feeds(pair.strategy, pair.symbol, pair.timeframe).read(clock).since(rollout.started_at)
        if len(bars) == 0 or bars.index[-1] <= after:
            continue
        for item in pair.sets:
            if item.mode != "live" or item.capital_fraction <= 0:
                continue
            worse = extra_slippage_bps if item.role == "candidate" else 0.0
            rows += engine_rows(bars, pair.strategy, pair.symbol, item.config_hash, "live", item.params,
                                constants, rollout.started_at, after=after, scale=item.capital_fraction,
                                extra_slippage_bps=worse)  # fmt: skip
        through[pair.key] = bars.index[-1].isoformat()
    if not rows:
        return BotStep(None, 0, through, None)
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = clock.strftime("%Y%m%dT%H%M%S")
    export = out_dir / f"bot-{stamp}.csv"
    _write_csv(export, rows)
    result = ingest_file(export, warehouse, constants, flags)
    for key, last in through.items():
        strategy, _, symbol = key.partition("/")
        atomic_write_text(out_dir / f"{strategy}-{symbol}.cursor.json", json.dumps({"through": last}) + "\n")
    return BotStep(str(export), len(rows), through, result)


def _cursor(path: Path) -> datetime | None:
    if not path.exists():
        return None
    return datetime.fromisoformat(json.loads(path.read_text(encoding="utf-8"))["through"])


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    fields = sorted({name for row in rows for name in row})
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
