"""``feature_flags.json``: the prediction engine switch and the canary rollouts, validated on every read."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Any

from gitops._feature_flags_upgrade import LEGACY_SCHEMA_VERSION, upgrade_feature_flags_document
from gitops._names import rollout_key
from gitops._problems import display_name, raise_problems, read_state_text, restore_hint, show_json_value
from gitops._schema import schema_messages
from tradeloop import Provenance, atomic_write_text
from tradeloop.errors import StateFileError

__all__ = [
    "CHECK_OUTCOMES",
    "DECISIONS",
    "FEATURE_FLAGS_FILE",
    "FEATURE_FLAGS_SCHEMA_VERSION",
    "PHASES",
    "CanaryCheck",
    "CanaryStatus",
    "FeatureFlags",
    "PredictionEngine",
    "Rollout",
    "Stage",
    "feature_flags_problems",
    "inspect_feature_flags",
    "load_feature_flags",
    "parse_feature_flags",
    "render_feature_flags",
    "save_feature_flags",
    "upgraded_document",
]

FEATURE_FLAGS_FILE = Path("feature_flags.json")
#: The layout version written; version 1 files are read and upgraded (``_feature_flags_upgrade.py``).
FEATURE_FLAGS_SCHEMA_VERSION = 2
#: progressing (COLD to LIMITED), succeeded (FULL), failed (the bot runs the previous parameters).
PHASES = ("progressing", "succeeded", "failed")
#: Argo Rollouts' analysis outcomes: inconclusive holds and never passes.
CHECK_OUTCOMES = ("pass", "fail", "inconclusive", "error")
DECISIONS = ("promote", "hold", "fail")


class Stage(StrEnum):
    """Deployment stages, in promotion order."""

    COLD = "COLD"
    WARM = "WARM"
    LIMITED = "LIMITED"
    FULL = "FULL"


@dataclass(frozen=True)
class PredictionEngine:
    """The ML prediction engine switch: off, no model, and the confidence below which it is ignored."""

    enabled: bool = False
    model: str | None = None
    min_confidence: float = 0.6

    def to_document(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "model": self.model, "min_confidence": self.min_confidence}


@dataclass(frozen=True)
class CanaryCheck:
    """One check of a canary analysis, as ``feature_flags.json`` keeps it (the figure and its threshold).

    ``comparator`` says how ``figure`` must compare with ``threshold`` to pass (``>=``, ``>``, ``<=``,
    ``<``); ``outcome`` is pass, fail, inconclusive or error.
    """

    name: str
    outcome: str
    figure: float | None
    threshold: float | None
    comparator: str
    unit: str = ""
    detail: str = ""

    def to_document(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> CanaryCheck:
        return cls(
            name=document["name"],
            outcome=document["outcome"],
            figure=None if document["figure"] is None else float(document["figure"]),
            threshold=None if document["threshold"] is None else float(document["threshold"]),
            comparator=document["comparator"],
            unit=document["unit"],
            detail=document["detail"],
        )


@dataclass(frozen=True)
class CanaryStatus:
    """The last canary analysis of a rollout: when, which stage it judged, its checks and its decision.

    ``failed_checks`` counts the failed analyses of the stage so far (``CANARY_FAILURE_THRESHOLD`` of them
    fail the rollout).
    """

    checked_at: datetime
    stage: Stage
    outcome: str
    decision: str
    reason: str
    failed_checks: int = 0
    checks: tuple[CanaryCheck, ...] = ()

    def check(self, name: str) -> CanaryCheck | None:
        """The check called ``name``, or ``None``."""
        return next((check for check in self.checks if check.name == name), None)

    def to_document(self) -> dict[str, Any]:
        return {
            "checked_at": self.checked_at.isoformat(),
            "stage": self.stage.value,
            "outcome": self.outcome,
            "decision": self.decision,
            "reason": self.reason,
            "failed_checks": self.failed_checks,
            "checks": [check.to_document() for check in self.checks],
        }

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> CanaryStatus:
        return cls(
            checked_at=datetime.fromisoformat(document["checked_at"]),
            stage=Stage(document["stage"]),
            outcome=document["outcome"],
            decision=document["decision"],
            reason=document["reason"],
            failed_checks=int(document["failed_checks"]),
            checks=tuple(CanaryCheck.from_document(check) for check in document["checks"]),
        )


@dataclass(frozen=True)
class Rollout:
    """The canary state of one strategy on one symbol.

    Attributes
    ----------
    stage
        COLD, WARM, LIMITED or FULL.
    canary_fraction
        The share of capital on the new configuration now: 0 in COLD and WARM (WARM trades on paper) and
        once failed, ``CANARY_FRACTIONS["LIMITED"]`` in LIMITED, 1 in FULL.
    config_hash
        The config hash of the configuration being rolled out.
    pr_number
        The pull request that brought it, or ``None``.
    started_at, updated_at
        Timezone-aware times of the rollout's start and last change.
    previous_config_hash
        The config hash to roll back to, or ``None`` for a first rollout.
    phase
        ``progressing`` (COLD to LIMITED), ``succeeded`` (FULL) or ``failed``.
    previous_params
        The ``LIVE_PARAMS`` entry the bot runs beside the new one until FULL and returns to on a rollback
        (with its ``timeframe``), or ``None`` for a first rollout.
    status
        The last canary analysis, or ``None`` before the first.
    """

    stage: Stage
    canary_fraction: float
    config_hash: str
    pr_number: int | None
    started_at: datetime
    updated_at: datetime
    previous_config_hash: str | None = None
    phase: str = "progressing"
    previous_params: Mapping[str, Any] | None = None
    status: CanaryStatus | None = None

    def __post_init__(self) -> None:
        if self.previous_params is not None:
            object.__setattr__(self, "previous_params", MappingProxyType(dict(self.previous_params)))

    def to_document(self) -> dict[str, Any]:
        return {
            "stage": self.stage.value,
            "phase": self.phase,
            "canary_fraction": self.canary_fraction,
            "config_hash": self.config_hash,
            "previous_config_hash": self.previous_config_hash,
            "previous_params": None if self.previous_params is None else dict(self.previous_params),
            "pr_number": self.pr_number,
            "started_at": self.started_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "status": None if self.status is None else self.status.to_document(),
        }

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> Rollout:
        pr_number = document["pr_number"]
        previous = document.get("previous_params")
        status = document.get("status")
        return cls(
            stage=Stage(document["stage"]),
            canary_fraction=float(document["canary_fraction"]),
            config_hash=document["config_hash"],
            pr_number=None if pr_number is None else int(pr_number),
            started_at=datetime.fromisoformat(document["started_at"]),
            updated_at=datetime.fromisoformat(document["updated_at"]),
            previous_config_hash=document.get("previous_config_hash"),
            phase=document.get("phase", "progressing"),
            previous_params=None if previous is None else dict(previous),
            status=None if status is None else CanaryStatus.from_document(status),
        )


@dataclass(frozen=True)
class FeatureFlags:
    """The validated content of ``feature_flags.json``; ``rollouts`` is keyed ``"<strategy>/<symbol>"``."""

    provenance: Provenance
    prediction_engine: PredictionEngine = PredictionEngine()
    rollouts: Mapping[str, Rollout] = field(default_factory=lambda: MappingProxyType({}))
    schema_version: int = FEATURE_FLAGS_SCHEMA_VERSION

    def __post_init__(self) -> None:
        ordered = {key: self.rollouts[key] for key in sorted(self.rollouts)}
        object.__setattr__(self, "rollouts", MappingProxyType(ordered))

    def rollout(self, strategy: str, symbol: str) -> Rollout | None:
        """The rollout of ``strategy`` on ``symbol``, or ``None`` when there is none."""
        return self.rollouts.get(rollout_key(strategy, symbol))

    def with_rollout(self, strategy: str, symbol: str, rollout: Rollout | None) -> FeatureFlags:
        """A copy with the rollout of ``strategy`` on ``symbol`` set, or removed when ``rollout`` is None."""
        rollouts = dict(self.rollouts)
        key = rollout_key(strategy, symbol)
        if rollout is None:
            rollouts.pop(key, None)
        else:
            rollouts[key] = rollout
        return dataclasses.replace(self, rollouts=rollouts)

    def to_document(self) -> dict[str, Any]:
        """The JSON document, in the file's key order."""
        return {
            "schema_version": self.schema_version,
            "provenance": self.provenance.as_dict(),
            "prediction_engine": self.prediction_engine.to_document(),
            "rollouts": {key: rollout.to_document() for key, rollout in self.rollouts.items()},
        }

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> FeatureFlags:
        """Build from a document that :func:`feature_flags_problems` found valid."""
        engine = document["prediction_engine"]
        return cls(
            provenance=Provenance(**document["provenance"]),
            prediction_engine=PredictionEngine(
                enabled=engine["enabled"],
                model=engine["model"],
                min_confidence=float(engine["min_confidence"]),
            ),
            rollouts={key: Rollout.from_document(value) for key, value in document["rollouts"].items()},
            schema_version=document["schema_version"],
        )


