"""The proposal (contract 2, ``proposal.json``) as a typed, read-only document.

:meth:`Proposal.from_json` is the one parser: the JSON Schema (``tradeloop/documents/schemas/
proposal.schema.json``, the file contract between workflow jobs) and then the consistency checks (the
``proposal_hash`` is the hash of the proposal's own strategy, symbol, timeframe and ``params_after``; every
entry of ``changes`` agrees with ``params_before`` / ``params_after``). :meth:`Proposal.to_json` gives the
document back exactly (the keys it left out stay out, unknown keys come back), so a proposal read and
written again is the same file.

The parts every stage reads are typed (:class:`Change`, :class:`DataWindow`, :class:`Holdout`,
:class:`SearchRecordRef`, :class:`Candidate`, :class:`KpiSet`, :class:`Rationale`); the seldom-read
sections (``search``, ``guardrails``, the analyzer's flags) stay read-only mappings.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final, Literal

from tradeloop._provenance import canonical_json, json_safe
from tradeloop._schema import schema_messages, show_json_value
from tradeloop.documents._frozen import EMPTY, freeze, thaw
from tradeloop.documents._frozen import empty_mapping as _empty
from tradeloop.documents._read import raise_first, read_json

__all__ = [
    "PROPOSAL_KIND",
    "PROPOSAL_SCHEMA_VERSION",
    "Candidate",
    "Change",
    "DataWindow",
    "Holdout",
    "KpiSet",
    "Kpis",
    "ParamValue",
    "Params",
    "Proposal",
    "ProposalStatus",
    "Rationale",
    "SearchRecordRef",
    "proposal_hash",
    "proposal_problems",
]

PROPOSAL_SCHEMA_VERSION: Final = 1
PROPOSAL_KIND: Final = "tradeloop.proposal"
_FIX = "regenerate it with `tradeloop propose`"
_MIN_HASH_CHARS = 16

ParamValue = float | int | bool | str
Params = Mapping[str, ParamValue]
#: KPI name -> figure (``None`` where undefined), e.g. ``sharpe``, ``return_pct``, ``trades``.
Kpis = Mapping[str, float | None]
ProposalStatus = Literal["proposed", "no_change"]
Binding = Literal["cap", "bound", "none"]


def proposal_hash(strategy: str, symbol: str, timeframe: str, params_after: Params) -> str:
    """SHA-256 (hex) of ``canonical_json({strategy, symbol, timeframe, params_after})`` (contract 2).

    Two proposals with the same hash would write the same live parameters: a closed-unmerged PR with this
    hash is never proposed again.
    """
    payload = {
        "strategy": strategy,
        "symbol": symbol,
        "timeframe": timeframe,
        "params_after": dict(params_after),
    }
    return hashlib.sha256(canonical_json(json_safe(payload)).encode("utf-8")).hexdigest()


def _rest(document: Mapping[str, Any], known: tuple[str, ...]) -> Mapping[str, Any]:
    """The keys of ``document`` a type does not model, kept so that :meth:`to_json` gives them back."""
    extra = {key: value for key, value in document.items() if key not in known}
    return freeze(extra) if extra else EMPTY


def _with_rest(document: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    return {**document, **thaw(extra)} if extra else document


@dataclass(frozen=True)
class Change:
    """One parameter change: the live and proposed value, the move in %, the cap and bound it respects."""

    parameter: str
    current: float
    proposed: float
    delta_pct: float
    cap_pct: float
    bound: str
    binding: Binding
    expected_gain: float | None
    rationale: str
    extra: Mapping[str, Any] = field(default_factory=_empty)

    _KEYS = (
        "parameter", "current", "proposed", "delta_pct", "cap_pct", "bound", "binding", "expected_gain",
        "rationale",
    )  # fmt: skip

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Change:
        """Read a schema-checked ``changes`` entry."""
        return cls(**{key: document[key] for key in cls._KEYS}, extra=_rest(document, cls._KEYS))

    def to_json(self) -> dict[str, Any]:
        return _with_rest({key: getattr(self, key) for key in self._KEYS}, self.extra)


@dataclass(frozen=True)
class DataWindow:
    """The bars the proposal was measured on: the source, its hash, the first and last bar, the count."""

    source: str
    timeframe: str
    data_hash: str
    bars: int
    start: str
    end: str
    extra: Mapping[str, Any] = field(default_factory=_empty)

    _KEYS = ("source", "timeframe", "data_hash", "bars", "start", "end")

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> DataWindow:
        return cls(**{key: document[key] for key in cls._KEYS}, extra=_rest(document, cls._KEYS))

    def to_json(self) -> dict[str, Any]:
        return _with_rest({key: getattr(self, key) for key in self._KEYS}, self.extra)


@dataclass(frozen=True)
class Holdout:
    """The bars the search never saw (from ``boundary`` to ``end``) and the bars it read before them."""

    fraction: float
    boundary: str
    start: str
    end: str
    bars: int
    search_start: str
    search_end: str
    search_bars: int
    extra: Mapping[str, Any] = field(default_factory=_empty)

    _KEYS = ("fraction", "boundary", "start", "end", "bars", "search_start", "search_end", "search_bars")

    @property
    def boundary_time(self) -> datetime:
        """The first bar the search never saw (the schema holds it to ISO-8601 with a UTC offset)."""
        return datetime.fromisoformat(self.boundary)

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Holdout:
        return cls(**{key: document[key] for key in cls._KEYS}, extra=_rest(document, cls._KEYS))

    def to_json(self) -> dict[str, Any]:
        return _with_rest({key: getattr(self, key) for key in self._KEYS}, self.extra)


@dataclass(frozen=True)
class SearchRecordRef:
    """Where the record of every configuration the search tried is: a file beside ``proposal.json``."""

    path: str
    sha256: str
    configurations: int
    #: Configurations per stage, e.g. ``{"A": 20000, "B": 40}`` (None when the document names none).
    stages: Mapping[str, int] | None = None
    extra: Mapping[str, Any] = field(default_factory=_empty)

    _KEYS = ("path", "sha256", "configurations", "stages")

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> SearchRecordRef:
        stages = document.get("stages")
        return cls(
            path=document["path"],
            sha256=document["sha256"],
            configurations=document["configurations"],
            stages=None if stages is None else freeze(stages),
            extra=_rest(document, cls._KEYS),
        )

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "path": self.path, "sha256": self.sha256, "configurations": self.configurations,
        }  # fmt: skip
        if self.stages is not None:
            document["stages"] = dict(self.stages)
        return _with_rest(document, self.extra)


@dataclass(frozen=True)
class Candidate:
    """One of the search's best distinct candidates: its parameters and objective value."""

    params: Params
    objective: float | None
    extra: Mapping[str, Any] = field(default_factory=_empty)

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Candidate:
        return cls(
            freeze(document["params"]), document["objective"], _rest(document, ("params", "objective"))
        )

    def to_json(self) -> dict[str, Any]:
        return _with_rest({"params": dict(self.params), "objective": self.objective}, self.extra)


