"""Reading ``proposal.json`` (contract 2) and ``verdict.json`` (contract 3) with clear errors.

Each document is checked against its JSON Schema in ``gitops/schemas/`` and then for consistency: the
``proposal_hash`` must be the hash of the proposal's own strategy, symbol, timeframe and parameters, and
every entry of ``changes`` must agree with ``params_before`` / ``params_after``.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gitops._problems import show_json_value
from gitops._schema import schema_messages
from tradeloop import canonical_json
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

_MIN_HASH_CHARS = 16


def proposal_hash(proposal: Mapping[str, Any]) -> str:
    """SHA-256 hex of ``canonical_json({strategy, symbol, timeframe, params_after})`` (contract 2).

    Two proposals with the same hash would write the same live parameters: a closed-unmerged PR with this
    hash is never proposed again.
    """
    try:
        subject = {key: proposal[key] for key in ("strategy", "symbol", "timeframe", "params_after")}
    except KeyError as exc:
        raise ProposalError(f"proposal: {exc.args[0]} is missing; the proposal hash needs it") from None
    return hashlib.sha256(canonical_json(subject).encode("utf-8")).hexdigest()


def proposal_problems(proposal: Any) -> list[str]:
    """Every contract violation of a proposal document (messages start with the field path)."""
    problems = schema_messages(proposal, "proposal")
    if problems:
        return problems
    return _hash_problems(proposal) + _change_problems(proposal)


def verdict_problems(verdict: Any) -> list[str]:
    """Every contract violation of a verdict document (messages start with the field path)."""
    return schema_messages(verdict, "verdict")


def parse_proposal(document: Any, name: str = "proposal.json") -> dict[str, Any]:
    """Check a proposal document already in memory; see :func:`load_proposal`."""
    _raise(name, proposal_problems(document))
    proposal: dict[str, Any] = document
    return proposal


def parse_verdict(document: Any, name: str = "verdict.json") -> dict[str, Any]:
    """Check a verdict document already in memory; see :func:`load_verdict`."""
    _raise(name, verdict_problems(document))
    verdict: dict[str, Any] = document
    return verdict


def load_proposal(path: Path) -> dict[str, Any]:
    """Read and check a ``proposal.json`` written by ``tradeloop propose``.

    Raises
    ------
    tradeloop.errors.ProposalError
        The file is missing or not JSON, a field is missing or mistyped (the message names the field
        path, the expected form and the value), the ``proposal_hash`` does not match, or ``changes``
        disagree with the parameters.
    """
    return parse_proposal(_read_json(Path(path), "tradeloop propose"), Path(path).name)


def load_verdict(path: Path) -> dict[str, Any]:
    """Read and check a ``verdict.json`` written by ``tradeloop validate``; see :func:`load_proposal`."""
    return parse_verdict(_read_json(Path(path), "tradeloop validate"), Path(path).name)


def _read_json(path: Path, writer: str) -> Any:
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        raise ProposalError(f"{path}: not found; write it with `{writer}` or pass the right path") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ProposalError(f"{path}: cannot read it ({exc}); write it again with `{writer}`") from exc
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise ProposalError(
            f"{path}: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}; "
            f"write it again with `{writer}`"
        ) from exc
    except ValueError as exc:
        raise ProposalError(f"{path}: {exc}; write null or a number instead") from exc


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _raise(name: str, problems: list[str]) -> None:
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ProposalError(f"{name}: {problems[0]}{more}")


def _hash_problems(proposal: Mapping[str, Any]) -> list[str]:
    given = proposal["proposal_hash"]
    expected = proposal_hash(proposal)
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