def load_feature_flags(path: Path) -> FeatureFlags:
    """Read and validate ``feature_flags.json``; the file is only read, never written.

    Raises
    ------
    tradeloop.errors.StateFileError
        The file is missing, is not JSON (with the line and column), or breaks the schema (with the key
        path, the expected form and the value).
    """
    return parse_feature_flags(read_state_text(path), display_name(path))


def parse_feature_flags(text: str, file_name: str = FEATURE_FLAGS_FILE.as_posix()) -> FeatureFlags:
    """Validate the text of a feature flags file; see :func:`load_feature_flags`."""
    flags, problems = inspect_feature_flags(text, file_name)
    raise_problems(problems)
    assert flags is not None  # no problems means a complete object
    return flags


def inspect_feature_flags(
    text: str, file_name: str = FEATURE_FLAGS_FILE.as_posix()
) -> tuple[FeatureFlags | None, list[str]]:
    """Every problem in a feature flags file (full messages), and the flags when there is none."""
    duplicates: list[str] = []
    try:
        document = json.loads(
            text,
            object_pairs_hook=lambda pairs: _object_without_duplicates(pairs, duplicates),
            parse_constant=_reject_constant,
        )
    except json.JSONDecodeError as exc:
        return None, [
            f"{file_name}: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}; "
            f"{restore_hint(file_name)}"
        ]
    except ValueError as exc:
        return None, [f"{file_name}: {exc}; write a number or null instead, or {restore_hint(file_name)}"]
    problems = [f"{file_name}: {message}" for message in duplicates + feature_flags_problems(document)]
    if problems:
        return None, problems
    upgraded = upgraded_document(document)
    if upgraded is not document:
        where = f"{file_name} (schema 1, read as schema 2)"
        problems = [f"{where}: {message}" for message in feature_flags_problems(upgraded)]
        if problems:
            return None, problems
    return FeatureFlags.from_document(upgraded), []