@dataclass(frozen=True)
class KpiSet:
    """KPIs on one set of bars: ``overall``, and per regime (``bull``, ``bear``, ``sideways``, …)."""

    overall: Kpis
    regimes: Mapping[str, Kpis] = field(default_factory=_empty)
    extra: Mapping[str, Any] = field(default_factory=_empty)

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> KpiSet:
        return cls(
            freeze(document["overall"]), freeze(document["regimes"]), _rest(document, ("overall", "regimes"))
        )

    def to_json(self) -> dict[str, Any]:
        return _with_rest({"overall": thaw(self.overall), "regimes": thaw(self.regimes)}, self.extra)


@dataclass(frozen=True)
class Rationale:
    """Why the pair was optimised: one paragraph, and the analyzer's flags (read-only mappings)."""

    summary: str
    flags: tuple[Mapping[str, Any], ...] = ()
    extra: Mapping[str, Any] = field(default_factory=_empty)

    @classmethod
    def from_json(cls, document: Mapping[str, Any]) -> Rationale:
        return cls(document["summary"], freeze(document["flags"]), _rest(document, ("summary", "flags")))

    def to_json(self) -> dict[str, Any]:
        return _with_rest({"summary": self.summary, "flags": thaw(self.flags)}, self.extra)


#: Contract-2 keys a document may leave out (older writers): they stay out of :meth:`Proposal.to_json`.
_OPTIONAL = ("cadence", "search", "candidates", "guardrails", "holdout", "search_record")
_KEYS = (
    "schema_version", "kind", "run_id", "git_sha", "created_at", "strategy", "symbol", "timeframe", "cadence",
    "data", "status", "reason", "proposal_hash", "config_hash_before", "config_hash_after", "params_before",
    "params_after", "changes", "kpis_before", "kpis_after", "rationale", "search", "candidates", "guardrails",
    "holdout", "search_record",
)  # fmt: skip


