"""What the markdown and HTML renderers share: grouping of matrix records, column specs and number formats."""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from backtest_matrix.regimes import REGIME_LABELS

__all__ = [
    "KPI_COLUMNS",
    "REGIME_COLUMNS",
    "SHOWN_SETS",
    "Group",
    "KpiRow",
    "fmt",
    "group_records",
    "kpi_rows",
    "number",
    "window_order",
]

#: (header with unit, KPI name, decimals): the KPI columns of the nightly tables.
KPI_COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("Return [%]", "return_pct", 2),
    ("Sharpe", "sharpe", 2),
    ("Max DD [%]", "max_drawdown_pct", 2),
    ("Win rate [%]", "win_rate_pct", 1),
    ("Trades", "trades", 0),
)
#: (header, regime): per-regime Sharpe columns (annualised, from the bars of that regime in the window).
REGIME_COLUMNS: tuple[tuple[str, str], ...] = tuple((f"Sharpe {name}", name) for name in REGIME_LABELS)
#: Param sets shown row by row; the neighbours (``n01``...) are summarised by their median.
SHOWN_SETS = ("live", "base")

Group = tuple[str, str, str]
_WINDOW = re.compile(r"^(\d+)d$")


@dataclass(frozen=True)
class KpiRow:
    """One row of a KPI table: a window and param set (or the neighbours' medians)."""

    window: str
    param_set: str
    status: str
    regime: str | None
    values: dict[str, float | None]


def number(value: Any) -> float | None:
    """A finite float, or None for missing, NaN, inf and non-numbers."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def fmt(value: float | None, decimals: int) -> str:
    """``value`` with ``decimals`` decimals and thousands separators, or an em dash when missing."""
    return "—" if value is None else f"{value:,.{decimals}f}"


def window_order(window: str) -> tuple[int, float, str]:
    """Sort key: day windows by length, then ``full``, then anything else by name."""
    match = _WINDOW.match(window)
    if match:
        return (0, float(match.group(1)), window)
    return (1, 0.0, window) if window == "full" else (2, 0.0, window)


def group_records(records: Iterable[Mapping[str, Any]]) -> dict[Group, list[Mapping[str, Any]]]:
    """Records by (strategy, symbol, timeframe), groups sorted by name."""
    groups: dict[Group, list[Mapping[str, Any]]] = {}
    for record in records:
        key = (str(record["strategy"]), str(record["symbol"]), str(record["timeframe"]))
        groups.setdefault(key, []).append(record)
    return dict(sorted(groups.items()))


def _values(record: Mapping[str, Any]) -> dict[str, float | None]:
    kpis = record.get("kpis") or {}
    regimes = record.get("regime_kpis") or {}
    values = {name: number(kpis.get(name)) for _, name, _ in KPI_COLUMNS}
    for _, regime in REGIME_COLUMNS:
        values[f"regime:{regime}"] = number((regimes.get(regime) or {}).get("sharpe"))
    return values


def _median_row(window: str, records: Sequence[Mapping[str, Any]]) -> KpiRow:
    rows = [_values(record) for record in records]
    medians: dict[str, float | None] = {}
    for name in rows[0]:
        present = [value for row in rows if (value := row[name]) is not None]
        medians[name] = statistics.median(present) if present else None
    label = f"neighbours (median of {len(records)})"
    return KpiRow(window, label, "ok", None, medians)


def kpi_rows(records: Sequence[Mapping[str, Any]]) -> list[KpiRow]:
    """The rows of one group's table: per window, the live and base sets, then the neighbours' medians."""
    by_window: dict[str, list[Mapping[str, Any]]] = {}
    for record in records:
        by_window.setdefault(str(record["window"]), []).append(record)
    rows: list[KpiRow] = []
    for window in sorted(by_window, key=window_order):
        cells = by_window[window]
        for param_set in SHOWN_SETS:
            for record in (r for r in cells if r.get("param_set") == param_set):
                status = str(record.get("status"))
                rows.append(KpiRow(window, param_set, status, record.get("regime"), _values(record)))
        neighbours = [r for r in cells if r.get("param_set") not in SHOWN_SETS and r.get("status") == "ok"]
        if neighbours:
            rows.append(_median_row(window, neighbours))
    return rows
