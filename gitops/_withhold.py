"""Turning a proposal the guardrail memory forbids into "no change", with the reason.

The search ran and its record stays in the document (``search``, ``candidates``); what changes is the
outcome: ``status`` becomes ``no_change``, nothing moves (``params_after`` = ``params_before``, no
``changes``, the KPIs after are the KPIs before), and ``reason`` and the rationale say why.
"""

from __future__ import annotations

from tradeloop.documents import Proposal

__all__ = ["withhold_proposal"]


def withhold_proposal(proposal: Proposal, reason: str) -> Proposal:
    """A copy of ``proposal`` that proposes nothing, because of ``reason`` (module docstring)."""
    return proposal.withheld(reason)
