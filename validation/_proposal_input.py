"""Read and check a proposal document (contract 2) before any backtest runs.

Only the fields validation uses are required; each problem names the field, the value and the fix.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from optimizer import Guardrails, SearchSettings
from tradeloop.errors import ValidationError

__all__ = ["PROPOSAL_KIND", "ProposalInput", "load_proposal", "parse_proposal"]

PROPOSAL_KIND = "tradeloop.proposal"
_SCHEMA_VERSION = 1
_FIX = "regenerate it with `tradeloop propose`"


@dataclass(frozen=True)
class ProposalInput:
    """The parts of a proposal that validation needs."""

    proposal_hash: str
    strategy: str
    symbol: str
    timeframe: str
    data: dict[str, Any]
    params_before: dict[str, float]
    params_after: dict[str, float]
    candidates: list[dict[str, float]]
    search_trials: int | None
    n_effective_trials: int | None
    max_delta: float
    document: dict[str, Any]
    cadence: str = "weekly"
    holdout_boundary: pd.Timestamp | None = None
    search_record: dict[str, Any] | None = None
    search_settings: SearchSettings | None = None
    guardrails: Guardrails = field(default_factory=Guardrails)

    @property
    def holdout(self) -> dict[str, Any]:
        """The proposal's ``holdout`` section."""
        return dict(self.document.get("holdout") or {})


