"""``tradeloop paper run`` as a call: the live state, the feeds and the warehouse around
:func:`deployment.paper_run`."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from tradeloop._settings import Settings
from tradeloop.errors import DataSourceError

if TYPE_CHECKING:
    from deployment import Feed, PaperRun

__all__ = ["PAPER_TEST_PAUSE_ENV", "PaperResult", "feed_factory", "paper_step"]

#: Tests only: seconds the paper run waits between storing a set's rows and journaling them (a SIGKILL test
#: kills it there).
PAPER_TEST_PAUSE_ENV = "TRADELOOP_PAPER_TEST_PAUSE"


@dataclass(frozen=True)
class PaperResult:
    """Every rollout's paper run at one clock; ``problems`` are the feeds' first bad rows."""

    clock: str
    runs: tuple[PaperRun, ...]

    @property
    def problems(self) -> tuple[str, ...]:
        return tuple(run.feed.problem for run in self.runs if run.feed is not None and run.feed.problem)

    def to_dict(self) -> dict[str, Any]:
        return {"clock": self.clock, "runs": [run.to_dict() for run in self.runs],
                "problems": list(self.problems)}  # fmt: skip


def feed_factory(settings: Settings, spec: str | None) -> Callable[[str, str, str], Feed]:
    """Each pair's feed: ``spec`` (a CSV/Parquet file a feed appends to, or a source replayed on the clock),
    else the symbol's ``matrix.yaml`` source; each opened once."""
    from deployment import open_feed
    from gitops import load_constants
    from tradeloop.loop._common import matrix_path, pair_source

    opened: dict[tuple[str, str], Feed] = {}

    def feed(strategy: str, symbol: str, timeframe: str) -> Feed:
        source = spec or pair_source(
            load_constants(settings.constants_path), symbol, None, matrix_path(settings)
        )
        if (source, timeframe) not in opened:
            opened[(source, timeframe)] = open_feed(source, timeframe, cache_dir=settings.cache_dir)
        return opened[(source, timeframe)]

    return feed


def _check_feed(feed: str) -> None:
    """``--feed`` is checked before any rollout is looked at: a known source, or a file that exists."""
    from backtest_matrix import resolve_source

    spec = resolve_source(feed)
    if spec.path is not None and not spec.path.is_file():
        raise DataSourceError(
            f"--feed {feed}: no such file; give the CSV/Parquet file your data feed appends to (it must "
            "exist before the first paper run), or a source to replay such as reverting or sp500"
        )


def paper_step(settings: Settings, feed: str | None = None) -> PaperResult:
    """Advance every rollout's paper trading to the bars its feed holds now (``settings.current_time()``)."""
    from deployment import paper_run
    from gitops import load_state
    from warehouse import get_warehouse

    if feed is not None:
        _check_feed(feed)
    constants, flags = load_state(settings.repo)
    clock = settings.current_time()
    pause = float(os.environ.get(PAPER_TEST_PAUSE_ENV) or 0.0)
    # One journal per warehouse: a journal says what is stored in the warehouse it was written beside.
    journals = settings.home / "paper" / hashlib.sha256(settings.warehouse_url.encode()).hexdigest()[:12]
    with get_warehouse(settings.warehouse_url) as warehouse:
        runs = paper_run(constants, flags, feed_factory(settings, feed), warehouse, journals, clock,
                         pause_s=pause)  # fmt: skip
    return PaperResult(clock.isoformat(), tuple(runs))