def feature_flags_problems(document: Any) -> list[str]:
    """Schema violations and time errors of a feature flags document (messages start with a key path).

    A schema-1 document is held to the schema-1 rules; see :func:`upgraded_document` for what it reads as.
    """
    if _is_legacy(document):
        return schema_messages(document, "feature_flags_v1") or _time_problems(document)
    problems = schema_messages(document)
    if not problems:
        problems.extend(_time_problems(document))
        problems.extend(_repeated_check_problems(document))
    return problems


def upgraded_document(document: Any) -> Any:
    """``document`` as schema 2: a valid schema-1 document upgraded, anything else as it is."""
    if _is_legacy(document):
        return upgrade_feature_flags_document(document)
    return document


def _is_legacy(document: Any) -> bool:
    version = document.get("schema_version") if isinstance(document, dict) else None
    return type(version) is int and version == LEGACY_SCHEMA_VERSION


def _time_problems(document: Mapping[str, Any]) -> list[str]:
    problems = []
    for key, rollout in document["rollouts"].items():
        times: dict[str, datetime] = {}
        for name in ("started_at", "updated_at"):
            try:
                times[name] = datetime.fromisoformat(rollout[name])
            except ValueError:
                shown = show_json_value(rollout[name])
                problems.append(f"rollouts.{key}.{name} must be a real calendar time, got {shown}")
        if len(times) == 2 and times["updated_at"] < times["started_at"]:
            problems.append(
                f"rollouts.{key}.updated_at must not be before started_at ({rollout['started_at']}), "
                f"got {show_json_value(rollout['updated_at'])}"
            )
        status = rollout.get("status")
        if isinstance(status, dict):
            try:
                datetime.fromisoformat(status["checked_at"])
            except ValueError:
                shown = show_json_value(status["checked_at"])
                problems.append(f"rollouts.{key}.status.checked_at must be a real calendar time, got {shown}")
    try:
        datetime.fromisoformat(document["provenance"]["written_at"])
    except ValueError:
        shown = show_json_value(document["provenance"]["written_at"])
        problems.append(f"provenance.written_at must be a real calendar time, got {shown}")
    return problems


