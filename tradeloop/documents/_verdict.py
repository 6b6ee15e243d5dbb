"""The verdict (contract 3, ``verdict.json``) as a typed, read-only document, and its gates.

``validation.validate_proposal`` builds a :class:`Verdict`; ``gitops`` renders it into the pull request and
reports it on one; between workflow jobs it travels as ``verdict.json``, read back by :meth:`Verdict.read`
(the JSON Schema ``tradeloop/documents/schemas/verdict.schema.json`` is the file contract).
:meth:`Verdict.to_json` gives back exactly the document :meth:`Verdict.from_json` read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from tradeloop._schema import schema_messages
from tradeloop.documents._frozen import empty_mapping as _empty
from tradeloop.documents._frozen import freeze, thaw
from tradeloop.documents._proposal import Kpis
from tradeloop.documents._read import raise_first, read_json

__all__ = [
    "VERDICT_KIND",
    "VERDICT_SCHEMA_VERSION",
    "Decision",
    "Gate",
    "GateBars",
    "GateOp",
    "Verdict",
    "verdict_problems",
]

VERDICT_SCHEMA_VERSION: Final = 1
VERDICT_KIND: Final = "tradeloop.verdict"
Decision = Literal["pass", "fail"]
GateOp = Literal[">=", "<=", "<", ">"]
#: The bars a gate's figure is measured on.
GateBars = Literal["holdout", "search", "walk-forward"]


@dataclass(frozen=True)
class Gate:
    """One gate: ``figure op threshold`` must hold; ``gating`` gates decide, the others only inform.

    ``bars`` names the bars the figure is measured on: ``holdout`` (after the boundary the search stopped
    at, never seen by it), ``search`` (the bars the search optimised on: in-sample checks of the search
    itself) or ``walk-forward`` (each fold's out-of-sample bars, the search rerun on its in-sample bars).
    ``None`` when a verdict written before gates named their bars is read back (they were the holdout's).
    """

    name: str
    figure: float | None
    threshold: float
    op: GateOp
    unit: str
    passed: bool
    gating: bool
    detail: str
    bars: GateBars | None = "holdout"

    @property
    def measured_on(self) -> GateBars:
        """``bars``, the holdout for a gate of an older verdict that does not say."""
        return self.bars or "holdout"

    def as_dict(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "name": self.name,
            "figure": self.figure,
            "threshold": self.threshold,
            "op": self.op,
            "unit": self.unit,
            "passed": self.passed,
            "gating": self.gating,
            "detail": self.detail,
        }
        if self.bars is not None:
            document["bars"] = self.bars
        return document

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Gate:
        """Read a schema-checked ``gates`` entry."""
        return cls(
            name=document["name"],
            figure=document["figure"],
            threshold=document["threshold"],
            op=document["op"],
            unit=document["unit"],
            passed=document["passed"],
            gating=document["gating"],
            detail=document["detail"],
            bars=document.get("bars"),
        )


#: Contract-3 keys a verdict may leave out: they stay out of :meth:`Verdict.to_json`.
_OPTIONAL = (
    "strategy", "symbol", "timeframe", "folds", "stepm_superior", "walk_forward", "cpcv", "kpis", "holdout",
    "search",
)  # fmt: skip
_FROZEN = (
    "p_values", "cis", "effect_size", "overfitting", "folds", "walk_forward", "cpcv", "kpis", "holdout",
    "search", "extra",
)  # fmt: skip
_KEYS = (
    "schema_version", "kind", "proposal_hash", "strategy", "symbol", "timeframe", "created_at", "decision",
    "summary", "gates", "p_values", "cis", "effect_size", "overfitting", "folds", "stepm_superior",
    "walk_forward", "cpcv", "kpis", "holdout", "search",
)  # fmt: skip


@dataclass(frozen=True)
class Verdict:
    """Everything the decision on one proposal rests on (contract 3).

    ``p_values``, ``cis``, ``effect_size``, ``overfitting``, the ``folds``, the ``walk_forward`` and
    ``cpcv`` summaries, the holdout ``kpis`` and the ``holdout`` and ``search`` bars are read-only
    mappings; a figure is ``None`` (or NaN before it is written) where it is undefined.
    """

    proposal_hash: str
    created_at: str
    decision: Decision
    summary: str
    gates: tuple[Gate, ...]
    p_values: Mapping[str, float | None]
    cis: Mapping[str, Any]
    effect_size: Mapping[str, float | None]
    overfitting: Mapping[str, Any]
    strategy: str = ""
    symbol: str = ""
    timeframe: str = ""
    folds: tuple[Mapping[str, Any], ...] = ()
    stepm_superior: tuple[int, ...] = ()
    walk_forward: Mapping[str, Any] = field(default_factory=_empty)
    cpcv: Mapping[str, Any] = field(default_factory=_empty)
    #: ``baseline`` and ``candidate`` KPIs on the holdout.
    kpis: Mapping[str, Kpis] = field(default_factory=_empty)
    holdout: Mapping[str, Any] = field(default_factory=_empty)
    search: Mapping[str, Any] = field(default_factory=_empty)
    extra: Mapping[str, Any] = field(default_factory=_empty)
    absent: frozenset[str] = frozenset()
    source: str = field(default="verdict.json", compare=False, repr=False)

    def __post_init__(self) -> None:
        for name in _FROZEN:
            object.__setattr__(self, name, freeze(getattr(self, name)))
        object.__setattr__(self, "gates", tuple(self.gates))
        object.__setattr__(self, "stepm_superior", tuple(self.stepm_superior))

    @property
    def passed(self) -> bool:
        return self.decision == "pass"

    @property
    def failed_gates(self) -> list[str]:
        """The names of the gating gates that failed."""
        return [gate.name for gate in self.gates if gate.gating and not gate.passed]

    @classmethod
    def from_json(cls, document: Any, source: str = "verdict.json") -> Verdict:
        """Check a verdict document against its schema and return it typed.

        Raises
        ------
        tradeloop.errors.ProposalError
            Naming ``source``, the field path, the expected form and the value received.
        """
        raise_first(source, verdict_problems(document))
        doc: Mapping[str, Any] = document
        return cls(
            proposal_hash=doc["proposal_hash"],
            created_at=doc["created_at"],
            decision=doc["decision"],
            summary=doc["summary"],
            gates=tuple(Gate.from_json(gate) for gate in doc["gates"]),
            p_values=doc["p_values"],
            cis=doc["cis"],
            effect_size=doc["effect_size"],
            overfitting=doc["overfitting"],
            strategy=doc.get("strategy", ""),
            symbol=doc.get("symbol", ""),
            timeframe=doc.get("timeframe", ""),
            folds=doc.get("folds") or (),
            stepm_superior=tuple(doc.get("stepm_superior") or ()),
            walk_forward=doc.get("walk_forward") or {},
            cpcv=doc.get("cpcv") or {},
            kpis=doc.get("kpis") or {},
            holdout=doc.get("holdout") or {},
            search=doc.get("search") or {},
            extra={key: value for key, value in doc.items() if key not in _KEYS},
            absent=frozenset(key for key in _OPTIONAL if key not in doc),
            source=source,
        )

    @classmethod
    def read(cls, path: Path) -> Verdict:
        """Read and check ``path`` (a ``verdict.json`` written by ``tradeloop validate``)."""
        return cls.from_json(read_json(Path(path), what="verdict", writer="tradeloop validate"), str(path))

    def to_json(self) -> dict[str, Any]:
        """The contract-3 document (``walk_forward``, ``cpcv``, ``kpis``, ``holdout`` and ``search`` are
        additions to the schema's required keys)."""
        document: dict[str, Any] = {
            "schema_version": VERDICT_SCHEMA_VERSION,
            "kind": VERDICT_KIND,
            "proposal_hash": self.proposal_hash,
            "strategy": self.strategy,
            "symbol": self.symbol,
            "timeframe": self.timeframe,
            "created_at": self.created_at,
            "decision": self.decision,
            "summary": self.summary,
            "gates": [gate.as_dict() for gate in self.gates],
            "p_values": thaw(self.p_values),
            "cis": thaw(self.cis),
            "effect_size": thaw(self.effect_size),
            "overfitting": thaw(self.overfitting),
            "folds": thaw(self.folds),
            "stepm_superior": list(self.stepm_superior),
            "walk_forward": thaw(self.walk_forward),
            "cpcv": thaw(self.cpcv),
            "kpis": thaw(self.kpis),
            "holdout": thaw(self.holdout),
            "search": thaw(self.search),
        }
        for key in self.absent:
            if document[key] in ("", {}, []):
                del document[key]
        return {**document, **thaw(self.extra)}


def verdict_problems(document: Any) -> list[str]:
    """Every contract violation of a verdict document (messages start with the field path)."""
    return schema_messages(document, "tradeloop.documents", "verdict")
