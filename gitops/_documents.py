"""Reading ``proposal.json`` (contract 2) and ``verdict.json`` (contract 3): gitops' names for the one parser
of each document (:class:`tradeloop.documents.Proposal`, :class:`tradeloop.documents.Verdict`).

Each document is checked against its JSON Schema in ``tradeloop/documents/schemas/`` and then for
consistency (the ``proposal_hash`` is the hash of the proposal's own strategy, symbol, timeframe and
parameters; every entry of ``changes`` agrees with ``params_before`` / ``params_after``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from tradeloop.documents import Proposal, Verdict, proposal_problems, verdict_problems
from tradeloop.documents import proposal_hash as _hash
from tradeloop.errors import ProposalError

__all__ = [
    "load_proposal",
    "load_verdict",
    "parse_proposal",
    "parse_verdict",
    "proposal_hash",
    "proposal_problems",
    "verdict_problems",
]


def proposal_hash(subject: Mapping[str, Any]) -> str:
    """SHA-256 hex of ``canonical_json({strategy, symbol, timeframe, params_after})`` of a document (a
    proposal's, or a live entry's as the guardrail memory reads it from git); see
    :func:`tradeloop.documents.proposal_hash`."""
    try:
        return _hash(subject["strategy"], subject["symbol"], subject["timeframe"], subject["params_after"])
    except KeyError as exc:
        raise ProposalError(f"proposal: {exc.args[0]} is missing; the proposal hash needs it") from None


def parse_proposal(document: Any, name: str = "proposal.json") -> Proposal:
    """Check a proposal document already in memory; see :func:`load_proposal`."""
    return Proposal.from_json(document, name)


def parse_verdict(document: Any, name: str = "verdict.json") -> Verdict:
    """Check a verdict document already in memory; see :func:`load_verdict`."""
    return Verdict.from_json(document, name)


def load_proposal(path: Path) -> Proposal:
    """Read and check a ``proposal.json`` written by ``tradeloop propose``.

    Raises
    ------
    tradeloop.errors.ProposalError
        The file is missing or not JSON, a field is missing or mistyped (the message names the field
        path, the expected form and the value), the ``proposal_hash`` does not match, or ``changes``
        disagree with the parameters.
    """
    return Proposal.read(Path(path))


def load_verdict(path: Path) -> Verdict:
    """Read and check a ``verdict.json`` written by ``tradeloop validate``; see :func:`load_proposal`."""
    return Verdict.read(Path(path))
