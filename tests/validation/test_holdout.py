"""Out of sample by construction: the search never reads a holdout bar; the walk-forward's searches never
read their fold's out-of-sample bars; a pair whose holdout cannot hold MIN_TRADES trades gets no change."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest

import backtest_matrix.engine as engine
import backtest_matrix.engine._backtest as engine_backtest
import optimizer._study
import validation._walk_forward
from optimizer import Guardrails, SearchSettings, split_holdout
from tests.validation.proposals import (
    DAILY_LIVE,
    ENGINE,
    PLANTED_LIVE,
    optimizer_proposal,
    planted_bars,
    sp500,
)
from tradeloop.errors import OptimizerError
from validation import reoptimising_search, run_walk_forward, walk_forward_folds

SWEEP, BACKTEST = engine.sweep, engine.backtest


class Reads:
    """Records the last bar of every frame passed to the engine's sweep and backtest."""

    def __init__(self) -> None:
        self.sweeps: list[pd.Timestamp] = []
        self.backtests: list[tuple[pd.Timestamp, dict[str, float]]] = []

    def sweep(self, bars: pd.DataFrame, *args: Any, **kwargs: Any) -> Any:
        self.sweeps.append(pd.Timestamp(bars.index[-1]))
        return SWEEP(bars, *args, **kwargs)

    def backtest(self, bars: pd.DataFrame, strategy: Any, params: Any = None, **kwargs: Any) -> Any:
        self.backtests.append((pd.Timestamp(bars.index[-1]), dict(params or {})))
        return BACKTEST(bars, strategy, params, **kwargs)


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[Reads]:
    """Every module of the optimizer that runs the engine, instrumented."""
    recorder = Reads()
    monkeypatch.setattr(optimizer._study, "sweep", recorder.sweep)
    monkeypatch.setattr(engine_backtest, "sweep", recorder.sweep)  # each chunk of Stage A's sweep_in_chunks
    monkeypatch.setattr(engine, "sweep", recorder.sweep)  # sweep_evaluator imports it at call time
    monkeypatch.setattr(engine, "backtest", recorder.backtest)  # _pipeline imports it at call time
    yield recorder


def test_no_search_call_reads_a_holdout_bar(reads: Reads) -> None:
    outcome = optimizer_proposal(planted_bars(), "planted", PLANTED_LIVE, symbol="DEMO", timeframe="15m")
    boundary = pd.Timestamp(outcome.proposal.to_json()["holdout"]["boundary"])
    assert outcome.proposal.to_json()["status"] == "proposed"
    assert len(reads.sweeps) > 3  # Stage A, Stage B batches, expected gains
    assert all(last < boundary for last in reads.sweeps)
    on_holdout = [params for last, params in reads.backtests if last >= boundary]
    # The one call that reads the holdout is the live set's trade count (can the holdout judge at all?).
    live = {name: float(value) for name, value in PLANTED_LIVE.items()}
    assert len(on_holdout) == 1 and {k: on_holdout[0][k] for k in live} == live
    record = outcome.record
    assert record is not None and pd.Timestamp(record.bars["end"]) < boundary


def test_the_walk_forward_searches_only_their_folds_in_sample_bars(monkeypatch: pytest.MonkeyPatch) -> None:
    bars = planted_bars().iloc[:8000]
    windows: list[tuple[pd.Timestamp, pd.Timestamp]] = []
    original = validation._walk_forward.bounded_search

    def recording(is_bars: pd.DataFrame, *args: Any, **kwargs: Any) -> Any:
        windows.append((is_bars.index[0], is_bars.index[-1]))
        return original(is_bars, *args, **kwargs)

    monkeypatch.setattr(validation._walk_forward, "bounded_search", recording)
    outcome = optimizer_proposal(bars, "planted", PLANTED_LIVE, symbol="DEMO", timeframe="15m")
    settings = SearchSettings.from_dict(outcome.proposal.to_json()["search"]["settings"])
    folds = walk_forward_folds(len(bars), 3)
    optimise = reoptimising_search("rsi_reversion", PLANTED_LIVE, settings, Guardrails(), config=ENGINE)
    result = run_walk_forward(bars, "rsi_reversion", folds, optimise, config=ENGINE, baseline=PLANTED_LIVE)
    assert len(windows) == 3
    for (first, last), fold in zip(windows, result.folds, strict=True):
        assert last < fold.oos_start and last == fold.is_end and first == fold.is_start
    assert result.baseline_returns is not None and len(result.baseline_returns) == len(result.oos_returns)
    assert math.isfinite(result.gain)


def test_a_holdout_too_short_for_min_trades_is_no_change_not_a_failed_verdict() -> None:
    bars, _ = sp500()
    shipped = {
        "ema_fast": 12,
        "ema_slow": 26,
        "exit_tp0_pct": 4.0,
        "stop_loss_pct": 2.0,
        "trade_fraction": 0.1,
    }
    outcome = optimizer_proposal(bars, "sp500", shipped, symbol="SP500", timeframe="1d", strategy="ema_cross",
                                 cadence="weekly")  # fmt: skip
    document = outcome.proposal.to_json()
    assert document["status"] == "no_change" and outcome.record is None
    assert document["reason"].startswith("not enough out-of-sample data: the live parameters make 22 trades")
    assert "fewer than MIN_TRADES=30" in document["reason"]
    assert document["search"]["trials"] == 0 and document["holdout"]["bars"] == 1258


def test_the_holdout_is_the_last_fraction_of_the_window() -> None:
    bars = planted_bars()
    split = split_holdout(bars, 0.25)
    assert len(split.holdout) == 6000 and len(split.search) == len(bars) - 6000
    assert split.boundary == bars.index[-6000] and split.search.index[-1] < split.boundary
    assert split.as_dict()["search_bars"] == len(split.search)
    odd = split_holdout(bars.iloc[:1001], 0.25)
    assert len(odd.holdout) == math.ceil(0.25 * 1001)


@pytest.mark.parametrize(("fraction", "message"), [(0.0, "within \\(0, 1\\)"), (1.0, "within \\(0, 1\\)"),
                                                   (0.95, "leaves 50 bars for the search")])  # fmt: skip
def test_a_holdout_that_leaves_no_search_is_refused(fraction: float, message: str) -> None:
    with pytest.raises(OptimizerError, match=message):
        split_holdout(planted_bars().iloc[:1000], fraction)


def test_daily_real_data_with_a_churning_live_set_is_searched() -> None:
    outcome = optimizer_proposal(
        sp500()[0], "sp500", DAILY_LIVE, symbol="SP500", timeframe="1d", cadence="weekly"
    )
    assert outcome.proposal.to_json()["status"] in {"proposed", "no_change"}
    assert outcome.proposal.to_json()["holdout"]["start"] == "2014-01-02T00:00:00+00:00"
    assert outcome.record is not None and len(outcome.record) > 1000
