"""The documents that travel between the stages of the loop, typed and read-only.

- :class:`Proposal` (contract 2, ``proposal.json``): made by ``optimizer.make_proposal``, judged by
  ``validation.validate_proposal``, published by ``gitops.publish_proposal``.
- :class:`Verdict` (contract 3, ``verdict.json``) and its :class:`Gate` entries: made by validation, put
  into the pull request by gitops.

Inside one process they stay typed; between workflow jobs they travel as JSON files checked against their
JSON Schemas in ``tradeloop/documents/schemas/`` (the file contracts). Each has one parser,
``from_json(document, source)`` (``read(path)`` for a file), and ``to_json()`` gives the document back
exactly. Every stage may import this package: it sits in the shared base layer.
"""

from tradeloop.documents._frozen import EMPTY, freeze, thaw
from tradeloop.documents._proposal import (
    PROPOSAL_KIND,
    PROPOSAL_SCHEMA_VERSION,
    Candidate,
    Change,
    DataWindow,
    Holdout,
    Kpis,
    KpiSet,
    Params,
    ParamValue,
    Proposal,
    ProposalStatus,
    Rationale,
    SearchRecordRef,
    proposal_hash,
    proposal_problems,
)
from tradeloop.documents._read import read_json
from tradeloop.documents._verdict import (
    VERDICT_KIND,
    VERDICT_SCHEMA_VERSION,
    Decision,
    Gate,
    GateBars,
    GateOp,
    Verdict,
    verdict_problems,
)

__all__ = [
    "EMPTY",
    "PROPOSAL_KIND",
    "PROPOSAL_SCHEMA_VERSION",
    "VERDICT_KIND",
    "VERDICT_SCHEMA_VERSION",
    "Candidate",
    "Change",
    "DataWindow",
    "Decision",
    "Gate",
    "GateBars",
    "GateOp",
    "Holdout",
    "KpiSet",
    "Kpis",
    "ParamValue",
    "Params",
    "Proposal",
    "ProposalStatus",
    "Rationale",
    "SearchRecordRef",
    "Verdict",
    "freeze",
    "proposal_hash",
    "proposal_problems",
    "read_json",
    "thaw",
    "verdict_problems",
]
