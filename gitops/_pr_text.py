"""The short texts around a proposal's pull request: branch name, commit message and risk label.

**Risk label** by the size of the change (the ``changes`` of the proposal):

- ``risk:high``: the largest ``|delta_pct|`` is above 15 %, or 3 or more parameters move;
- ``risk:medium``: the largest ``|delta_pct|`` is above 5 %, or 2 parameters move;
- ``risk:low``: otherwise, i.e. one parameter moving by at most 5 % (or no change at all).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final, Literal

from gitops._documents import proposal_hash
from gitops._markdown import fmt_number, fmt_value

__all__ = [
    "BRANCH_PREFIX",
    "RISK_HIGH_DELTA_PCT",
    "RISK_HIGH_KNOBS",
    "RISK_MEDIUM_DELTA_PCT",
    "RISK_MEDIUM_KNOBS",
    "RiskLabel",
    "branch_name",
    "commit_message",
    "risk_label",
]

BRANCH_PREFIX: Final = "tradeloop/opt/"
RISK_MEDIUM_DELTA_PCT: Final = 5.0
RISK_HIGH_DELTA_PCT: Final = 15.0
RISK_MEDIUM_KNOBS: Final = 2
RISK_HIGH_KNOBS: Final = 3
RiskLabel = Literal["risk:low", "risk:medium", "risk:high"]
_SUBJECT_LIMIT = 72
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def branch_name(proposal: Mapping[str, Any]) -> str:
    """``tradeloop/opt/<strategy>-<symbol>-<timeframe>``: one fixed branch per purpose, a valid git ref.

    Characters git refuses (``~^:?*[\\``, spaces, ``@{``, ``..``) become ``-``; a component never starts
    with ``.`` or ends with ``.`` or ``.lock``.
    """
    tail = "-".join(str(proposal[key]) for key in ("strategy", "symbol", "timeframe"))
    return BRANCH_PREFIX + _ref_component(tail)


def _ref_component(name: str) -> str:
    safe = _UNSAFE.sub("-", name)
    safe = re.sub(r"\.{2,}", ".", safe).lstrip(".-")
    while safe.endswith((".", ".lock")):
        safe = safe.removesuffix(".lock").rstrip(".")
    return safe or "unnamed"


def risk_label(proposal: Mapping[str, Any]) -> RiskLabel:
    """``risk:low``, ``risk:medium`` or ``risk:high`` by the size of the change (module docstring)."""
    changes = proposal.get("changes") or []
    largest = max((abs(float(change["delta_pct"])) for change in changes), default=0.0)
    if largest > RISK_HIGH_DELTA_PCT or len(changes) >= RISK_HIGH_KNOBS:
        return "risk:high"
    if largest > RISK_MEDIUM_DELTA_PCT or len(changes) >= RISK_MEDIUM_KNOBS:
        return "risk:medium"
    return "risk:low"


def commit_message(proposal: Mapping[str, Any]) -> str:
    """A subject of at most 72 characters naming the pair and the moves, and a body listing each parameter.

    The body ends with ``Tradeloop-Proposal-Hash:`` and ``Tradeloop-Run-Id:`` trailers, so a commit made
    by tradeloop can be told from a person's.
    """
    pair = f"{proposal['strategy']}/{proposal['symbol']} {proposal['timeframe']}"
    changes = proposal.get("changes") or []
    moves = [f"{c['parameter']} {fmt_value(c['current'])}->{fmt_value(c['proposed'])}" for c in changes]
    subject = _subject(f"tradeloop: {pair}: ", moves) if moves else f"tradeloop: {pair}: no change"
    if len(subject) > _SUBJECT_LIMIT:
        subject = subject[: _SUBJECT_LIMIT - 1] + "…"
    lines = [subject, ""]
    if changes:
        lines.append(f"Parameters of LIVE_PARAMS.{proposal['strategy']}.{proposal['symbol']}:")
        lines += [
            f"- {c['parameter']}: {fmt_value(c['current'])} -> {fmt_value(c['proposed'])} "
            f"({float(c['delta_pct']):+.2f} %, cap {fmt_value(c['cap_pct'])} %, bound {c['bound']}, "
            f"limited by {c['binding']})"
            for c in changes
        ]
    else:
        lines.append(f"No change: {proposal.get('reason') or 'the live parameters stay'}.")
    before, after = proposal["kpis_before"]["overall"], proposal["kpis_after"]["overall"]
    lines += [
        "",
        f"Sharpe {fmt_number(before.get('sharpe'))} -> {fmt_number(after.get('sharpe'))}, return "
        f"{fmt_number(before.get('return_pct'))} % -> {fmt_number(after.get('return_pct'))} %, max drawdown "
        f"{fmt_number(before.get('max_drawdown_pct'))} % -> {fmt_number(after.get('max_drawdown_pct'))} % "
        f"on the same {fmt_number(proposal['data']['bars'])} bars.",
        f"Config hash {proposal['config_hash_before']} -> {proposal['config_hash_after']}.",
        "",
        f"Tradeloop-Proposal-Hash: {proposal_hash(proposal)}",
        f"Tradeloop-Run-Id: {proposal['run_id']}",
    ]
    return "\n".join(lines) + "\n"


def _subject(prefix: str, moves: list[str]) -> str:
    """``prefix`` and as many moves as fit in the limit, then ``and N more``."""
    for shown in range(len(moves), 0, -1):
        rest = len(moves) - shown
        text = prefix + ", ".join(moves[:shown]) + (f" and {rest} more" if rest else "")
        if len(text) <= _SUBJECT_LIMIT:
            return text
    return prefix + f"{len(moves)} parameters"
