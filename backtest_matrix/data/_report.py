"""What the quality checks find: :class:`Finding`, :class:`QualityReport` and the :class:`QualityConfig`."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from tradeloop.errors import DataError

__all__ = ["CALENDARS", "Calendar", "Finding", "QualityConfig", "QualityReport", "Severity"]

Severity = Literal["error", "warning"]
Calendar = Literal["24/7", "weekdays"]
CALENDARS: tuple[Calendar, ...] = ("24/7", "weekdays")


@dataclass(frozen=True)
class QualityConfig:
    """How strict the quality checks are.

    Attributes
    ----------
    calendar
        ``"24/7"``: every bar is expected (crypto). ``"weekdays"``: Saturdays and Sundays are not expected,
        so a weekend is no gap (equities).
    max_missing_bars
        The most expected bars one gap may miss before it is an error (market holidays, closures).
    min_history_days
        The least span of history, in days.
    window_days
        The span the data must cover for the requested window; the required span is the larger of this
        and ``min_history_days``.
    """

    calendar: Calendar = "24/7"
    max_missing_bars: int = 0
    min_history_days: float = 90.0
    window_days: float | None = None

    def __post_init__(self) -> None:
        if self.calendar not in CALENDARS:
            raise DataError(f"quality calendar must be one of {list(CALENDARS)}, got {self.calendar!r}")
        if isinstance(self.max_missing_bars, bool) or not isinstance(self.max_missing_bars, int):
            raise DataError(f"max_missing_bars must be a whole number >= 0, got {self.max_missing_bars!r}")
        if self.max_missing_bars < 0:
            raise DataError(f"max_missing_bars must be >= 0, got {self.max_missing_bars}")
        if not (math.isfinite(self.min_history_days) and self.min_history_days >= 0):
            raise DataError(f"min_history_days must be a finite number >= 0, got {self.min_history_days}")
        if self.window_days is not None and not (math.isfinite(self.window_days) and self.window_days > 0):
            raise DataError(f"window_days must be a finite number > 0 (or None), got {self.window_days}")

    @property
    def required_days(self) -> float:
        """The span of history the checks require."""
        return max(self.min_history_days, self.window_days or 0.0)


@dataclass(frozen=True)
class Finding:
    """One problem found in the bars.

    Attributes
    ----------
    check
        Stable id: ``nan``, ``inf``, ``non_positive_price``, ``high_below_body``, ``low_above_body``,
        ``negative_volume``, ``zero_volume``, ``duplicate_timestamp``, ``non_monotonic_timestamp``, ``gap``,
        ``short_history``.
    severity
        ``"error"`` fails the load; ``"warning"`` is reported only.
    source
        The data source as the user named it.
    column
        The column concerned (``timestamp`` for time checks), or None.
    row
        1-based data row number in the source (header not counted), or None when not row-specific.
    timestamp
        ISO 8601 timestamp of the row, or of the first bar for history checks; None when there is none.
    value
        The offending value (a number, or text for timestamps); None when not applicable.
    message
        One line naming the source, row, timestamp, column and value.
    fix
        A concrete suggestion.
    count
        How many rows this finding stands for. A check reports its first rows one by one (count 1); the last
        one it reports also stands for the rows not listed, so the counts of a check add up to its total.
    """

    check: str
    severity: Severity
    source: str
    column: str | None
    row: int | None
    timestamp: str | None
    value: float | int | str | None
    message: str
    fix: str
    count: int = 1

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict; a non-finite ``value`` becomes the string ``"nan"``, ``"inf"`` or ``"-inf"``."""
        data = asdict(self)
        if isinstance(self.value, float) and not math.isfinite(self.value):
            data["value"] = str(self.value)
        return data


@dataclass(frozen=True)
class QualityReport:
    """The findings of :func:`check_bars` on one source.

    Attributes
    ----------
    source
        The data source as the user named it.
    timeframe
        The bar timeframe the checks assumed (the source's native one).
    rows
        How many rows were checked.
    config
        The thresholds used.
    findings
        Errors first, then warnings, each in check order.
    """

    source: str
    timeframe: str
    rows: int
    config: QualityConfig
    findings: list[Finding] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def ok(self) -> bool:
        """True when there is no error (warnings allowed)."""
        return not self.errors

    def summary(self) -> str:
        """One line, e.g. ``"2 errors (gap 1, nan 1), 0 warnings in 5,031 rows"``."""
        return (
            f"{self._describe(self.errors, 'error')}, {self._describe(self.warnings, 'warning')} "
            f"in {self.rows:,} rows"
        )

    @staticmethod
    def _describe(findings: list[Finding], noun: str) -> str:
        rows: Counter[str] = Counter()
        for finding in findings:
            rows[finding.check] += finding.count
        total = sum(rows.values())
        label = f"{total} {noun}{'' if total == 1 else 's'}"
        if not rows:
            return label
        return label + " (" + ", ".join(f"{check} {count}" for check, count in sorted(rows.items())) + ")"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict (for ``--json``)."""
        return {
            "source": self.source,
            "timeframe": self.timeframe,
            "rows": self.rows,
            "ok": self.ok,
            "errors": sum(f.count for f in self.errors),
            "warnings": sum(f.count for f in self.warnings),
            "summary": self.summary(),
            "config": asdict(self.config),
            "findings": [f.to_dict() for f in self.findings],
        }
