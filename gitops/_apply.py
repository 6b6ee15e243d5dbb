"""Applying a proposal to the live state: the changed parameters, and a COLD rollout for them.

An auto-PR may change only :data:`ALLOWED_PATHS`; :func:`check_allowed_paths` refuses anything else.
:func:`apply_proposal` writes ``config/constants.py`` with exact-span edits (only the changed parameter
literals and the provenance move) and ``feature_flags.json`` (the rollout of the strategy/symbol set to
``COLD`` with the new config hash). Both files are computed and validated before either is written, and
each is replaced atomically.
"""

from __future__ import annotations

import difflib
import posixpath
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any, Final

from gitops._constants import CONSTANTS_FILE, LiveConstants, ParamValue, parse_constants
from gitops._edit import KeyPath, edit_constants_text
from gitops._feature_flags import (
    FEATURE_FLAGS_FILE,
    FeatureFlags,
    Rollout,
    Stage,
    inspect_feature_flags,
    parse_feature_flags,
    render_feature_flags,
)
from gitops._names import rollout_key
from gitops._problems import raise_problems, read_state_text
from gitops._state import cross_file_problems
from tradeloop import Provenance
from tradeloop._atomic import atomic_write_many
from tradeloop.errors import ChangePolicyError, ProposalError, StateFileError, StrategyError

if TYPE_CHECKING:
    from tradeloop.documents import Proposal

__all__ = ["ALLOWED_PATHS", "AppliedChange", "apply_proposal", "check_allowed_paths"]

ALLOWED_PATHS: Final = (CONSTANTS_FILE.as_posix(), FEATURE_FLAGS_FILE.as_posix())


@dataclass(frozen=True)
class AppliedChange:
    """What :func:`apply_proposal` changed.

    Attributes
    ----------
    changed_paths
        Repository-relative paths written, a subset of :data:`ALLOWED_PATHS`; empty when nothing changed.
    summary
        One line per file, e.g. ``config/constants.py: LIVE_PARAMS.ema_cross.SP500: ema_fast 12 -> 13``.
    config_hash_before, config_hash_after
        :attr:`gitops.LiveConstants.config_hash` before and after (equal when nothing changed).
    parameters
        Parameter → ``(live value or None when new, new value)``.
    rollout_key
        The ``feature_flags.json`` rollouts key, ``"<strategy>/<symbol>"``.
    diff
        The unified diff of the changed files (``a/`` and ``b/`` prefixes, like git).
    """

    changed_paths: tuple[str, ...]
    summary: str
    config_hash_before: str
    config_hash_after: str
    parameters: Mapping[str, tuple[ParamValue | None, ParamValue]] = field(default_factory=dict)
    rollout_key: str = ""
    diff: str = ""

    @property
    def changed(self) -> bool:
        return bool(self.changed_paths)


def check_allowed_paths(paths: Iterable[str | PurePath]) -> None:
    """Refuse any path outside :data:`ALLOWED_PATHS` (repository-relative, ``/`` or ``\\`` separators).

    Raises
    ------
    tradeloop.errors.ChangePolicyError
        Naming every path outside the allowlist.
    """
    outside = sorted({str(path) for path in paths if _normalise(path) not in ALLOWED_PATHS})
    if outside:
        raise ChangePolicyError(
            f"refusing a change outside the live state files: {', '.join(outside)}; an auto-PR may change "
            f"only {' and '.join(ALLOWED_PATHS)}: drop the other paths from the change"
        )


def _normalise(path: str | PurePath) -> str | None:
    text = str(path).replace("\\", "/")
    if not text or text.startswith("/"):
        return None
    normal = posixpath.normpath(text)
    return None if normal.startswith("..") else normal


