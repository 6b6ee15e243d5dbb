"""Reading a stage's evidence: from the warehouse (paper and live equity and trades) and from bars (COLD).

The bot reports the equity of every parameter set it runs, bar by bar, tagged with the config hash
``tradeloop deploy plan`` gives it, and its closed trades (``tradeloop deploy ingest``). A WARM or LIMITED
analysis pairs the new parameters' equity with the previous parameters' on the bars both report.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from deployment._analysis import BacktestEvidence, PairedEvidence
from warehouse import Warehouse

__all__ = ["BarsProvider", "backtest_evidence", "paired_evidence", "stage_mode"]

#: ``(strategy, symbol, timeframe, start, end) -> bars in (start, end]`` or ``None`` when there are none.
BarsProvider = Callable[[str, str, str, datetime, datetime], "pd.DataFrame | None"]

_MODES = {"COLD": "backtest", "WARM": "paper", "LIMITED": "live", "FULL": "live"}


def stage_mode(stage: str) -> str:
    """The mode of the new parameters' evidence in ``stage``: backtest, paper or live."""
    return _MODES[stage]


def _series(points: list[tuple[datetime, float]]) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    if not points:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float64)
    index = pd.DatetimeIndex([at for at, _ in points]).as_unit("ns")
    times = np.asarray(index.asi8, dtype=np.int64)
    values = np.array([value for _, value in points], dtype=np.float64)
    return times, values


def paired_evidence(
    warehouse: Warehouse,
    *,
    strategy: str,
    symbol: str,
    stage: str,
    config_hash: str,
    previous_config_hash: str | None,
    since: datetime,
    as_of: datetime,
    interval: timedelta,
) -> PairedEvidence | None:
    """The paired evidence of WARM or LIMITED in ``(since, as_of]``; ``None`` when the new parameters
    reported no equity there. Without previous parameters the baseline is cash (zero returns)."""
    mode = stage_mode(stage)
    new_times, new_equity = _series(
        warehouse.equity_points(strategy, symbol, config_hash, mode, start=since, end=as_of)
    )
    if new_times.size == 0:
        return None
    has_baseline = previous_config_hash is not None and previous_config_hash != config_hash
    if has_baseline:
        assert previous_config_hash is not None
        old_times, old_equity = _series(
            warehouse.equity_points(strategy, symbol, previous_config_hash, "live", start=since, end=as_of)
        )
        times, new_index, old_index = np.intersect1d(
            new_times, old_times, assume_unique=True, return_indices=True
        )
        new_equity, old_equity = new_equity[new_index], old_equity[old_index]
        old_pnl = warehouse.trade_pnls(strategy, symbol, previous_config_hash, "live", start=since, end=as_of)
    else:
        times, old_equity, old_pnl = new_times, np.ones_like(new_equity), []
    new_returns = _returns(new_equity)
    old_returns = _returns(old_equity)
    step = np.int64(interval // timedelta(microseconds=1)) * 1000
    start = np.int64(pd.Timestamp(since).value)
    end = np.int64(pd.Timestamp(as_of).value)
    boundaries = np.arange(start + step, end + 1, step, dtype=np.int64)
    # A return ending at times[i] (i >= 1) is the (i-1)-th return: the count of returns at a boundary.
    look_ends = np.maximum(np.searchsorted(times, boundaries, side="right") - 1, 0).astype(np.int64)
    in_last = int(np.count_nonzero(times > end - step))
    return PairedEvidence(
        times=times,
        candidate_returns=new_returns,
        baseline_returns=old_returns,
        candidate_equity=new_equity,
        candidate_pnl=np.asarray(
            warehouse.trade_pnls(strategy, symbol, config_hash, mode, start=since, end=as_of),
            dtype=np.float64,
        ),
        baseline_pnl=np.asarray(old_pnl, dtype=np.float64),
        look_ends=look_ends,
        bars_in_interval=in_last,
        baseline=has_baseline,
    )


def _returns(equity: NDArray[np.float64]) -> NDArray[np.float64]:
    if equity.size < 2:
        return np.zeros(0)
    previous = equity[:-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        returns = np.where(previous != 0, equity[1:] / previous - 1.0, 0.0)
    return np.asarray(returns, dtype=np.float64)


def backtest_evidence(
    bars: pd.DataFrame | None,
    *,
    strategy: str,
    params: dict[str, object],
    capital_usd: float,
    fee_bps: float,
    slippage_bps: float,
    as_of: datetime,
    interval: timedelta,
) -> BacktestEvidence | None:
    """COLD's evidence: the new parameters backtested on ``bars`` (those since the rollout started)."""
    if bars is None or len(bars) == 0:
        return None
    from backtest_matrix.engine import EngineConfig, backtest

    config = EngineConfig(init_cash=capital_usd, fee_bps=fee_bps, slippage_bps=slippage_bps)
    values = {name: value for name, value in params.items() if name != "timeframe"}
    result = backtest(bars, strategy, values, config=config)
    kpis = result.kpis
    last = pd.Timestamp(as_of) - pd.Timedelta(interval)
    in_last = int(np.count_nonzero(bars.index > last))
    return BacktestEvidence(
        bars=len(bars),
        bars_in_interval=in_last,
        trades=int(kpis["trades"]),
        sharpe=float(kpis["sharpe"]),
        win_rate_pct=float(kpis["win_rate_pct"]),
        pnl_usd=float(kpis["return_pct"]) / 100.0 * capital_usd,
    )
