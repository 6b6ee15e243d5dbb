"""The shipped live parameters name real strategies and parameters, within bounds, and backtest on the data
source the shipped matrix gives their symbol."""

from __future__ import annotations

from pathlib import Path

import pytest

from backtest_matrix.data import load_bars
from backtest_matrix.engine import backtest
from backtest_matrix.matrix import DEFAULT_MATRIX_PATH, load_matrix_spec
from backtest_matrix.strategies import get_strategy
from gitops import load_constants

REPO_ROOT = Path(__file__).resolve().parents[1]
CONSTANTS = load_constants(REPO_ROOT / "config" / "constants.py")
LIVE = [
    (strategy, symbol, dict(params))
    for strategy, by_symbol in CONSTANTS.live_params.items()
    for symbol, params in by_symbol.items()
]


@pytest.mark.parametrize(("strategy", "symbol", "params"), LIVE, ids=[f"{s}/{y}" for s, y, _ in LIVE])
def test_live_parameters_resolve_and_run(strategy: str, symbol: str, params: dict[str, object]) -> None:
    timeframe = params.pop("timeframe")
    values = get_strategy(strategy).resolve(
        params, where=f"config/constants.py: LIVE_PARAMS.{strategy}.{symbol}"
    )
    source = load_matrix_spec(DEFAULT_MATRIX_PATH, live_params=CONSTANTS.live_params).sources[symbol]
    bars = load_bars(source, timeframe=str(timeframe)).bars
    result = backtest(bars, strategy, values)
    assert result.kpis["trades"] > 0
