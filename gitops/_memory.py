"""The guardrail memory: applied changes, cooldowns, change budgets, declined and rolled-back proposals.

Everything is derived from the base branch's history of the live state files and from the forge's closed
pull requests, so it holds on a fresh runner with an empty warehouse:

- **Changes** are read from the files themselves, as transitions between consecutive versions on the
  branch's first-parent chain (:func:`gitops._history.state_versions`), never from commit trailers, which a
  squash merge rewrites. A merge commit, a squash and a rebase all leave one such transition at the time the
  branch moved (the committer time of the commit on the branch). For each strategy/symbol a change lists
  the parameters whose *effective* value moved (a parameter the entry leaves out counts at its strategy
  default), the regime loadout values and the pair's ensemble weight that moved.
- **Reverts** are changes that undo an earlier one: they put every parameter that change moved back to its
  value before it (a ``git revert``, ``tradeloop rollback``, or the same edit by hand), or they return the
  pair to a state it held before (then every change since that state is rolled back). The state a rolled-back
  change introduced is never proposed again: its proposal hash and its config hash are remembered.
- **Declined** proposals are the forge's pull requests of the pair's branch closed without merging by a
  person (tradeloop's own closes are marked ``- autoclosed`` and do not count).

Every change counts for the cooldown and the change budget, reverts included: a rollback moves the live
state too, and a pair that was just rolled back waits before it is tuned again.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from gitops._checks import mapping_depth_items
from gitops._constants import LiveConstants
from gitops._forge import Forge
from gitops._history import StateVersion, state_versions
from gitops._names import rollout_key
from gitops._param_checks import effective_params
from gitops._pr_body import parse_pr_metadata
from gitops._pr_text import branch_name
from tradeloop import canonical_json
from tradeloop.documents import proposal_hash

if TYPE_CHECKING:
    from optimizer import AppliedChange
    from tradeloop.documents import Proposal

__all__ = [
    "AUTOCLOSED_SUFFIX",
    "GuardrailMemory",
    "Rejection",
    "StateChange",
    "declined_proposals",
    "pair_identity",
    "read_memory",
]

AUTOCLOSED_SUFFIX = " - autoclosed"
_PR_IN_SUBJECT = re.compile(r"^Merge pull request #(\d+)\b|\(#(\d+)\)\s*$")
ParamValues = dict[str, float | None]


def pair_identity(strategy: str, symbol: str, timeframe: str, params: Mapping[str, float]) -> str:
    """The proposal hash of a pair's effective parameters: equal to ``proposal_hash`` of a proposal whose
    ``params_after`` they are (contract 2), so a live state and a proposal compare directly."""
    return proposal_hash(strategy, symbol, timeframe, params)


@dataclass(frozen=True)
class StateChange:
    """One change of one strategy/symbol's live parameters on the base branch.

    ``parameters`` maps each moved parameter (``REGIME_LOADOUTS.<regime>.<name>`` for a loadout value,
    ``ENSEMBLE_WEIGHTS.weight`` for the pair's share of its symbol's capital) to
    its effective value before and after (``None``: not set). ``identity_*`` are :func:`pair_identity` of
    the live parameters, ``config_hash_*`` the whole file's config hashes. ``reverts`` lists the commits of
    the changes this one rolls back.
    """

    strategy: str
    symbol: str
    timeframe: str
    commit: str
    at: datetime
    subject: str
    parameters: Mapping[str, tuple[float | None, float | None]]
    identity_before: str | None
    identity_after: str
    config_hash_before: str | None
    config_hash_after: str
    pr_number: int | None = None
    reverts: tuple[str, ...] = ()

    @property
    def kind(self) -> Literal["change", "revert"]:
        return "revert" if self.reverts else "change"

    def describe(self) -> str:
        """``ema_fast 12 -> 13 in 1a2b3c4d5e6f (#4, 2025-01-01T00:00:00+00:00)``."""
        moved = ", ".join(
            f"{name} {_show(old)} -> {_show(new)}" for name, (old, new) in self.parameters.items()
        )
        pr = f"#{self.pr_number}, " if self.pr_number else ""
        return f"{moved or 'added'} in {self.commit[:12]} ({pr}{self.at.isoformat()})"


def _show(value: float | None) -> str:
    return "unset" if value is None else f"{value:g}"


@dataclass(frozen=True)
class Rejection:
    """A proposal that must never be proposed again: rolled back on the branch, or declined on the forge."""

    kind: Literal["reverted", "declined"]
    strategy: str
    symbol: str
    proposal_hash: str
    config_hash: str | None
    at: datetime | None
    detail: str
    commit: str | None = None
    pr_number: int | None = None

    def reason(self) -> str:
        """The sentence a refused proposal carries."""
        if self.kind == "reverted":
            return (
                f"rolled back before: {self.detail}; a rolled-back configuration is never proposed again "
                f"(proposal hash {self.proposal_hash[:16]})"
            )
        return (
            f"declined before: {self.detail}; a declined proposal is never proposed again "
            f"(proposal hash {self.proposal_hash[:16]})"
        )


@dataclass(frozen=True)
class GuardrailMemory:
    """What the branch and the forge remember (module docstring); ``head`` is the commit read, ``unreadable``
    the versions whose constants this tradeloop cannot read (a change they made counts from the next one)."""

    head: str
    changes: tuple[StateChange, ...] = ()
    rejections: tuple[Rejection, ...] = ()
    unreadable: tuple[StateVersion, ...] = field(default_factory=tuple)

    def changes_of(self, strategy: str, symbol: str) -> list[StateChange]:
        return [c for c in self.changes if (c.strategy, c.symbol) == (strategy, symbol)]

    def applied_changes(self) -> list[AppliedChange]:
        """The changes as the optimizer's guardrails count them (cooldown and change budget).

        A pair that appears in ``LIVE_PARAMS`` moves no parameter: adding it starts no cooldown.
        """
        from optimizer import AppliedChange

        return [
            AppliedChange(c.strategy, c.symbol, c.at, tuple(sorted(c.parameters)))
            for c in self.changes
            if c.parameters
        ]

    def rejection_for(self, proposal: Proposal) -> Rejection | None:
        """The rejection that forbids ``proposal`` (same proposal hash or config hash), or ``None``."""
        digest = proposal.full_hash
        config = proposal.config_hash_after
        for rejection in reversed(self.rejections):
            if (rejection.strategy, rejection.symbol) != (proposal.strategy, proposal.symbol):
                continue
            if rejection.proposal_hash == digest or (config and rejection.config_hash == config):
                return rejection
        return None

    def with_rejections(self, extra: Iterable[Rejection]) -> GuardrailMemory:
        return GuardrailMemory(self.head, self.changes, (*self.rejections, *extra), self.unreadable)


def read_memory(repo: Path, ref: str = "HEAD", *, forge: Forge | None = None) -> GuardrailMemory:
    """The guardrail memory of branch ``ref`` in ``repo`` (and of ``forge``'s closed pull requests).

    Raises
    ------
    tradeloop.errors.ForgeError
        ``repo`` is not a git repository or is a shallow clone (the message says how to fetch the history).
    """
    versions = state_versions(repo, ref)
    head = versions[-1].commit if versions else ref
    changes, rejections = _walk(versions)
    unreadable = tuple(v for v in versions if v.constants is None)
    memory = GuardrailMemory(head, tuple(changes), tuple(rejections), unreadable)
    latest = next((v.constants for v in reversed(versions) if v.constants is not None), None)
    if forge is not None and latest is not None:
        memory = memory.with_rejections(declined_proposals(forge, latest))
    return memory


def declined_proposals(forge: Forge, constants: LiveConstants) -> list[Rejection]:
    """Pull requests of each live pair's branch that a person closed without merging."""
    found = []
    for (strategy, symbol), entry in mapping_depth_items(constants.live_params, 2):
        branch = branch_name(strategy, symbol, str(entry["timeframe"]))
        for pr in forge.find_closed_prs(branch):
            metadata = parse_pr_metadata(pr.body) or {}
            digest = metadata.get("proposal_hash")
            if pr.merged or not isinstance(digest, str) or pr.title.endswith(AUTOCLOSED_SUFFIX):
                continue
            found.append(
                Rejection(
                    "declined", strategy, symbol, digest, metadata.get("config_hash"), None,
                    f"pull request #{pr.number} ({pr.url}) was closed without merging", pr_number=pr.number,
                )
            )  # fmt: skip
    return found


# -- reading the transitions ---------------------------------------------------------------------------


@dataclass
class _PairTrack:
    """One pair's path through the history: the full states it held (live parameters and loadouts, as
    :func:`_state_key`) and the changes still in force, each with the state it brought."""

    states: list[str]
    active: list[tuple[StateChange, str]] = field(default_factory=list)


def _walk(versions: Sequence[StateVersion]) -> tuple[list[StateChange], list[Rejection]]:
    changes: list[StateChange] = []
    rejections: list[Rejection] = []
    tracks: dict[tuple[str, str], _PairTrack] = {}
    previous: StateVersion | None = None
    for version in versions:
        if version.constants is None:
            continue
        if previous is None:
            for (strategy, symbol), _ in mapping_depth_items(version.constants.live_params, 2):
                tracks[strategy, symbol] = _PairTrack([_state_key(version.constants, strategy, symbol)])
        else:
            for change in _transitions(previous, version):
                track = tracks.setdefault((change.strategy, change.symbol), _PairTrack([]))
                state = _state_key(version.constants, change.strategy, change.symbol)
                change, undone = _mark_reverts(change, state, track)
                changes.append(change)
                rejections.extend(_rejection(c, change) for c in undone)
                track.states.append(state)
                if change.kind == "change":  # a revert is never itself "rolled back" by putting it back
                    track.active.append((change, state))
        previous = version
    return changes, rejections


def _identity(constants: LiveConstants, strategy: str, symbol: str) -> str:
    entry = constants.live_params[strategy][symbol]
    return pair_identity(strategy, symbol, str(entry["timeframe"]), effective_params(strategy, entry))


def _state_key(constants: LiveConstants, strategy: str, symbol: str) -> str:
    """A pair's whole state (effective live parameters and regime loadouts) as one comparable string."""
    return canonical_json(_values(constants, strategy, symbol))


def _values(constants: LiveConstants, strategy: str, symbol: str) -> ParamValues | None:
    entry = constants.live_params.get(strategy, {}).get(symbol)
    if entry is None:
        return None
    values: ParamValues = dict(effective_params(strategy, entry))
    for regime, params in constants.regime_loadouts.get(strategy, {}).get(symbol, {}).items():
        for name, value in params.items():
            if name != "timeframe":
                values[f"REGIME_LOADOUTS.{regime}.{name}"] = float(value)
    weight = constants.ensemble_weights.get(symbol, {}).get(strategy)
    if weight is not None:
        values["ENSEMBLE_WEIGHTS.weight"] = float(weight)
    return values


def _transitions(before: StateVersion, after: StateVersion) -> list[StateChange]:
    assert before.constants is not None and after.constants is not None
    old_constants, new_constants = before.constants, after.constants
    found = []
    for strategy, symbol in sorted(
        {pair for pair, _ in mapping_depth_items(new_constants.live_params, 2)}
    ):  # fmt: skip
        new = _values(new_constants, strategy, symbol)
        old = _values(old_constants, strategy, symbol)
        assert new is not None
        moved = _moved(old, new)
        if old is not None and not moved:
            continue
        found.append(
            StateChange(
                strategy=strategy, symbol=symbol,
                timeframe=str(new_constants.live_params[strategy][symbol]["timeframe"]),
                commit=after.commit, at=after.at, subject=after.subject, parameters=moved,
                identity_before=None if old is None else _identity(old_constants, strategy, symbol),
                identity_after=_identity(new_constants, strategy, symbol),
                config_hash_before=old_constants.config_hash, config_hash_after=new_constants.config_hash,
                pr_number=_pr_number(after, strategy, symbol),
            )
        )  # fmt: skip
    return found


def _moved(old: ParamValues | None, new: ParamValues) -> dict[str, tuple[float | None, float | None]]:
    """Parameter → (before, after) for every value that differs; an added pair moves nothing (it is new)."""
    if old is None:
        return {}
    names = sorted(set(old) | set(new))
    return {name: (old.get(name), new.get(name)) for name in names if old.get(name) != new.get(name)}


def _pr_number(version: StateVersion, strategy: str, symbol: str) -> int | None:
    """From the subject GitHub writes (merge: ``Merge pull request #N``, squash: ``title (#N)``), else the
    pair's rollout in ``feature_flags.json`` when it names this configuration."""
    match = _PR_IN_SUBJECT.search(version.subject)
    if match:
        return int(match.group(1) or match.group(2))
    rollout = version.flags.rollouts.get(rollout_key(strategy, symbol)) if version.flags else None
    if rollout is not None and version.constants and rollout.config_hash == version.constants.config_hash:
        return rollout.pr_number
    return None


def _mark_reverts(
    change: StateChange, state: str, track: _PairTrack
) -> tuple[StateChange, list[StateChange]]:
    """The change with the commits it rolls back, and those rolled-back changes (module docstring)."""
    undone = [c for c, _ in reversed(track.active) if _undoes(change, c)][:1]
    if state in track.states[:-1] and state != track.states[-1]:
        since = max(i for i, held in enumerate(track.states[:-1]) if held == state)
        left = set(track.states[since + 1 :])
        undone += [c for c, brought in track.active if brought in left and c not in undone]
    if not undone:
        return change, []
    track.active = [(c, brought) for c, brought in track.active if c not in undone]
    return dataclasses.replace(change, reverts=tuple(c.commit for c in undone)), undone


def _undoes(change: StateChange, earlier: StateChange) -> bool:
    """Whether ``change`` puts every parameter ``earlier`` moved back where it was before it."""
    if not earlier.parameters:
        return False
    for name, (before, after) in earlier.parameters.items():
        moved = change.parameters.get(name)
        if moved is None or moved != (after, before):
            return False
    return True


def _rejection(undone: StateChange, revert: StateChange) -> Rejection:
    detail = (
        f"{undone.describe()} was rolled back by {revert.commit[:12]} ({revert.subject!r}, "
        f"{revert.at.isoformat()})"
    )
    return Rejection(
        "reverted", undone.strategy, undone.symbol, undone.identity_after, undone.config_hash_after,
        revert.at, detail, commit=revert.commit, pr_number=undone.pr_number,
    )  # fmt: skip