def apply_proposal(
    repo_root: Path,
    proposal: Proposal,
    *,
    provenance: Provenance,
    pr_number: int | None = None,
    dry_run: bool = False,
) -> AppliedChange:
    """Write the proposal's changed parameters and a COLD rollout into the live state under ``repo_root``.

    Parameters
    ----------
    repo_root
        The repository root holding ``config/constants.py`` and ``feature_flags.json``.
    proposal
        A contract-2 proposal (:class:`tradeloop.documents.Proposal`).
    provenance
        Written to both files; its ``written_at`` is also the rollout's start time.
    pr_number
        The pull request carrying the change, when known.
    dry_run
        Compute, validate and describe the change without writing anything.

    Returns
    -------
    AppliedChange
        The changed paths (empty for a ``no_change`` proposal or when the live state already holds
        ``params_after``), a summary, the config hashes and the diff.

    Raises
    ------
    tradeloop.errors.ProposalError
        The proposal was made against other live values (stale) or another
        timeframe, or names a strategy/symbol without live parameters.
    tradeloop.errors.StrategyError
        A new value breaks the strategy's parameter type, hard bounds or constraints.
    tradeloop.errors.StateFileError
        A live state file is invalid, or the edited file would be.
    """
    repo_root = Path(repo_root)
    constants_text = read_state_text(repo_root / CONSTANTS_FILE)
    live = parse_constants(constants_text)
    strategy, symbol = proposal.strategy, proposal.symbol
    entry = _live_entry(live, proposal)
    key = rollout_key(strategy, symbol)
    if _already_live(entry, proposal):
        summary = "no change: the live state already holds params_after (the proposal is on the base)"
        return AppliedChange((), summary, live.config_hash, live.config_hash, {}, key)
    _refuse_stale(entry, proposal)
    updates = _updates(entry, proposal)
    if not updates:
        reason = proposal.reason or "the live state already holds params_after"
        return AppliedChange((), f"no change: {reason}", live.config_hash, live.config_hash, {}, key)
    changes: dict[KeyPath, Any] = {
        ("LIVE_PARAMS", strategy, symbol, name): value for name, value in updates.items()
    }
    new_text = edit_constants_text(constants_text, changes, provenance=provenance)
    new_live = parse_constants(new_text)
    flags_text = read_state_text(repo_root / FEATURE_FLAGS_FILE)
    new_flags_text = _flags_text(flags_text, live, new_live, key, provenance, pr_number)
    written = {CONSTANTS_FILE.as_posix(): (constants_text, new_text)}
    if new_flags_text != flags_text:
        written[FEATURE_FLAGS_FILE.as_posix()] = (flags_text, new_flags_text)
    check_allowed_paths(written)
    if not dry_run:  # both files or neither: a failed write (disk full) must not leave half a change
        atomic_write_many({repo_root / path: text.encode("utf-8") for path, (_, text) in written.items()})
    parameters = {name: (entry.get(name), value) for name, value in updates.items()}
    return AppliedChange(
        changed_paths=tuple(written),
        summary=_summary(strategy, symbol, parameters, key, live.config_hash, new_live.config_hash, written),
        config_hash_before=live.config_hash,
        config_hash_after=new_live.config_hash,
        parameters=parameters,
        rollout_key=key,
        diff="".join(_diff(path, old, new) for path, (old, new) in written.items()),
    )


def _live_entry(live: LiveConstants, proposal: Proposal) -> Mapping[str, ParamValue]:
    strategy, symbol, timeframe = proposal.strategy, proposal.symbol, proposal.timeframe
    entry = live.live_params.get(strategy, {}).get(symbol)
    if entry is None:
        raise ProposalError(
            f"proposal: {strategy}/{symbol} has no LIVE_PARAMS.{strategy}.{symbol} entry in "
            f"{CONSTANTS_FILE.as_posix()}; add the live parameters first (proposals tune live pairs only)"
        )
    if entry["timeframe"] != timeframe:
        raise ProposalError(
            f"proposal: timeframe is {timeframe!r} but LIVE_PARAMS.{strategy}.{symbol}.timeframe is "
            f"{entry['timeframe']!r}; propose again on {entry['timeframe']!r} bars"
        )
    return entry


def _already_live(entry: Mapping[str, ParamValue], proposal: Proposal) -> bool:
    """Whether the live entry already runs ``params_after`` (a merged proposal published again)."""
    if not proposal.proposed:
        return False
    effective = _effective(proposal.strategy, entry)
    after = proposal.params_after
    return all(name in effective and _equal(effective[name], value) for name, value in after.items())


def _refuse_stale(entry: Mapping[str, ParamValue], proposal: Proposal) -> None:
    """Refuse a proposal made against other live values than the entry holds now."""
    strategy, symbol = proposal.strategy, proposal.symbol
    effective = _effective(strategy, entry)
    stale = [
        f"params_before.{name} is {value!r} but LIVE_PARAMS.{strategy}.{symbol}.{name} is "
        f"{effective[name]!r}{'' if name in entry else ' (the strategy default)'}"
        for name, value in proposal.params_before.items()
        if name in effective and not _equal(effective[name], value)
    ]
    if stale:
        raise ProposalError(
            f"proposal is stale: {'; '.join(stale)}; the live state changed since `tradeloop propose` ran: "
            "propose again"
        )


def _updates(entry: Mapping[str, ParamValue], proposal: Proposal) -> dict[str, ParamValue]:
    """The params_after values that differ from the live ones, typed like the strategy's parameters.

    A parameter the live entry leaves out runs at the strategy default: it is written only when
    params_after moves it away from that default.
    """
    effective = _effective(proposal.strategy, entry)
    changed = {
        name: value
        for name, value in proposal.params_after.items()
        if name not in effective or not _equal(effective[name], value)
    }
    if not proposal.proposed or not changed:
        return {}
    return _typed(proposal.strategy, entry, changed)


