"""Turning a proposal the guardrail memory forbids into "no change", with the reason.

The search ran and its record stays in the document (``search``, ``candidates``); what changes is the
outcome: ``status`` becomes ``no_change``, nothing moves (``params_after`` = ``params_before``, no
``changes``, the KPIs after are the KPIs before), and ``reason`` and the rationale say why.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from gitops._documents import parse_proposal, proposal_hash

__all__ = ["withhold_proposal"]


def withhold_proposal(proposal: Mapping[str, Any], reason: str) -> dict[str, Any]:
    """A copy of ``proposal`` that proposes nothing, because of ``reason`` (module docstring).

    Raises
    ------
    tradeloop.errors.ProposalError
        ``proposal`` breaks contract 2.
    """
    document = copy.deepcopy(dict(proposal))
    document.update(
        status="no_change",
        reason=reason,
        changes=[],
        params_after=dict(document["params_before"]),
        kpis_after=copy.deepcopy(document["kpis_before"]),
        config_hash_after=document["config_hash_before"],
    )
    document["proposal_hash"] = proposal_hash(document)
    summary = document["rationale"]["summary"].rstrip()
    document["rationale"]["summary"] = f"{summary} Withheld: {reason}."
    return parse_proposal(document)
