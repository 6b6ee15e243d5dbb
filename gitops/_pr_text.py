"""The short texts around a proposal's pull request: branch name, commit message and risk label.

**Risk label** by how much the proposal changes the risk the bot takes (:func:`risk_change`), not by how far
its parameters move: a per-cycle cap of 20 % on a band of the signal changes no risk, while a wider stop on a
larger position does. Three measures, each a relative change in %, before → after:

- **exposure**: the most a single trade can lose, ``trade_fraction × stop``, where the stop is the tighter
  of ``stop_loss_pct`` and ``exit_trailing_stop_pct`` that is on (0 switches a stop off; a trailing stop
  also caps the loss from the entry). Without a stop on either side, the position size alone
  (``trade_fraction``). A stop switched on lowers the risk and counts by the size change alone; a stop
  switched off, leaving none, makes the change ``risk:high`` whatever the figures. The take-profit tiers
  close positions earlier or later but bound no loss: they count through the two KPIs below;
- **max drawdown**: ``max_drawdown_pct`` of the proposal's KPIs against the live parameters' on the same
  bars, measured against at least :data:`RISK_DRAWDOWN_FLOOR_PCT` (1 %), so 0.2 % → 0.4 % is +20 %,
  not +100 %;
- **worst day**: the loss of the worst UTC day (``worst_day_pct``), against at least
  :data:`RISK_WORST_DAY_FLOOR_PCT` (0.1 %).

The largest of the three rises (a fall lowers no label) decides:

- ``risk:high``: above :data:`RISK_HIGH_PCT` (+25 %; e.g. a stop and a position both widened by the 20 %
  cap, +44 %), or the last stop switched off;
- ``risk:medium``: above :data:`RISK_MEDIUM_PCT` (+10 %; e.g. the position alone grown by its 20 % cap);
- ``risk:low``: otherwise: a change of the signal's bands or periods that does not deepen the drawdown or
  the worst day by more than 10 %, any change that lowers them, or no change at all.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

from gitops._markdown import fmt_count, fmt_number, fmt_sig, fmt_value

if TYPE_CHECKING:
    from tradeloop.documents import Proposal

__all__ = [
    "BRANCH_PREFIX",
    "RISK_DRAWDOWN_FLOOR_PCT",
    "RISK_HIGH_PCT",
    "RISK_MEDIUM_PCT",
    "RISK_WORST_DAY_FLOOR_PCT",
    "RiskChange",
    "RiskLabel",
    "branch_name",
    "commit_message",
    "kpi_bars",
    "risk_change",
    "risk_label",
]

BRANCH_PREFIX: Final = "tradeloop/opt/"
RISK_MEDIUM_PCT: Final = 10.0
RISK_HIGH_PCT: Final = 25.0
RISK_DRAWDOWN_FLOOR_PCT: Final = 1.0
RISK_WORST_DAY_FLOOR_PCT: Final = 0.1
RiskLabel = Literal["risk:low", "risk:medium", "risk:high"]
STOP_PARAMS: Final = ("stop_loss_pct", "exit_trailing_stop_pct")
SIZE_PARAM: Final = "trade_fraction"
#: The risk parameters every strategy shares (``backtest_matrix.engine.RISK_NAMES``; a test keeps them equal).
RISK_PARAMS: Final = (
    "stop_loss_pct",
    "exit_tp0_pct",
    "exit_tp0_fraction",
    "exit_tp1_pct",
    "exit_tp1_fraction",
    "exit_tp2_pct",
    "exit_tp2_fraction",
    "exit_trailing_stop_pct",
    "trade_fraction",
)
_SUBJECT_LIMIT = 72
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def branch_name(strategy: str, symbol: str, timeframe: str) -> str:
    """``tradeloop/opt/<strategy>-<symbol>-<timeframe>``: one fixed branch per purpose, a valid git ref.

    Characters git refuses (``~^:?*[\\``, spaces, ``@{``, ``..``) become ``-``; a component never starts
    with ``.`` or ends with ``.`` or ``.lock``.
    """
    tail = "-".join((strategy, symbol, timeframe))
    return BRANCH_PREFIX + _ref_component(tail)


def _ref_component(name: str) -> str:
    safe = _UNSAFE.sub("-", name)
    safe = re.sub(r"\.{2,}", ".", safe).lstrip(".-")
    while safe.endswith((".", ".lock")):
        safe = safe.removesuffix(".lock").rstrip(".")
    return safe or "unnamed"


@dataclass(frozen=True)
class RiskChange:
    """How much a proposal changes the risk taken (module docstring); each figure in %, None when unknown.

    Attributes
    ----------
    exposure_pct
        Relative change of the most one trade can lose (size × the tighter stop; the size alone without a
        stop on either side).
    drawdown_pct, worst_day_pct
        Relative change of the max drawdown and of the worst day's loss on the proposal's bars.
    stop_removed
        The live parameters have a stop and the proposal switches the last one off.
    moves
        The risk parameters that change: name, before, after.
    """

    exposure_pct: float | None
    drawdown_pct: float | None
    worst_day_pct: float | None
    stop_removed: bool = False
    moves: tuple[tuple[str, Any, Any], ...] = ()

    @property
    def score_pct(self) -> float:
        """The largest of the three changes (0 when none is known), to 1e-6 %: 8 % → 8.8 % is +10 %, not
        the +10.000000000000009 % of float arithmetic that would cross the threshold."""
        known = [v for v in (self.exposure_pct, self.drawdown_pct, self.worst_day_pct) if v is not None]
        return round(max(known, default=0.0), 6)

    @property
    def label(self) -> RiskLabel:
        if self.stop_removed or self.score_pct > RISK_HIGH_PCT:
            return "risk:high"
        return "risk:medium" if self.score_pct > RISK_MEDIUM_PCT else "risk:low"

    def explain(self) -> str:
        """One line for a reviewer: the label, what moved it, and the thresholds."""
        moved = ", ".join(f"{name} {fmt_value(old)} → {fmt_value(new)}" for name, old, new in self.moves)
        parts = [
            "the last stop is switched off" if self.stop_removed else "",
            _part(f"most a trade can lose (size × stop; {moved})", self.exposure_pct)
            if self.moves
            else "no risk parameter changes",
            _part("max drawdown", self.drawdown_pct),
            _part("worst day's loss", self.worst_day_pct),
        ]
        shown = "; ".join(part for part in parts if part) or "no risk measure available"
        return (
            f"`{self.label}`: {shown} (medium above +{fmt_value(RISK_MEDIUM_PCT)} %, high above "
            f"+{fmt_value(RISK_HIGH_PCT)} % or with the last stop switched off)"
        )


def _part(name: str, change_pct: float | None) -> str:
    return "" if change_pct is None else f"{name} {fmt_sig(change_pct, sign=True)} %"


def risk_change(proposal: Proposal) -> RiskChange:
    """The risk change of ``proposal``: its risk parameters and KPIs before → after (module docstring)."""
    if not proposal.changes:
        return RiskChange(0.0, None, None)
    before, after = proposal.params_before, proposal.params_after
    moves = tuple(
        (change.parameter, change.current, change.proposed)
        for change in proposal.changes
        if change.parameter in RISK_PARAMS
    )
    size = _ratio(before.get(SIZE_PARAM), after.get(SIZE_PARAM))
    stop_before, stop_after = _stop(before), _stop(after)
    stop_removed = stop_before is not None and stop_after is None
    ratio = size
    if stop_before is not None and stop_after is not None:
        ratio = size * stop_after / stop_before
    kpis_before, kpis_after = proposal.kpis_before.overall, proposal.kpis_after.overall
    return RiskChange(
        exposure_pct=(ratio - 1.0) * 100.0,
        drawdown_pct=_kpi_change(
            kpis_before.get("max_drawdown_pct"), kpis_after.get("max_drawdown_pct"), RISK_DRAWDOWN_FLOOR_PCT
        ),
        worst_day_pct=_kpi_change(
            _loss(kpis_before.get("worst_day_pct")),
            _loss(kpis_after.get("worst_day_pct")),
            RISK_WORST_DAY_FLOOR_PCT,
        ),
        stop_removed=stop_removed,
        moves=moves,
    )


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _ratio(before: Any, after: Any) -> float:
    """``after / before`` of a positive parameter; 1 (no change) when either is missing."""
    low, high = _number(before), _number(after)
    return high / low if low and high is not None and low > 0 else 1.0


def _stop(params: Mapping[str, Any]) -> float | None:
    """The tighter stop that is on, in %, or None when no stop is on."""
    stops = [value for name in STOP_PARAMS if (value := _number(params.get(name))) is not None and value > 0]
    return min(stops, default=None)


def _loss(worst_day_pct: Any) -> float | None:
    value = _number(worst_day_pct)
    return None if value is None else max(0.0, -value)


def _kpi_change(before: Any, after: Any, floor: float) -> float | None:
    low, high = _number(before), _number(after)
    if low is None or high is None:
        return None
    return (high - low) / max(abs(low), floor) * 100.0


def risk_label(proposal: Proposal) -> RiskLabel:
    """``risk:low``, ``risk:medium`` or ``risk:high`` by the size of the risk change (module docstring)."""
    return risk_change(proposal).label


def commit_message(proposal: Proposal) -> str:
    """A subject of at most 72 characters naming the pair and the moves, and a body listing each parameter.

    The body ends with ``Tradeloop-Proposal-Hash:`` and ``Tradeloop-Run-Id:`` trailers, so a commit made
    by tradeloop can be told from a person's.
    """
    pair = f"{proposal.strategy}/{proposal.symbol} {proposal.timeframe}"
    changes = proposal.changes
    moves = [f"{c.parameter} {fmt_value(c.current)}->{fmt_value(c.proposed)}" for c in changes]
    subject = _subject(f"tradeloop: {pair}: ", moves) if moves else f"tradeloop: {pair}: no change"
    if len(subject) > _SUBJECT_LIMIT:
        subject = subject[: _SUBJECT_LIMIT - 1] + "…"
    lines = [subject, ""]
    if changes:
        lines.append(f"Parameters of LIVE_PARAMS.{proposal.strategy}.{proposal.symbol}:")
        lines += [
            f"- {c.parameter}: {fmt_value(c.current)} -> {fmt_value(c.proposed)} "
            f"({fmt_sig(c.delta_pct, sign=True)} %, cap {fmt_value(c.cap_pct)} %, bound {c.bound}, "
            f"limited by {c.binding})"
            for c in changes
        ]
    else:
        lines.append(f"No change: {proposal.reason or 'the live parameters stay'}.")
    before, after = proposal.kpis_before.overall, proposal.kpis_after.overall
    lines += [
        "",
        f"Sharpe {fmt_number(before.get('sharpe'))} -> {fmt_number(after.get('sharpe'))}, return "
        f"{fmt_number(before.get('return_pct'))} % -> {fmt_number(after.get('return_pct'))} %, max drawdown "
        f"{fmt_number(before.get('max_drawdown_pct'))} % -> {fmt_number(after.get('max_drawdown_pct'))} % "
        f"on the same {kpi_bars(proposal)}.",
        f"Config hash {proposal.config_hash_before} -> {proposal.config_hash_after}.",
        "",
        f"Tradeloop-Proposal-Hash: {proposal.full_hash}",
        f"Tradeloop-Run-Id: {proposal.run_id}",
    ]
    return "\n".join(lines) + "\n"


def kpi_bars(proposal: Proposal) -> str:
    """The bars the proposal's own KPIs were measured on: ``26,280 search bars`` (in sample, before the
    holdout), or ``2,263 bars`` for a proposal that recorded no holdout."""
    if proposal.holdout is not None and proposal.holdout.search_bars:
        return f"{fmt_count(proposal.holdout.search_bars)} search bars"
    return f"{fmt_count(proposal.data.bars)} bars"


def _subject(prefix: str, moves: list[str]) -> str:
    """``prefix`` and as many moves as fit in the limit, then ``and N more``."""
    for shown in range(len(moves), 0, -1):
        rest = len(moves) - shown
        text = prefix + ", ".join(moves[:shown]) + (f" and {rest} more" if rest else "")
        if len(text) <= _SUBJECT_LIMIT:
            return text
    return prefix + f"{len(moves)} parameters"