@dataclass(frozen=True)
class Proposal:
    """A bounded parameter proposal for one strategy/symbol (contract 2).

    Build one with :meth:`from_json` (a document, checked) or :meth:`read` (a file); the optimizer builds
    its own through :meth:`from_json` too, so every proposal in the process has passed the same checks.
    ``source`` names where it came from (a path, or ``proposal.json``) for later messages.
    """

    run_id: str
    git_sha: str
    created_at: str
    strategy: str
    symbol: str
    timeframe: str
    data: DataWindow
    status: ProposalStatus
    reason: str | None
    proposal_hash: str
    config_hash_before: str
    config_hash_after: str
    params_before: Params
    params_after: Params
    changes: tuple[Change, ...]
    kpis_before: KpiSet
    kpis_after: KpiSet
    rationale: Rationale
    cadence: str | None = None
    search: Mapping[str, Any] = field(default_factory=_empty)
    candidates: tuple[Candidate, ...] = ()
    guardrails: Mapping[str, Any] = field(default_factory=_empty)
    holdout: Holdout | None = None
    search_record: SearchRecordRef | None = None
    #: Top-level keys contract 2 does not name (newer writers), given back by :meth:`to_json`.
    extra: Mapping[str, Any] = field(default_factory=_empty)
    #: The optional keys the document left out, left out of :meth:`to_json` again.
    absent: frozenset[str] = frozenset()
    source: str = field(default="proposal.json", compare=False, repr=False)

    def __post_init__(self) -> None:
        for name in ("params_before", "params_after", "search", "guardrails", "extra"):
            object.__setattr__(self, name, freeze(getattr(self, name)))
        object.__setattr__(self, "changes", tuple(self.changes))
        object.__setattr__(self, "candidates", tuple(self.candidates))

    # -- reading and writing -------------------------------------------------------------------------------

    @classmethod
    def from_json(cls, document: Any, source: str = "proposal.json") -> Proposal:
        """Check a proposal document (schema, then consistency) and return it typed.

        Raises
        ------
        tradeloop.errors.ProposalError
            Naming ``source``, the field path, the expected form and the value received, and the fix: not a
            JSON object, another ``kind`` or ``schema_version``, a missing or mistyped field, a
            ``proposal_hash`` that is not the proposal's, or ``changes`` that disagree with the parameters.
        """
        raise_first(source, proposal_problems(document))
        doc: Mapping[str, Any] = document
        holdout, record = doc.get("holdout"), doc.get("search_record")
        return cls(
            run_id=doc["run_id"],
            git_sha=doc["git_sha"],
            created_at=doc["created_at"],
            strategy=doc["strategy"],
            symbol=doc["symbol"],
            timeframe=doc["timeframe"],
            data=DataWindow.from_json(doc["data"]),
            status=doc["status"],
            reason=doc["reason"],
            proposal_hash=doc["proposal_hash"],
            config_hash_before=doc["config_hash_before"],
            config_hash_after=doc["config_hash_after"],
            params_before=doc["params_before"],
            params_after=doc["params_after"],
            changes=tuple(Change.from_json(change) for change in doc["changes"]),
            kpis_before=KpiSet.from_json(doc["kpis_before"]),
            kpis_after=KpiSet.from_json(doc["kpis_after"]),
            rationale=Rationale.from_json(doc["rationale"]),
            cadence=doc.get("cadence"),
            search=doc.get("search") or {},
            candidates=tuple(Candidate.from_json(row) for row in doc.get("candidates") or ()),
            guardrails=doc.get("guardrails") or {},
            holdout=None if holdout is None else Holdout.from_json(holdout),
            search_record=None if record is None else SearchRecordRef.from_json(record),
            extra={key: value for key, value in doc.items() if key not in _KEYS},
            absent=frozenset(key for key in _OPTIONAL if key not in doc),
            source=source,
        )

    @classmethod
    def read(cls, path: Path) -> Proposal:
        """Read and check ``path`` (a ``proposal.json`` written by ``tradeloop propose``)."""
        return cls.from_json(read_json(Path(path), what="proposal", writer="tradeloop propose"), str(path))

    def to_json(self) -> dict[str, Any]:
        """The contract-2 document: exactly the one :meth:`from_json` read (or the optimizer built)."""
        document: dict[str, Any] = {
            "schema_version": PROPOSAL_SCHEMA_VERSION,
            "kind": PROPOSAL_KIND,
            "run_id": self.run_id,
            "git_sha": self.git_sha,
            "created_at": self.created_at,
            "strategy": self.strategy,
            "symbol": self.symbol,
            "timeframe": self.timeframe,
            "cadence": self.cadence,
            "data": self.data.to_json(),
            "status": self.status,
            "reason": self.reason,
            "proposal_hash": self.proposal_hash,
            "config_hash_before": self.config_hash_before,
            "config_hash_after": self.config_hash_after,
            "params_before": dict(self.params_before),
            "params_after": dict(self.params_after),
            "changes": [change.to_json() for change in self.changes],
            "kpis_before": self.kpis_before.to_json(),
            "kpis_after": self.kpis_after.to_json(),
            "rationale": self.rationale.to_json(),
            "search": thaw(self.search),
            "candidates": [candidate.to_json() for candidate in self.candidates],
            "guardrails": thaw(self.guardrails),
            "holdout": None if self.holdout is None else self.holdout.to_json(),
            "search_record": None if self.search_record is None else self.search_record.to_json(),
        }
        for key in self.absent:
            if document[key] in (None, {}, []):
                del document[key]
        return _with_rest(document, self.extra)

    # -- what the stages ask of a proposal ------------------------------------------------------------------

    @property
    def proposed(self) -> bool:
        """Whether it changes anything (``status`` is ``proposed``)."""
        return self.status == "proposed"

    @property
    def full_hash(self) -> str:
        """The whole SHA-256 of the proposal's identity (``proposal_hash`` may be a 16+ character prefix)."""
        return proposal_hash(self.strategy, self.symbol, self.timeframe, self.params_after)

    @property
    def pair(self) -> str:
        """``strategy/symbol``."""
        return f"{self.strategy}/{self.symbol}"

    def withheld(self, reason: str) -> Proposal:
        """A copy that proposes nothing because of ``reason``: the search and its record stay, nothing moves
        (``params_after`` = ``params_before``, no ``changes``, the KPIs after are the KPIs before)."""
        summary = f"{self.rationale.summary.rstrip()} Withheld: {reason}."
        params = self.params_before
        return dataclasses.replace(
            self,
            status="no_change",
            reason=reason,
            changes=(),
            params_after=params,
            kpis_after=self.kpis_before,
            config_hash_after=self.config_hash_before,
            proposal_hash=proposal_hash(self.strategy, self.symbol, self.timeframe, params),
            rationale=dataclasses.replace(self.rationale, summary=summary),
        )