def _repeated_check_problems(document: Mapping[str, Any]) -> list[str]:
    """A check named twice in one analysis: readers take the first, so a second one could hide a failure."""
    problems = []
    for key, rollout in document["rollouts"].items():
        status = rollout.get("status")
        seen: dict[str, int] = {}
        for index, check in enumerate(status["checks"] if isinstance(status, dict) else ()):
            first = seen.setdefault(check["name"], index)
            if first != index:
                name = show_json_value(check["name"])
                problems.append(
                    f"rollouts.{key}.status.checks.{index}.name is {name}, the name of checks.{first} too; "
                    "an analysis lists each check once: remove one, or run `tradeloop deploy step` to write "
                    "the analysis again"
                )
    return problems


def _object_without_duplicates(pairs: list[tuple[str, Any]], duplicates: list[str]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            duplicates.append(f"the key {show_json_value(key)} appears twice in one object; keep one")
        result[key] = value
    return result


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def render_feature_flags(flags: FeatureFlags) -> str:
    """The file text: indent 2, rollouts sorted by key, a trailing newline."""
    return json.dumps(flags.to_document(), indent=2, allow_nan=False) + "\n"


def save_feature_flags(path: Path, flags: FeatureFlags, provenance: Provenance) -> FeatureFlags:
    """Write ``flags`` with a new provenance to ``path`` atomically, after validating the document.

    Returns
    -------
    FeatureFlags
        ``flags`` carrying ``provenance``: what a later :func:`load_feature_flags` returns.

    Raises
    ------
    tradeloop.errors.StateFileError
        ``flags`` would not pass the schema; nothing is written.
    """
    path = Path(path)
    name = display_name(path)
    updated = dataclasses.replace(flags, provenance=provenance)
    try:
        text = render_feature_flags(updated)
    except (TypeError, ValueError) as exc:
        raise StateFileError(
            f"refusing to write {name}: {exc}; use finite numbers, strings and bools"
        ) from exc
    parsed, problems = inspect_feature_flags(text, name)
    if problems:
        raise StateFileError(f"refusing to write an invalid {name}: {problems[0]}")
    if parsed != updated:
        raise StateFileError(
            f"refusing to write {name}: the document reads back differently from the flags given; "
            "use plain numbers and timezone-aware times"
        )
    atomic_write_text(path, text)
    return updated