def load_proposal(path: Path) -> ProposalInput:
    """Read ``path`` (JSON) and :func:`parse_proposal` it."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) else f"not UTF-8 text: {exc.reason}"
        raise ValidationError(f"{path}: cannot read the proposal ({why}); pass --proposal PATH") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(
            f"{path}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); {_FIX}"
        ) from None
    return parse_proposal(document, str(path))


def parse_proposal(document: Any, source: str = "proposal.json") -> ProposalInput:
    """Check a proposal document and return its validated parts.

    Raises
    ------
    tradeloop.errors.ValidationError
        A wrong ``schema_version`` or ``kind``, a missing or mistyped field, or a ``no_change`` proposal.
    """
    if not isinstance(document, Mapping):
        raise ValidationError(f"{source}: a proposal is a JSON object, got {type(document).__name__}; {_FIX}")
    doc = dict(document)
    _expect(doc, source, "schema_version", _SCHEMA_VERSION)
    _expect(doc, source, "kind", PROPOSAL_KIND)
    if doc.get("status") == "no_change":
        raise ValidationError(
            f"{source}: status is 'no_change' (reason: {doc.get('reason')!r}); there is nothing to validate"
        )
    data = _field(doc, source, "data", dict)
    for key in ("source", "timeframe", "data_hash", "start", "end"):
        _field(data, source, key, str, prefix="data.")
    search = _section(doc, "search")
    guardrails = _section(doc, "guardrails")
    max_delta = guardrails.get("max_delta", 0.2)
    if isinstance(max_delta, bool) or not isinstance(max_delta, int | float) or not 0 < max_delta <= 1:
        raise ValidationError(f"{source}: guardrails.max_delta must be in (0, 1], got {max_delta!r}; {_FIX}")
    cadence = doc.get("cadence", "weekly")
    return ProposalInput(
        proposal_hash=_field(doc, source, "proposal_hash", str),
        strategy=_field(doc, source, "strategy", str),
        symbol=_field(doc, source, "symbol", str),
        timeframe=_field(doc, source, "timeframe", str),
        data=data,
        params_before=_params(doc, source, "params_before"),
        params_after=_params(doc, source, "params_after"),
        candidates=_candidates(doc, source),
        search_trials=_optional_int(search, source, "trials"),
        n_effective_trials=_optional_int(search, source, "n_effective_trials"),
        max_delta=float(max_delta),
        document=doc,
        cadence=cadence,
        holdout_boundary=_holdout_boundary(doc, source),
        search_record=_search_record(doc, source),
        search_settings=_search_settings(search, source, cadence),
        guardrails=Guardrails.from_dict(guardrails),
    )


def _holdout_boundary(doc: dict[str, Any], source: str) -> pd.Timestamp:
    """The first bar the search never saw; a proposal without one cannot be judged out of sample."""
    holdout = doc.get("holdout")
    boundary = holdout.get("boundary") if isinstance(holdout, dict) else None
    if not isinstance(boundary, str) or not boundary:
        raise ValidationError(
            f"{source}: holdout.boundary is missing (got holdout={holdout!r}): without the boundary the "
            "search stopped at, validation cannot tell bars the search saw from bars it never saw; re-run "
            "`tradeloop propose` (it records the holdout) and validate the new proposal"
        )
    try:
        stamp = pd.Timestamp(boundary)
    except ValueError:
        raise ValidationError(
            f"{source}: holdout.boundary {boundary!r} is not an ISO-8601 time; {_FIX}"
        ) from None
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _search_record(doc: dict[str, Any], source: str) -> dict[str, Any] | None:
    reference = doc.get("search_record")
    if reference is None:
        return None
    if not isinstance(reference, dict) or not all(
        isinstance(reference.get(key), str) and reference[key] for key in ("path", "sha256")
    ):
        raise ValidationError(
            f"{source}: search_record must be null or an object with path and sha256, got {reference!r}; "
            f"{_FIX}"
        )
    return reference


def _search_settings(search: dict[str, Any], source: str, cadence: str) -> SearchSettings | None:
    settings = search.get("settings")
    if settings is None:
        return None
    if not isinstance(settings, dict):
        raise ValidationError(f"{source}: search.settings must be an object, got {settings!r}; {_FIX}")
    try:
        return SearchSettings.from_dict({"cadence": cadence, **settings})
    except TypeError as exc:
        raise ValidationError(f"{source}: search.settings is not readable ({exc}); {_FIX}") from None


def _section(doc: dict[str, Any], key: str) -> dict[str, Any]:
    value = doc.get(key)
    return value if isinstance(value, dict) else {}


def _expect(doc: dict[str, Any], source: str, key: str, expected: Any) -> None:
    if doc.get(key) != expected:
        raise ValidationError(f"{source}: {key} must be {expected!r}, got {doc.get(key)!r}; {_FIX}")


def _field(doc: Mapping[str, Any], source: str, key: str, kind: type, *, prefix: str = "") -> Any:
    if key not in doc:
        raise ValidationError(f"{source}: required field {prefix}{key} is missing; {_FIX}")
    value = doc[key]
    if not isinstance(value, kind) or (kind is str and not value):
        raise ValidationError(
            f"{source}: field {prefix}{key} must be a non-empty {kind.__name__}, got {value!r}; {_FIX}"
        )
    return value


def _numbers(value: Any, source: str, where: str) -> dict[str, float]:
    if not isinstance(value, dict) or not value:
        raise ValidationError(
            f"{source}: {where} must be a non-empty object of parameter values, got {value!r}"
        )
    numbers: dict[str, float] = {}
    for name, number in value.items():
        if name == "timeframe":
            continue
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise ValidationError(f"{source}: {where}.{name} must be a number, got {number!r}; {_FIX}")
        numbers[name] = float(number)
    return numbers


def _params(doc: dict[str, Any], source: str, key: str) -> dict[str, float]:
    if key not in doc:
        raise ValidationError(f"{source}: required field {key} is missing; {_FIX}")
    return _numbers(doc[key], source, key)


def _candidates(doc: dict[str, Any], source: str) -> list[dict[str, float]]:
    rows = doc.get("candidates", [])
    if not isinstance(rows, list):
        raise ValidationError(f"{source}: candidates must be a list of {{params, objective}}, got {rows!r}")
    candidates = []
    for i, row in enumerate(rows):
        params = row.get("params") if isinstance(row, dict) else None
        candidates.append(_numbers(params, source, f"candidates[{i}].params"))
    return candidates


def _optional_int(section: Mapping[str, Any], source: str, key: str) -> int | None:
    value = section.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValidationError(
            f"{source}: search.{key} must be a positive integer or null, got {value!r}; {_FIX}"
        )
    return value