def _effective(strategy_name: str, entry: Mapping[str, ParamValue]) -> dict[str, ParamValue]:
    """The live entry (without ``timeframe``) completed with the strategy's defaults, when it is known."""
    from backtest_matrix.strategies import get_strategy

    values = {name: value for name, value in entry.items() if name != "timeframe"}
    try:
        defaults = get_strategy(strategy_name).defaults()
    except StrategyError:
        return values
    return {**defaults, **values}


def _typed(strategy_name: str, entry: Mapping[str, ParamValue], changed: Mapping[str, Any]) -> dict[str, Any]:
    from backtest_matrix.strategies import get_strategy

    where = f"proposal params_after for {strategy_name}"
    try:
        strategy = get_strategy(strategy_name)
    except StrategyError:
        # Not a strategy of this code base: keep integers integers, check nothing else.
        return {name: _like(entry.get(name), value) for name, value in changed.items()}
    by_name = {param.name: param for param in strategy.space()}
    typed: dict[str, Any] = {}
    for name, value in changed.items():
        param = by_name.get(name)
        if param is None:
            raise StrategyError(f"{where}: unknown parameter {name!r}; known: {', '.join(sorted(by_name))}")
        number = param.coerce(value, where)
        typed[name] = int(number) if param.kind == "int" else number
    merged = {name: value for name, value in entry.items() if name in by_name}
    strategy.resolve({**merged, **typed}, where)  # the constraints between parameters (ema_fast < ema_slow)
    return typed


def _like(current: ParamValue | None, value: Any) -> Any:
    if isinstance(current, int) and not isinstance(current, bool) and float(value).is_integer():
        return int(value)
    return value


def _equal(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    return bool(a == b)


def _flags_text(
    text: str,
    live: LiveConstants,
    new_live: LiveConstants,
    key: str,
    provenance: Provenance,
    pr_number: int | None,
) -> str:
    """``feature_flags.json`` with the rollout of ``key`` at COLD for the new config hash, validated.

    The rollout keeps the parameters the bot runs until the new ones reach FULL (``previous_params``): the
    live entry before this change, or, while an earlier rollout of the pair has not succeeded (reached
    FULL), that rollout's own previous parameters (the last ones that were live in full), so that a new
    proposal never makes unproven parameters the fallback. Reverting the merge of the pull request
    restores both files.
    """
    flags = parse_feature_flags(text)
    raise_problems(cross_file_problems(live, flags))
    existing = flags.rollouts.get(key)
    if existing is not None and existing.config_hash == new_live.config_hash:
        return text
    at = datetime.fromisoformat(provenance.written_at)
    strategy, _, symbol = key.partition("/")
    previous: Mapping[str, Any] | None = live.live_params[strategy][symbol]
    if existing is not None and existing.phase != "succeeded" and existing.previous_params is not None:
        previous = existing.previous_params
    rollout = Rollout(
        stage=Stage.COLD,
        canary_fraction=new_live.canary_fractions["COLD"],
        config_hash=new_live.config_hash,
        pr_number=pr_number,
        started_at=at,
        updated_at=at,
        previous_config_hash=live.config_hash,
        phase="progressing",
        previous_params=None if previous is None else dict(previous),
    )
    updated = FeatureFlags(
        provenance=provenance,
        prediction_engine=flags.prediction_engine,
        rollouts={**flags.rollouts, key: rollout},
        schema_version=flags.schema_version,
    )
    new_text = render_feature_flags(updated)
    parsed, problems = inspect_feature_flags(new_text)
    if problems or parsed != updated:
        raise StateFileError(
            f"refusing to write an invalid {FEATURE_FLAGS_FILE}: "
            f"{problems[0] if problems else 'it reads back differently'}"
        )
    return new_text


def _summary(
    strategy: str,
    symbol: str,
    parameters: Mapping[str, tuple[ParamValue | None, ParamValue]],
    key: str,
    before: str,
    after: str,
    written: Mapping[str, Any],
) -> str:
    moves = ", ".join(
        f"{name} {'(new)' if old is None else old} -> {new}" for name, (old, new) in parameters.items()
    )
    lines = [f"{CONSTANTS_FILE.as_posix()}: LIVE_PARAMS.{strategy}.{symbol}: {moves}"]
    if FEATURE_FLAGS_FILE.as_posix() in written:
        lines.append(
            f"{FEATURE_FLAGS_FILE}: rollouts.{key} -> COLD at config hash {after} (previous {before})"
        )
    return "\n".join(lines)


def _diff(path: str, old: str, new: str) -> str:
    return "".join(
        difflib.unified_diff(
            old.splitlines(keepends=True), new.splitlines(keepends=True), f"a/{path}", f"b/{path}"
        )
    )
