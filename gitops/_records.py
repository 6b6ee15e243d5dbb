"""The warehouse's ``optimization_history`` mirrors the guardrail memory, for reports.

Git and the forge decide (:mod:`gitops._memory`); the warehouse keeps the same events so that reports can
show them: a proposal is ``proposed`` by ``tradeloop propose``, ``opened`` by ``tradeloop pr open``, then
``merged``, ``declined`` or ``reverted`` as the memory reads them. Rows move only forward (a merged row never
turns back into an opened one) and every function can run again without adding rows, so each command
simply records what it sees. A change a person merged without a proposal gets rows of its own, marked as
applied on the base.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from gitops._memory import GuardrailMemory, StateChange
from gitops._param_checks import parameter_space

if TYPE_CHECKING:
    from tradeloop.documents import Change, Proposal
    from warehouse import Warehouse

__all__ = ["record_memory", "record_proposal"]

_OPEN = ("proposed", "opened")


def record_proposal(
    warehouse: Warehouse,
    proposal: Proposal,
    *,
    outcome: str = "proposed",
    pr_number: int | None = None,
    pr_url: str | None = None,
    at: datetime | None = None,
) -> int:
    """Record a ``proposed`` proposal (one row per changed parameter) as ``proposed`` or ``opened``.

    Rows already stored under its proposal hash are moved forward instead. Returns the rows written.
    """
    if not proposal.proposed:
        return 0
    digest = proposal.full_hash
    if warehouse.proposals(proposal_hash=digest):
        if outcome == "proposed":
            return 0
        return warehouse.set_proposal_outcome(
            outcome, proposal_hash=digest, pr_number=pr_number, pr_url=pr_url, decided_at=at, only_from=_OPEN
        )
    context: dict[str, Any] = {"outcome": outcome, "pr_url": pr_url, "pr_number": pr_number}
    context["proposal_hash"] = digest
    context |= {"created_at": at, "decided_at": None if outcome == "proposed" else at}
    rows = [_proposal_row(proposal, change, context) for change in proposal.changes]
    return len(warehouse.add_proposals(rows))


def _proposal_row(proposal: Proposal, change: Change, context: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "run_id": proposal.run_id, "strategy": proposal.strategy, "symbol": proposal.symbol,
        "timeframe": proposal.timeframe, "parameter": change.parameter,
        "current_value": change.current, "proposed_value": change.proposed,
        "delta_pct": change.delta_pct, "bound": change.bound, "rationale": change.rationale,
        "kpis_before": proposal.kpis_before.to_json(), "kpis_after": proposal.kpis_after.to_json(),
        "config_hash": proposal.config_hash_after, **context,
    }  # fmt: skip


def record_memory(warehouse: Warehouse, memory: GuardrailMemory) -> dict[str, int]:
    """Mirror the memory's merges, reverts and declines in ``optimization_history``; count rows touched."""
    counts = {"merged": 0, "reverted": 0, "declined": 0}
    by_commit = {(c.strategy, c.symbol, c.commit): c for c in memory.changes}
    for change in memory.changes:
        if change.kind == "revert":
            for commit in change.reverts:
                undone = by_commit[change.strategy, change.symbol, commit]
                counts["reverted"] += warehouse.set_proposal_outcome(
                    "reverted", proposal_hash=undone.identity_after, commit_sha=change.commit,
                    decided_at=change.at, only_from=("merged", *_OPEN),
                )  # fmt: skip
        elif change.parameters:
            counts["merged"] += _record_merge(warehouse, change)
    for rejection in memory.rejections:
        if rejection.kind == "declined":
            counts["declined"] += warehouse.set_proposal_outcome(
                "declined", proposal_hash=rejection.proposal_hash, pr_number=rejection.pr_number,
                only_from=_OPEN,
            )  # fmt: skip
    return counts


def _record_merge(warehouse: Warehouse, change: StateChange) -> int:
    if warehouse.proposals(proposal_hash=change.identity_after):
        return warehouse.set_proposal_outcome(
            "merged", proposal_hash=change.identity_after, commit_sha=change.commit,
            pr_number=change.pr_number, decided_at=change.at, only_from=_OPEN,
        )  # fmt: skip
    rows = [_applied_row(change, name, before, after) for name, (before, after) in change.parameters.items()]
    return len(warehouse.add_proposals([row for row in rows if row is not None]))


def _applied_row(
    change: StateChange, name: str, before: float | None, after: float | None
) -> dict[str, Any] | None:
    """A row for a change merged without a stored proposal (made elsewhere, or by a person)."""
    if before is None or after is None:
        return None  # a regime loadout value appearing or disappearing has no before/after pair
    param = (parameter_space(change.strategy) or {}).get(name.rsplit(".", 1)[-1])
    scale = abs(before) if before != 0 else (param.high - param.low if param else 0.0)
    delta = (after - before) / scale * 100.0 if scale > 0 else 0.0
    bound = f"[{param.low:g}, {param.high:g}]" if param else ""
    return {
        "run_id": f"git:{change.commit[:12]}", "strategy": change.strategy, "symbol": change.symbol,
        "timeframe": change.timeframe, "parameter": name, "current_value": before, "proposed_value": after,
        "delta_pct": delta if math.isfinite(delta) else 0.0, "bound": bound,
        "rationale": f"applied on the base by {change.commit[:12]}: {change.subject}",
        "kpis_before": {}, "kpis_after": {}, "config_hash": change.config_hash_after, "outcome": "merged",
        "pr_number": change.pr_number, "proposal_hash": change.identity_after, "commit_sha": change.commit,
        "created_at": change.at, "decided_at": change.at,
    }  # fmt: skip