def proposal_problems(document: Any) -> list[str]:
    """Every contract violation of a proposal document (messages start with the field path)."""
    if not isinstance(document, Mapping):
        return [f"a proposal is a JSON object, got {type(document).__name__}; {_FIX}"]
    for key, expected in (("kind", PROPOSAL_KIND), ("schema_version", PROPOSAL_SCHEMA_VERSION)):
        given = document.get(key)
        if given != expected or isinstance(given, bool):
            return [f"{key} must be {expected!r}, got {given!r}; {_FIX}"]
    problems = schema_messages(document, "tradeloop.documents", "proposal")
    if problems:
        return problems
    return _hash_problems(document) + _change_problems(document)


def _hash_problems(proposal: Mapping[str, Any]) -> list[str]:
    given = proposal["proposal_hash"]
    expected = proposal_hash(
        proposal["strategy"], proposal["symbol"], proposal["timeframe"], proposal["params_after"]
    )
    if expected.startswith(given) and len(given) >= _MIN_HASH_CHARS:
        return []
    return [
        f"proposal_hash is {show_json_value(given)} but the sha256 of canonical_json({{strategy, symbol, "
        f"timeframe, params_after}}) is {expected!r}; the file was edited after `tradeloop propose` "
        "wrote it: propose again"
    ]


def _change_problems(proposal: Mapping[str, Any]) -> list[str]:
    before, after = proposal["params_before"], proposal["params_after"]
    problems: list[str] = []
    if proposal["status"] == "proposed" and not proposal["changes"]:
        problems.append(
            'changes is empty but status is "proposed"; a proposal changes at least one parameter'
        )
    if proposal["status"] == "no_change" and proposal["changes"]:
        problems.append('changes must be empty when status is "no_change"')
    for index, change in enumerate(proposal["changes"]):
        name = change["parameter"]
        where = f"changes.{index}"
        if name not in after:
            problems.append(
                f"{where}.parameter {name!r} is not in params_after; add it there or drop the change"
            )
            continue
        if not _close(after[name], change["proposed"]):
            problems.append(
                f"{where}.proposed is {change['proposed']!r} but params_after.{name} is {after[name]!r}; "
                "they must agree"
            )
        if name in before and not _close(before[name], change["current"]):
            problems.append(
                f"{where}.current is {change['current']!r} but params_before.{name} is {before[name]!r}; "
                "they must agree"
            )
    return problems


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool) or not isinstance(a, int | float):
        return bool(a == b)
    return math.isclose(float(a), float(b), rel_tol=1e-12, abs_tol=1e-12)
