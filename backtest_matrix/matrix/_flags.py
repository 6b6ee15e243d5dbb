"""Flags: tonight's KPIs of a cell against the trailing baseline of the same cell on previous nights.

**Same cell.** A cell hash includes the data hash, which changes every night the data grows, so the hash
cannot find a cell's history. A cell's history is keyed by :func:`cell_key` instead: strategy, symbol,
timeframe, window and the *resolved parameter values* (canonical JSON). The key leaves out the param-set
label (``live``, ``base``, ``n01``...): the label names a role, the values are what was backtested, so when
the live parameters change, the ``live`` cell starts a new history rather than being compared with another
configuration's. It also leaves out the data hash, engine version and run id (they are what changes between
nights).

**Nights.** Every earlier run that stored a result for the key is one night (its latest row if several);
rows with a hash that tonight's merge also holds are not history (an unchanged data set gives the same hash
and the warehouse keeps the first night's row). Only ``ok`` results count. The baseline is taken over the
last ``baseline_nights`` nights and needs at least ``min_nights`` of them; a cell with less history is not
flagged.

**Underperformance**: ``median(sharpe of the nights) - sharpe tonight > sharpe_drop`` (annualised Sharpe
units).

**Drift**: for each of ``drift_metrics`` (default ``return_pct`` and ``max_drawdown_pct``), the robust
z-score ``z = (x - median) / max(1.4826 MAD, min_scale)`` with ``|z| > drift_z``. 1.4826 MAD estimates the
standard deviation of normal data, and 3.5 is the cut-off Iglewicz and Hoaglin recommend for their modified
z-score ``0.6745 (x - median) / MAD``, which is the same quantity. ``min_scale`` (in the metric's unit,
percentage points) keeps a perfectly steady history (MAD 0) from flagging a negligible wiggle.

References
----------
B. Iglewicz and D. C. Hoaglin, *How to Detect and Handle Outliers*, ASQC Quality Press, 1993.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal

import pandas as pd

from tradeloop._provenance import canonical_json
from tradeloop.errors import DataError
from warehouse import Warehouse

__all__ = [
    "MAD_TO_SIGMA",
    "CellKey",
    "Flag",
    "FlagConfig",
    "HistoryPoint",
    "cell_key",
    "compute_flags",
    "history_from_warehouse",
    "robust_z",
]

#: 1.4826 MAD is a consistent estimator of the standard deviation of normal data: 1 / Phi^-1(3/4).
MAD_TO_SIGMA = 1.0 / statistics.NormalDist().inv_cdf(0.75)

FlagKind = Literal["underperformance", "drift"]
CellKey = tuple[str, str, str, str, str]


@dataclass(frozen=True)
class FlagConfig:
    """Thresholds of :func:`compute_flags` (see the module docstring).

    Attributes
    ----------
    baseline_nights
        The trailing baseline is the median of the last ``baseline_nights`` nights (default 7).
    min_nights
        A cell with fewer nights of history is not flagged (default 3).
    sharpe_drop
        Underperformance when the Sharpe ratio falls more than this below the baseline (default 0.5).
    drift_z
        Drift when ``|robust z|`` exceeds this (default 3.5).
    drift_metrics
        KPIs checked for drift.
    min_scale
        Floor of the robust scale, in the metric's unit (default 1.0 percentage point).
    """

    baseline_nights: int = 7
    min_nights: int = 3
    sharpe_drop: float = 0.5
    drift_z: float = 3.5
    drift_metrics: tuple[str, ...] = ("return_pct", "max_drawdown_pct")
    min_scale: float = 1.0

    def __post_init__(self) -> None:
        for name in ("baseline_nights", "min_nights"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise DataError(f"FlagConfig.{name}={value!r} must be an integer >= 1; the default is 7 / 3")
        if self.min_nights > self.baseline_nights:
            raise DataError(
                f"FlagConfig.min_nights={self.min_nights} is above baseline_nights={self.baseline_nights}; "
                "no cell could ever be flagged, lower min_nights"
            )
        for name in ("sharpe_drop", "drift_z", "min_scale"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise DataError(f"FlagConfig.{name}={value!r} must be a number > 0")


@dataclass(frozen=True)
class Flag:
    """One flagged cell and metric, with the figures behind it."""

    kind: FlagKind
    strategy: str
    symbol: str
    timeframe: str
    window: str
    param_set: str
    cell_hash: str
    metric: str
    figure: float
    baseline: float
    threshold: float
    score: float
    nights: int
    message: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class HistoryPoint:
    """One stored result of a cell on an earlier night."""

    run_id: str
    at: datetime
    cell_hash: str
    kpis: Mapping[str, Any]


def cell_key(record: Mapping[str, Any]) -> CellKey:
    """Strategy, symbol, timeframe, window and canonical params: what makes two nights' results comparable."""
    return (
        str(record["strategy"]),
        str(record["symbol"]),
        str(record["timeframe"]),
        str(record["window"]),
        canonical_json({name: _as_number(value) for name, value in dict(record["params"]).items()}),
    )


