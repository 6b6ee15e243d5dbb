"""The analyzer: which live strategy/symbol/timeframe cells need optimising, and why.

It reads the nightly matrix results of the live parameter set (contract 1 records as the warehouse stores
them: ``kpis`` holds the KPIs plus ``_param_set``, ``_regime``, ``_window_start``, ...), one value per night
(per matrix run) for one rolling window, and raises three kinds of flag, each with its figure and threshold:

- **underperformance**: the latest night's Sharpe ratio or return is below the trailing baseline, the median
  of the previous ``trailing_nights`` nights, by more than ``max(drop, mad_multiplier × 1.4826 × MAD)`` (a
  fixed drop, widened for noisy histories);
- **drift**: the distribution of returns moved. On per-night returns (the last ``drift_recent_nights``
  against the ``drift_reference_nights`` before them) the two-sample KS test; on per-bar returns (when the
  caller passes the live strategy's per-bar returns: the recent bars against the bars before) the KS test
  and the Population Stability Index. PSI needs ``psi_min_sample`` values on each side: on a handful of
  nights its sampling noise alone is near ``(bins - 1)(1/n + 1/m)``, far above any useful threshold;
- **regime_change**: the latest window's regime differs from the trailing modal regime, and that regime
  held in at least ``regime_min_share`` of the trailing nights (from ``_regime`` of the records, or from the
  warehouse's regime detections when the records carry none).

:func:`schedule` then picks the cells to optimise: every flagged cell, plus every cell whose cadence is due.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from optimizer._drift import ks_pvalue, population_stability_index
from tradeloop.errors import OptimizerError

if TYPE_CHECKING:
    from warehouse import Warehouse

__all__ = [
    "CADENCE_HOURS",
    "AnalyzerConfig",
    "CellAnalysis",
    "Flag",
    "ScheduledCell",
    "analyze_history",
    "analyze_warehouse",
    "bar_drift_flags",
    "nightly_series",
    "schedule",
]

Cadence = Literal["6h", "daily", "weekly"]
FlagKind = Literal["underperformance", "drift", "regime_change"]
#: Hours between two scheduled optimisations of a cell, per cadence.
CADENCE_HOURS: dict[str, int] = {"6h": 6, "daily": 24, "weekly": 168}
_MAD_SCALE = 1.4826  # MAD × this estimates the standard deviation of a normal sample


@dataclass(frozen=True)
class AnalyzerConfig:
    """Thresholds of the analyzer (module docstring). Sharpe figures are annualised; returns are in %."""

    window: str = "90d"
    trailing_nights: int = 10
    min_nights: int = 5
    sharpe_drop: float = 0.5
    return_drop_pct: float = 5.0
    mad_multiplier: float = 3.0
    drift_recent_nights: int = 5
    drift_reference_nights: int = 20
    ks_alpha: float = 0.01
    psi_threshold: float = 0.25
    psi_bins: int = 10
    psi_min_sample: int = 100
    regime_min_share: float = 0.5


@dataclass(frozen=True)
class Flag:
    """One finding (contract 2 ``rationale.flags[]``)."""

    kind: FlagKind
    metric: str
    figure: float
    threshold: float
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "metric": self.metric,
            "figure": self.figure,
            "threshold": self.threshold,
            "message": self.message,
        }


@dataclass(frozen=True)
class CellAnalysis:
    """The nights of one live cell and the flags raised on them."""

    strategy: str
    symbol: str
    timeframe: str
    window: str
    nights: pd.DataFrame
    flags: list[Flag] = field(default_factory=list)

    @property
    def key(self) -> tuple[str, str, str]:
        return self.strategy, self.symbol, self.timeframe


@dataclass(frozen=True)
class ScheduledCell:
    """A cell to optimise now, with the reasons: flag kinds and/or ``scheduled`` (its cadence is due)."""

    strategy: str
    symbol: str
    timeframe: str
    reasons: tuple[str, ...]


def _kpi(kpis: Any, name: str) -> Any:
    return kpis.get(name) if isinstance(kpis, Mapping) else None


def nightly_series(history: pd.DataFrame, window: str, param_set: str = "live") -> pd.DataFrame:
    """One row per night (matrix run) of ``param_set`` on ``window``, oldest first.

    Columns ``night`` (the run's first ``created_at``), ``run_id``, ``sharpe``, ``return_pct``, ``regime``.
    """
    columns = ["night", "run_id", "sharpe", "return_pct", "regime"]
    if history.empty:
        return pd.DataFrame(columns=columns)
    kpis = history["kpis"]
    keep = (
        (history["status"] == "ok")
        & (history["window"] == window)
        & kpis.map(lambda k: _kpi(k, "_param_set") == param_set)
    )
    rows = history[keep]
    frame = pd.DataFrame(
        {
            "night": pd.to_datetime(rows["created_at"], utc=True),
            "run_id": rows["run_id"],
            "sharpe": rows["kpis"].map(lambda k: _kpi(k, "sharpe")).astype(float),
            "return_pct": rows["kpis"].map(lambda k: _kpi(k, "return_pct")).astype(float),
            "regime": rows["kpis"].map(lambda k: _kpi(k, "_regime")),
        }
    )
    frame = frame.sort_values("night", kind="stable").groupby("run_id", sort=False).head(1)
    return frame.reset_index(drop=True)[columns]


def _underperformance(nights: pd.DataFrame, config: AnalyzerConfig) -> list[Flag]:
    flags: list[Flag] = []
    for metric, drop, unit in (
        ("sharpe", config.sharpe_drop, ""),
        ("return_pct", config.return_drop_pct, " %"),
    ):
        values = nights[metric].to_numpy(float)
        trailing = values[:-1][-config.trailing_nights :]
        trailing = trailing[np.isfinite(trailing)]
        latest = values[-1] if len(values) else np.nan
        if len(trailing) < config.min_nights or not np.isfinite(latest):
            continue
        baseline = float(np.median(trailing))
        spread = _MAD_SCALE * float(np.median(np.abs(trailing - baseline)))
        margin = max(drop, config.mad_multiplier * spread)
        threshold = baseline - margin
        if latest < threshold:
            flags.append(
                Flag(
                    "underperformance",
                    metric,
                    float(latest),
                    threshold,
                    f"{metric} {latest:.4g}{unit} on the latest night is below the trailing baseline "
                    f"{baseline:.4g}{unit} (median of {len(trailing)} nights) minus {margin:.4g} "
                    f"= {threshold:.4g}",
                )
            )
    return flags


def _drift(
    recent: np.ndarray, reference: np.ndarray, label: str, config: AnalyzerConfig, *, psi: bool
) -> list[Flag]:
    flags: list[Flag] = []
    statistic, pvalue = ks_pvalue(recent, reference)
    sizes = f"{len(recent)} recent vs {len(reference)} reference"
    if pvalue < config.ks_alpha:
        flags.append(
            Flag(
                "drift",
                f"{label}_ks_pvalue",
                pvalue,
                config.ks_alpha,
                f"{label}: two-sample KS statistic {statistic:.3f}, p = {pvalue:.3g} < "
                f"{config.ks_alpha:g} ({sizes})",
            )
        )
    if psi and min(len(recent), len(reference)) >= config.psi_min_sample:
        value = population_stability_index(recent, reference, config.psi_bins)
        if value > config.psi_threshold:
            flags.append(
                Flag(
                    "drift",
                    f"{label}_psi",
                    value,
                    config.psi_threshold,
                    f"{label}: population stability index {value:.3f} > {config.psi_threshold:g} ({sizes})",
                )
            )
    return flags


def _night_drift(nights: pd.DataFrame, config: AnalyzerConfig) -> list[Flag]:
    values = nights["return_pct"].to_numpy(float)
    values = values[np.isfinite(values)]
    recent = values[-config.drift_recent_nights :]
    reference = values[: -config.drift_recent_nights][-config.drift_reference_nights :]
    if len(recent) < config.drift_recent_nights or len(reference) < config.min_nights:
        return []
    return _drift(recent, reference, "nightly_return_pct", config, psi=True)


def bar_drift_flags(returns: pd.Series, recent_bars: int, config: AnalyzerConfig | None = None) -> list[Flag]:
    """Drift flags of per-bar returns: the last ``recent_bars`` against all the bars before them."""
    config = config or AnalyzerConfig()
    values = returns.to_numpy(float)
    values = values[np.isfinite(values)]
    if recent_bars < 1 or len(values) <= recent_bars:
        raise OptimizerError(
            f"bar drift: recent_bars={recent_bars} must be >= 1 and below the {len(values)} returns given; "
            "pass a longer history or a shorter recent window"
        )
    return _drift(values[-recent_bars:], values[:-recent_bars], "bar_return", config, psi=True)


def _regime_change(labels: Sequence[str], config: AnalyzerConfig) -> list[Flag]:
    if len(labels) < config.min_nights + 1:
        return []
    latest = labels[-1]
    trailing = pd.Series(list(labels[:-1][-config.trailing_nights :]))
    counts = trailing.value_counts()
    modal = str(sorted(counts.index[counts == counts.max()])[0])
    share = float(counts.max() / len(trailing))
    if latest == modal or share < config.regime_min_share:
        return []
    return [
        Flag(
            "regime_change",
            "regime_modal_share",
            share,
            config.regime_min_share,
            f"regime changed: the latest window is {latest}, the trailing {len(trailing)} nights were "
            f"{modal} in {share:.0%} of them (>= {config.regime_min_share:.0%} makes it established)",
        )
    ]


def analyze_history(
    history: pd.DataFrame,
    *,
    strategy: str,
    symbol: str,
    timeframe: str,
    config: AnalyzerConfig | None = None,
    regime_history: pd.DataFrame | None = None,
) -> CellAnalysis:
    """Flags of one cell from its warehouse history (``Warehouse.backtest_history`` frame)."""
    config = config or AnalyzerConfig()
    nights = nightly_series(history, config.window)
    flags = _underperformance(nights, config) + _night_drift(nights, config)
    labels = [str(label) for label in nights["regime"] if isinstance(label, str)]
    if not labels and regime_history is not None and not regime_history.empty:
        labels = [str(label) for label in regime_history["regime"]]
    flags += _regime_change(labels, config)
    return CellAnalysis(strategy, symbol, timeframe, config.window, nights, flags)


def analyze_warehouse(
    warehouse: Warehouse,
    live_params: Mapping[str, Mapping[str, Mapping[str, object]]],
    config: AnalyzerConfig | None = None,
) -> list[CellAnalysis]:
    """:func:`analyze_history` for every live strategy/symbol (its timeframe from the live parameters)."""
    analyses = []
    for strategy in sorted(live_params):
        for symbol in sorted(live_params[strategy]):
            timeframe = str(live_params[strategy][symbol].get("timeframe", ""))
            history = warehouse.backtest_history(strategy, symbol, timeframe or None)
            regimes = warehouse.regime_history(symbol, timeframe or None)
            analyses.append(
                analyze_history(
                    history,
                    strategy=strategy,
                    symbol=symbol,
                    timeframe=timeframe,
                    config=config,
                    regime_history=regimes,
                )
            )
    return analyses


def schedule(
    analyses: Iterable[CellAnalysis],
    cadence: str,
    last_optimized: Mapping[tuple[str, str, str], datetime],
    now: datetime,
) -> list[ScheduledCell]:
    """Cells to optimise: flagged ones, and those not optimised within the cadence's hours (or never)."""
    if cadence not in CADENCE_HOURS:
        raise OptimizerError(f"cadence {cadence!r} is unknown; use one of {', '.join(CADENCE_HOURS)}")
    interval = timedelta(hours=CADENCE_HOURS[cadence])
    chosen = []
    for analysis in analyses:
        reasons: list[str] = list(dict.fromkeys(flag.kind for flag in analysis.flags))
        last = last_optimized.get(analysis.key)
        if last is None or now - last >= interval:
            reasons.append("scheduled")
        if reasons:
            chosen.append(
                ScheduledCell(analysis.strategy, analysis.symbol, analysis.timeframe, tuple(reasons))
            )
    return chosen
