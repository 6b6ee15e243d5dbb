"""Walk-forward analysis: re-optimise on each in-sample window, trade the choice out of sample.

Each fold's optimiser sees only the fold's in-sample bars (``[is_start, is_stop)``); the chosen parameters
are then backtested on the out-of-sample bars. The OOS backtest starts ``warmup_bars`` early so that
indicators are warm when the OOS segment begins (those earlier bars are history, not a peek: they all
precede the OOS segment), and only the OOS bars' returns count. A position opened during the warm-up is
carried into the OOS segment, as it would be if the parameters had gone live then.

The OOS returns of all folds are stitched into one OOS return series (one equity curve).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pandas as pd

from backtest_matrix.engine import EngineConfig, backtest, periods_per_year, sweep
from backtest_matrix.strategies import Strategy, get_strategy
from optimizer import Guardrails, SearchSettings, bounded_search, step_cap
from validation._sharpe import sharpe_ratio
from validation._splits import WalkForwardFold

__all__ = [
    "BarWindows",
    "FoldResult",
    "FrameWindows",
    "Optimise",
    "WalkForwardResult",
    "annualised_sharpe",
    "capped_random_search",
    "max_drawdown_pct",
    "reoptimising_search",
    "run_walk_forward",
    "strategy_lookback",
]

#: ``optimize(is_bars) -> params``: the fold's in-sample bars in, the chosen parameters out.
Optimise = Callable[[pd.DataFrame], Mapping[str, float]]


class BarWindows(Protocol):
    """The only way the walk-forward reads bars: by position range (so tests can record every access)."""

    def __len__(self) -> int: ...

    def window(self, start: int, stop: int) -> pd.DataFrame: ...


@dataclass(frozen=True)
class FrameWindows:
    """:class:`BarWindows` over a bars DataFrame."""

    frame: pd.DataFrame

    def __len__(self) -> int:
        return len(self.frame)

    def window(self, start: int, stop: int) -> pd.DataFrame:
        return self.frame.iloc[start:stop]


@dataclass(frozen=True)
class FoldResult:
    """One fold: its bars and times, the chosen parameters and their IS and OOS performance.

    Sharpe ratios are annualised with the bars' observed periods per year; drawdowns and returns in %.
    """

    fold: WalkForwardFold
    is_start: pd.Timestamp
    is_end: pd.Timestamp
    oos_start: pd.Timestamp
    oos_end: pd.Timestamp
    params: dict[str, float]
    is_sharpe: float
    is_mean_return: float
    oos_sharpe: float
    oos_mean_return: float
    oos_return_pct: float
    oos_max_drawdown_pct: float
    oos_returns: pd.Series = field(repr=False)
    baseline_oos_returns: pd.Series | None = field(default=None, repr=False)
    baseline_oos_sharpe: float = math.nan


@dataclass(frozen=True)
class WalkForwardResult:
    """All folds and the stitched OOS returns.

    Attributes
    ----------
    folds
        One :class:`FoldResult` per fold, in time order.
    oos_returns
        The folds' OOS per-bar returns, concatenated (the stitched OOS equity curve's returns).
    """

    folds: tuple[FoldResult, ...]
    oos_returns: pd.Series
    baseline_returns: pd.Series | None = None
    bars_per_year: float = math.nan

    @property
    def gain(self) -> float:
        """Annualised Sharpe of the stitched OOS returns minus the baseline's on the same bars.

        The procedure-level evidence: what re-optimising on each fold would have earned against keeping the
        baseline. NaN without a baseline.
        """
        if self.baseline_returns is None:
            return math.nan
        ours = annualised_sharpe(self.oos_returns.to_numpy(), self.bars_per_year)
        theirs = annualised_sharpe(self.baseline_returns.to_numpy(), self.bars_per_year)
        return ours - theirs

    @property
    def fold_sharpes(self) -> np.ndarray:
        return np.array([fold.oos_sharpe for fold in self.folds])

    @property
    def fold_gains(self) -> np.ndarray:
        """Each fold's OOS Sharpe minus the baseline's on the same bars (NaN without a baseline)."""
        return np.array([fold.oos_sharpe - fold.baseline_oos_sharpe for fold in self.folds])

    @property
    def sharpe_cv(self) -> float:
        """Coefficient of variation ``std(ddof=1) / mean`` of the fold gains over the baseline (NaN with one
        fold); of the fold Sharpes when there is no baseline.

        The gains, not the Sharpe levels: a change that lifts a losing live set to about break-even has fold
        Sharpes scattered around zero, whose CV is a ratio to a near-zero mean and says nothing, while its
        gain on every fold can be the same. ``inf`` when the mean is not positive: folds that lose (or gain
        nothing) on average have no stability worth measuring, and a ratio to a negative mean would read as
        "stable".
        """
        gains = self.fold_gains
        has_gains = self.baseline_returns is not None and bool(np.isfinite(gains).all())
        values = gains if has_gains else self.fold_sharpes
        if len(values) < 2:
            return math.nan
        mean = float(np.mean(values))
        return float(np.std(values, ddof=1)) / mean if mean > 0 else math.inf

    @property
    def worst_fold(self) -> FoldResult:
        return min(self.folds, key=lambda fold: fold.oos_sharpe)

    @property
    def max_fold_drawdown_pct(self) -> float:
        return max(fold.oos_max_drawdown_pct for fold in self.folds)

    @property
    def efficiency(self) -> float:
        """Walk-forward efficiency (Pardo): mean OOS return per bar over mean IS return per bar.

        Both are per-bar means, so annualising them would cancel. NaN when the IS mean is not positive
        (the ratio then has no meaning). Reported for information only.
        """
        is_mean = float(np.mean([fold.is_mean_return for fold in self.folds]))
        oos_mean = float(np.mean([fold.oos_mean_return for fold in self.folds]))
        return oos_mean / is_mean if is_mean > 0 else math.nan


def max_drawdown_pct(returns: np.ndarray) -> float:
    """Deepest peak-to-trough fall, in %, of the equity compounded from ``returns`` (starting at 1)."""
    equity = np.cumprod(1.0 + np.asarray(returns, dtype=np.float64))
    peak = np.maximum.accumulate(np.concatenate([[1.0], equity]))[1:]
    return float(100.0 * np.max(1.0 - equity / peak)) if len(equity) else 0.0


def strategy_lookback(strategy: str | type[Strategy], params: Mapping[str, float]) -> int:
    """The longest indicator lookback in bars: the largest of the strategy's own integer parameters.

    Every built-in strategy's integer parameters are lookbacks (EMA spans, channel, RSI and ATR periods);
    a strategy whose lookbacks are counted in another timeframe needs an explicit ``warmup_bars``.
    """
    cls = get_strategy(strategy) if isinstance(strategy, str) else strategy
    values = cls.resolve({k: v for k, v in params.items() if k != "timeframe"})
    spans = [values[param.name] for param in cls.params if param.kind == "int"]
    return int(max(spans, default=0))


def run_walk_forward(
    bars: pd.DataFrame | BarWindows,
    strategy: str | type[Strategy],
    folds: list[WalkForwardFold],
    optimize: Optimise,
    *,
    config: EngineConfig | None = None,
    warmup_bars: int = 0,
    bars_per_year: float | None = None,
    baseline: Mapping[str, float] | None = None,
) -> WalkForwardResult:
    """Run ``optimize`` on every fold's IS bars and backtest its choice on the fold's OOS bars.

    Parameters
    ----------
    bars
        The bars, or a :class:`BarWindows` giving them by position range.
    strategy
        The strategy (name or class).
    folds
        From :func:`walk_forward_splits` / :func:`walk_forward_folds`.
    optimize
        Called once per fold with exactly the IS bars; returns the parameters to trade OOS.
    config
        Engine costs and fills.
    warmup_bars
        Bars before each OOS segment that its backtest starts with (indicator warm-up).
    bars_per_year
        For annualising Sharpe; default the periods per year observed in the first fold's IS bars.
    baseline
        Parameters traded on every fold's OOS bars as the comparison (the live set), or None.
    """
    windows = FrameWindows(bars) if isinstance(bars, pd.DataFrame) else bars
    cls = get_strategy(strategy) if isinstance(strategy, str) else strategy
    results = []
    ppy = bars_per_year
    for fold in folds:
        is_bars = windows.window(fold.is_start, fold.is_stop)
        params = dict(optimize(is_bars))
        ppy = ppy or periods_per_year(pd.DatetimeIndex(is_bars.index).as_unit("ns").asi8)
        is_returns = backtest(is_bars, cls, params, config=config).returns.to_numpy()
        warm_start = max(0, fold.oos_start - warmup_bars)
        oos_window = windows.window(warm_start, fold.oos_stop)

        def oos(chosen: Mapping[str, float], window: pd.DataFrame = oos_window, skip: int = 0) -> pd.Series:
            return backtest(window, cls, dict(chosen), config=config).returns.iloc[skip:]

        skip = fold.oos_start - warm_start
        result = _fold_result(fold, is_bars, oos(params, skip=skip), params, is_returns, ppy)
        if baseline is not None:
            theirs = oos(baseline, skip=skip)
            result = dataclasses.replace(
                result,
                baseline_oos_returns=theirs,
                baseline_oos_sharpe=annualised_sharpe(theirs.to_numpy(), ppy),
            )
        results.append(result)
    stitched = pd.concat([result.oos_returns for result in results]).rename("oos_return")
    baseline_stitched = (
        None
        if baseline is None
        else pd.concat([r.baseline_oos_returns for r in results if r.baseline_oos_returns is not None])
    )
    return WalkForwardResult(tuple(results), stitched, baseline_stitched, float(ppy or math.nan))


def _fold_result(
    fold: WalkForwardFold,
    is_bars: pd.DataFrame,
    oos_returns: pd.Series,
    params: dict[str, float],
    is_returns: np.ndarray,
    ppy: float,
) -> FoldResult:
    oos = oos_returns.to_numpy()
    return FoldResult(
        fold=fold,
        is_start=is_bars.index[0],
        is_end=is_bars.index[-1],
        oos_start=oos_returns.index[0],
        oos_end=oos_returns.index[-1],
        params=params,
        is_sharpe=annualised_sharpe(is_returns, ppy),
        is_mean_return=float(np.mean(is_returns)),
        oos_sharpe=annualised_sharpe(oos, ppy),
        oos_mean_return=float(np.mean(oos)),
        oos_return_pct=float(100.0 * (np.prod(1.0 + oos) - 1.0)),
        oos_max_drawdown_pct=max_drawdown_pct(oos),
        oos_returns=oos_returns,
    )


def annualised_sharpe(returns: np.ndarray, bars_per_year: float) -> float:
    """Per-bar Sharpe (mean / std, ddof=1) times ``sqrt(bars_per_year)``."""
    return sharpe_ratio(returns) * math.sqrt(bars_per_year)


def reoptimising_search(
    strategy: str | type[Strategy],
    live: Mapping[str, float],
    settings: SearchSettings,
    guardrails: Guardrails,
    *,
    config: EngineConfig | None = None,
) -> Optimise:
    """The optimizer itself as the walk-forward optimiser: what it would have proposed on each fold.

    Each call runs :func:`optimizer.bounded_search` on the fold's in-sample bars only — the same Stage A
    and Stage B budget, caps, knob limit and live starting point as the proposal's own search, in memory —
    and returns the bounded proposal's parameters (the live ones when it proposes no change).
    """
    cls = get_strategy(strategy) if isinstance(strategy, str) else strategy
    current = cls.resolve({k: v for k, v in live.items() if k != "timeframe"})

    def optimize(is_bars: pd.DataFrame) -> dict[str, float]:
        bounded, _ = bounded_search(is_bars, cls.name, current, settings, guardrails, engine_config=config)
        return dict(bounded.params_after)

    return optimize


def capped_random_search(
    strategy: str | type[Strategy],
    baseline: Mapping[str, float],
    *,
    max_delta: float = 0.2,
    n: int = 64,
    seed: int = 0,
    min_trades: int = 1,
    config: EngineConfig | None = None,
) -> Optimise:
    """The default walk-forward optimiser: a seeded random prescreen bounded around ``baseline``.

    Each numeric parameter of ``baseline`` that is not 0 moves within ``±cap`` (the optimizer's per-cycle
    cap, :func:`optimizer.step_cap` with ``min(max_delta, max_step_pct / 100)``), inside its hard bounds;
    parameters at 0 (an exit switched off) and ``choice`` parameters keep their value. ``n`` samples plus
    the baseline are evaluated with one batch ``sweep`` on the IS bars; the best Sharpe among rows with at
    least ``min_trades`` trades wins, the baseline when none qualifies. The samples depend only on
    ``seed``, so every fold searches the same candidate set.
    """
    cls = get_strategy(strategy) if isinstance(strategy, str) else strategy
    current = cls.resolve({k: v for k, v in baseline.items() if k != "timeframe"})
    combos = _capped_samples(cls, current, baseline.keys(), max_delta, n, seed)

    def optimize(is_bars: pd.DataFrame) -> dict[str, float]:
        table = sweep(is_bars, cls, combos, config=config)
        sharpe = table["sharpe"].to_numpy(np.float64)
        usable = (table["trades"].to_numpy() >= min_trades) & np.isfinite(sharpe)
        if not usable.any():
            return dict(current)
        best = int(np.flatnonzero(usable)[np.argmax(sharpe[usable])])
        return {**current, **{name: float(combos.iloc[best][name]) for name in combos.columns}}

    return optimize


def _capped_samples(
    cls: type[Strategy], current: dict[str, float], names: object, max_delta: float, n: int, seed: int
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    columns: dict[str, np.ndarray] = {}
    for param in cls.space():
        value = current[param.name]
        if param.name not in names or param.kind == "choice" or value == 0:  # type: ignore[operator]
            continue
        cap = step_cap(value, param.low, param.high, min(max_delta, param.max_step_pct / 100.0))
        low, high = max(param.low, value - cap), min(param.high, value + cap)
        if param.kind == "int":
            low, high = math.ceil(low), math.floor(high)
            draws = rng.integers(int(low), int(high) + 1, size=n).astype(np.float64)
        else:
            draws = rng.uniform(low, high, size=n)
        columns[param.name] = np.concatenate([[value], draws])
    frame = pd.DataFrame(columns).drop_duplicates(ignore_index=True)
    own = frame.reindex(columns=cls.param_names()).fillna(pd.Series(current)).to_numpy(np.float64)
    return frame[cls.feasible(own)].reset_index(drop=True)