def _as_number(value: Any) -> Any:
    """Numbers as floats, so ``12`` and ``12.0`` (as a JSON column may give them back) key alike."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return value


def history_from_warehouse(
    warehouse: Warehouse, records: Sequence[Mapping[str, Any]], exclude_run_id: str
) -> dict[CellKey, list[HistoryPoint]]:
    """The earlier ``ok`` results of the cells of ``records``, keyed by :func:`cell_key`.

    Rows of ``exclude_run_id`` (tonight's run) and rows whose hash is one of ``records`` are left out.
    """
    wanted = {cell_key(record) for record in records}
    tonight = {str(record["cell_hash"]) for record in records}
    history: dict[CellKey, list[HistoryPoint]] = {}
    for strategy, symbol, timeframe in sorted({key[:3] for key in wanted}):
        frame = warehouse.backtest_history(strategy, symbol, timeframe)
        rows: list[dict[str, Any]] = frame.to_dict("records")  # type: ignore[assignment]
        for row in rows:
            if row["status"] != "ok" or row["run_id"] == exclude_run_id or row["cell_hash"] in tonight:
                continue
            key = cell_key(row)
            if key in wanted:
                at = pd.Timestamp(row["created_at"]).to_pydatetime()
                point = HistoryPoint(str(row["run_id"]), at, str(row["cell_hash"]), row["kpis"] or {})
                history.setdefault(key, []).append(point)
    return history


def _nightly_values(points: Iterable[HistoryPoint], metric: str, nights: int) -> list[float]:
    """The metric on each of the last ``nights`` nights (one value per run: its latest row), oldest first."""
    latest: dict[str, HistoryPoint] = {}
    for point in sorted(points, key=lambda p: (p.at, p.cell_hash)):
        latest.pop(point.run_id, None)
        latest[point.run_id] = point  # re-insert so dict order follows the latest time
    values = [_finite(point.kpis.get(metric)) for point in latest.values()]
    return [value for value in values if value is not None][-nights:]


def _finite(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def robust_z(value: float, history: Sequence[float], min_scale: float) -> tuple[float, float, float]:
    """``(z, median, scale)``: ``scale = max(1.4826 MAD, min_scale)``, ``z = (value - median) / scale``."""
    median = statistics.median(history)
    mad = statistics.median(abs(item - median) for item in history)
    scale = max(MAD_TO_SIGMA * mad, min_scale)
    return (value - median) / scale, median, scale


def compute_flags(
    records: Iterable[Mapping[str, Any]],
    history: Mapping[CellKey, Sequence[HistoryPoint]],
    config: FlagConfig | None = None,
) -> list[Flag]:
    """Underperformance and drift flags of tonight's ``ok`` records against their history.

    Parameters
    ----------
    records
        Tonight's merged result records (contract 1).
    history
        Earlier results per :func:`cell_key` (:func:`history_from_warehouse`).
    config
        Thresholds; default :class:`FlagConfig()`.

    Returns
    -------
    list[Flag]
        In record order; underperformance before drift for a cell.
    """
    config = FlagConfig() if config is None else config
    flags: list[Flag] = []
    for record in records:
        points = history.get(cell_key(record), ())
        if record.get("status") != "ok" or not points:
            continue
        flags.extend(_cell_flags(record, points, config))
    return flags


def _cell_flags(record: Mapping[str, Any], points: Sequence[HistoryPoint], config: FlagConfig) -> list[Flag]:
    kpis = record.get("kpis") or {}
    flags: list[Flag] = []
    sharpe = _finite(kpis.get("sharpe"))
    past = _nightly_values(points, "sharpe", config.baseline_nights)
    if sharpe is not None and len(past) >= config.min_nights:
        baseline = statistics.median(past)
        drop = baseline - sharpe
        if drop > config.sharpe_drop:
            message = (
                f"Sharpe {sharpe:.2f} vs trailing median {baseline:.2f} over {len(past)} nights: "
                f"a drop of {drop:.2f} > {config.sharpe_drop:g}"
            )
            flags.append(_flag("underperformance", record, "sharpe", sharpe, baseline, config.sharpe_drop,
                               drop, len(past), message))  # fmt: skip
    for metric in config.drift_metrics:
        value = _finite(kpis.get(metric))
        past = _nightly_values(points, metric, config.baseline_nights)
        if value is None or len(past) < config.min_nights:
            continue
        z, median, scale = robust_z(value, past, config.min_scale)
        if abs(z) > config.drift_z:
            message = (
                f"{metric} {value:.2f} vs trailing median {median:.2f} over {len(past)} nights: robust z "
                f"{z:+.1f} (scale {scale:.2f}), beyond ±{config.drift_z:g}"
            )
            flags.append(_flag("drift", record, metric, value, median, config.drift_z, z, len(past), message))
    return flags


def _flag(
    kind: FlagKind,
    record: Mapping[str, Any],
    metric: str,
    figure: float,
    baseline: float,
    threshold: float,
    score: float,
    nights: int,
    message: str,
) -> Flag:
    where = "/".join(str(record[name]) for name in ("strategy", "symbol", "timeframe", "window"))
    param_set = str(record.get("param_set") or "?")
    return Flag(
        kind=kind,
        strategy=str(record["strategy"]),
        symbol=str(record["symbol"]),
        timeframe=str(record["timeframe"]),
        window=str(record["window"]),
        param_set=param_set,
        cell_hash=str(record["cell_hash"]),
        metric=metric,
        figure=figure,
        baseline=baseline,
        threshold=threshold,
        score=score,
        nights=nights,
        message=f"{kind}: {where} [{param_set}]: {message}",
    )
