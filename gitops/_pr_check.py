"""``tradeloop pr check``: does a pull request change only what an auto-PR may change, within its bounds?

It runs before any of the pull request's code does, so it reads both versions of both live state files as
text (``config/constants.py`` parsed with ``ast``, never imported) and checks, against the merge base:

- every changed file is on the allowlist (``config/constants.py``, ``feature_flags.json``), and both files
  are still regular files (not removed, not a symbolic link);
- both files at the head pass every check their readers run (``tradeloop state check``'s checks);
- no guardrail constant is added, changed or removed (only ``LIVE_PARAMS``, ``REGIME_LOADOUTS`` and
  ``PROVENANCE`` may change);
- no live entry appears, disappears or changes its timeframe, and one strategy/symbol at most changes;
- every parameter of the effective entry (a parameter the entry leaves out counts at its strategy default)
  moves at most its per-cycle cap: :func:`optimizer.step_cap` with the smaller of ``OPTIMIZER_MAX_DELTA``
  and the parameter's own ``max_step_pct``;
- at most ``OPTIMIZER_MAX_KNOBS`` parameters change per strategy/symbol;
- every regime loadout value stays within the cap of the value it replaces (the regime's previous loadout
  value, or the effective live value for a first loadout), at most ``OPTIMIZER_MAX_KNOBS`` per regime;
- one purpose per pull request: a pair's live parameters or its loadouts, or ensemble weights, never two;
- ensemble weights change for one symbol at most, moving at most ``ENSEMBLE_MAX_TURNOVER`` of its capital;
- ``feature_flags.json`` changes only as the optimizer changes it (:mod:`gitops._pr_check_flags`).

A pull request labelled ``tradeloop:manual`` is a human's change: the allowlist and the validity of both
files still decide, and what a bot change would be refused for is reported as findings for the reviewer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from gitops._apply import ALLOWED_PATHS
from gitops._checks import mapping_depth_items
from gitops._constants import CONSTANTS_FILE, LiveConstants, inspect_constants, parse_constants
from gitops._constants_spec import CONSTANT_SPECS
from gitops._ensemble_checks import ensemble_violations
from gitops._feature_flags import FEATURE_FLAGS_FILE, FeatureFlags, inspect_feature_flags, parse_feature_flags
from gitops._forge import Forge
from gitops._git import ChangedFile, file_mode, run_git
from gitops._literal import read_assignments
from gitops._param_checks import parameter_space
from gitops._pr_check_flags import flag_violations
from gitops._state import cross_file_problems
from tradeloop.errors import ForgeError, StateFileError

__all__ = ["MANUAL_LABEL", "ParamMove", "PrCheck", "PrSnapshot", "check_pr_change", "check_pull_request"]

MANUAL_LABEL = "tradeloop:manual"
#: A rollback pull request (``tradeloop rollback``, the monitor): held to being the exact inverse of a change.
ROLLBACK_LABEL = "rollback"
_TOLERANCE = 1e-9
_REGULAR_MODES = ("100644", "100755")
_CONSTANTS = CONSTANTS_FILE.as_posix()
_FLAGS = FEATURE_FLAGS_FILE.as_posix()
_NOT_GUARDRAILS = ("SCHEMA_VERSION", "PROVENANCE", "LIVE_PARAMS", "REGIME_LOADOUTS", "ENSEMBLE_WEIGHTS")


@dataclass(frozen=True)
class ParamMove:
    """One parameter that differs between base and head (``current`` is the effective base value)."""

    where: str
    current: Any
    proposed: Any
    delta_pct: float | None
    cap_pct: float
    bounds: tuple[float, float] | None


@dataclass
class PrCheck:
    """The outcome: ``violations`` is empty when the pull request may go on.

    For a pull request labelled ``tradeloop:manual`` (``manual``), ``findings`` lists what a bot change
    would have been refused for; only the allowlist and the validity of the files are ``violations``.
    """

    files: list[ChangedFile]
    moves: list[ParamMove] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    manual: bool = False
    findings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.violations


@dataclass(frozen=True)
class PrSnapshot:
    """What ``pr check`` reads of a pull request: its files, labels, and both state files at base and head.

    ``head_modes`` maps each state file to its git mode at the head (``100644`` for a regular file,
    ``120000`` for a symbolic link), ``None`` when it does not exist there.
    """

    files: Sequence[ChangedFile]
    base_constants: str
    head_constants: str | None
    base_flags: str | None = None
    head_flags: str | None = None
    head_modes: Mapping[str, str | None] = field(default_factory=dict)
    labels: Sequence[str] = ()
    number: int | None = None
    #: Set when the pull request, labelled ``rollback``, is exactly the computed inverse of one pair's last
    #: change on the base (:func:`gitops.inverse_change`): why, for the notes.
    restores: str | None = None


def check_pull_request(forge: Forge, number: int, *, base: str | None = None) -> PrCheck:
    """Check pull request ``number``: its files on the forge, its head's state files against the merge base.

    ``base`` overrides the pull request's own base branch for the comparison.
    """
    pr = forge.get_pr(number)
    base_sha = forge.resolve(base or pr.base)
    head_sha = forge.resolve(pr.branch)
    merge_base = run_git(forge.repo, "merge-base", base_sha, head_sha, what="git merge-base")
    base_text = forge.read_file(merge_base, _CONSTANTS)
    if base_text is None:
        raise ForgeError(f"pr check #{number}: the base {base or pr.base} has no {_CONSTANTS}; check --base")
    snapshot = PrSnapshot(
        files=forge.pr_files(pr),
        base_constants=base_text,
        head_constants=forge.read_file(head_sha, _CONSTANTS),
        base_flags=forge.read_file(merge_base, _FLAGS),
        head_flags=forge.read_file(head_sha, _FLAGS),
        head_modes={path: file_mode(forge.repo, head_sha, path) for path in ALLOWED_PATHS},
        labels=pr.labels,
        number=number,
    )
    if ROLLBACK_LABEL in pr.labels and snapshot.head_constants is not None:
        snapshot = replace(snapshot, restores=_restores(forge, merge_base, snapshot))
    return check_pr_change(snapshot)


def _restores(forge: Forge, merge_base: str, snapshot: PrSnapshot) -> str | None:
    """Why the head is the computed inverse of one pair's last change on the base, or ``None``."""
    from gitops._inverse import inverse_change
    from tradeloop import Provenance

    base = inspect_constants(snapshot.base_constants)[0]
    head = inspect_constants(snapshot.head_constants or "")[0]
    head_flags = None if snapshot.head_flags is None else inspect_feature_flags(snapshot.head_flags)[0]
    if base is None or head is None or head_flags is None:
        return None
    pairs = _changed_pairs(base, head)
    if len(pairs) != 1:
        return None
    [(strategy, symbol)] = pairs
    stamp = Provenance(run_id="pr-check", git_sha="-", written_at="2000-01-01T00:00:00+00:00")
    try:
        inverse = inverse_change(forge.repo, merge_base, strategy, symbol, stamp)
    except (StateFileError, ForgeError):
        return None
    expected = parse_constants(inverse.constants_text)
    expected_rollouts = dict(parse_feature_flags(inverse.flags_text).rollouts)
    same = (expected.live_params, expected.regime_loadouts, expected_rollouts) == (
        head.live_params, head.regime_loadouts, dict(head_flags.rollouts),
    )  # fmt: skip
    if not same:
        return None
    return (
        f"rollback: {strategy}/{symbol} returns exactly to its state before {inverse.change_commit[:12]} "
        f"(config {inverse.config_hash_reverted} rolled back); no other pair moves"
    )


def _changed_pairs(base: LiveConstants, head: LiveConstants) -> set[tuple[str, str]]:
    """Strategy/symbol pairs whose live parameters or regime loadouts differ between the two."""
    found = set()
    for table in ("live_params", "regime_loadouts"):
        old, new = getattr(base, table), getattr(head, table)
        for strategy in set(old) | set(new):
            for symbol in set(old.get(strategy, {})) | set(new.get(strategy, {})):
                if old.get(strategy, {}).get(symbol) != new.get(strategy, {}).get(symbol):
                    found.add((strategy, symbol))
    return found


def check_pr_change(snapshot: PrSnapshot, *, allowlist: Iterable[str] = ALLOWED_PATHS) -> PrCheck:
    """Check a pull request from what :class:`PrSnapshot` holds (module docstring)."""
    allowed = tuple(allowlist)
    result = PrCheck(files=list(snapshot.files), manual=MANUAL_LABEL in snapshot.labels)
    result.violations += _outside_allowlist(result.files, allowed)
    result.violations += _not_regular(snapshot)
    base, base_problems = inspect_constants(snapshot.base_constants, f"{_CONSTANTS} (base)")
    if base is None:
        raise ForgeError(
            f"pr check: the base's {base_problems[0]}; fix the base branch first (`tradeloop state check`)"
        )
    head, head_flags = _head_state(snapshot, result)
    if head is None or head_flags is None:
        return result
    if snapshot.restores is not None:  # the exact inverse of a checked change: only the guardrails are held
        result.notes.append(snapshot.restores)
        bot_rules = _guardrail_changes(snapshot, base, head)
    else:
        bot_rules = _bot_rule_violations(snapshot, base, head, head_flags, result)
    if result.manual:
        result.findings += bot_rules
    else:
        result.violations += bot_rules
    return result


def _outside_allowlist(files: Sequence[ChangedFile], allowed: tuple[str, ...]) -> list[str]:
    return [
        f"{changed.path} ({changed.status}) is outside the allowlist {', '.join(allowed)}; an auto-PR may "
        "change only the live state files: drop it from the pull request"
        for changed in files
        if changed.path not in allowed
    ]


def _not_regular(snapshot: PrSnapshot) -> list[str]:
    problems = []
    for path in ALLOWED_PATHS:
        mode = snapshot.head_modes.get(path, "100644" if _text(snapshot, path) is not None else None)
        if mode is None:
            problems.append(f"{path} is removed by the pull request; restore it (the bot reads it every run)")
        elif mode == "120000":
            problems.append(
                f"{path} is a symbolic link at the head, got a link to {_text(snapshot, path)!r}; the live "
                "state files must be regular files: replace the link by the file itself"
            )
        elif mode not in _REGULAR_MODES:
            problems.append(f"{path} has git mode {mode} at the head, not a regular file; restore the file")
    return problems


def _text(snapshot: PrSnapshot, path: str) -> str | None:
    return snapshot.head_constants if path == _CONSTANTS else snapshot.head_flags


def _head_state(snapshot: PrSnapshot, result: PrCheck) -> tuple[LiveConstants | None, FeatureFlags | None]:
    """Both head files read with every reader's check; their problems become violations.

    A removed file is already a violation (:func:`_not_regular`).
    """
    if snapshot.head_constants is None or snapshot.head_flags is None:
        return None, None
    head, problems = inspect_constants(snapshot.head_constants, _CONSTANTS)
    result.violations += [f"{problem} (at the head)" for problem in problems]
    flags, flag_problems = inspect_feature_flags(snapshot.head_flags, _FLAGS)
    result.violations += [f"{problem} (at the head)" for problem in flag_problems]
    if head is not None and flags is not None:
        cross = cross_file_problems(head, flags)
        result.violations += [f"{problem} (at the head)" for problem in cross]
        if cross:
            return None, None
    return head, flags


def _bot_rule_violations(
    snapshot: PrSnapshot, base: LiveConstants, head: LiveConstants, head_flags: FeatureFlags, result: PrCheck
) -> list[str]:
    found = _guardrail_changes(snapshot, base, head)
    changed_pairs, live_problems = _check_live(base, head, result)
    found += live_problems
    loadout_pairs, loadout_problems = _check_loadouts(base, head, result)
    found += loadout_problems
    found += _mixed_purposes(changed_pairs, loadout_pairs, base, head)
    found += ensemble_violations(base, head)
    base_flags, problems = (
        (None, []) if snapshot.base_flags is None else inspect_feature_flags(snapshot.base_flags, _FLAGS)
    )
    if base_flags is None:
        found += [f"the base's {problem}; fix the base branch first" for problem in problems]
        return found
    found += flag_violations(base, head, base_flags, head_flags, changed_pairs, snapshot.number)
    result.notes += _stage_moves(base_flags, head_flags, changed_pairs)
    return found


def _stage_moves(
    base_flags: FeatureFlags, head_flags: FeatureFlags, changed_pairs: set[tuple[str, str]]
) -> list[str]:
    """The rollout moves a deployment pull request makes, for the notes (the summary counts parameters)."""
    notes = []
    for key, after in sorted(head_flags.rollouts.items()):
        before = base_flags.rollouts.get(key)
        strategy, _, symbol = key.partition("/")
        if before is None or (strategy, symbol) in changed_pairs:
            continue
        if (before.stage, before.phase) != (after.stage, after.phase):
            why = f": {after.status.reason}" if after.status is not None else ""
            notes.append(
                f"rollout {key}: {before.stage.value} ({before.phase}) → {after.stage.value} "
                f"({after.phase}), capital share {after.canary_fraction:g}{why}"
            )
    return notes


def _guardrail_changes(snapshot: PrSnapshot, base: LiveConstants, head: LiveConstants) -> list[str]:
    before, after = base.guardrails, head.guardrails
    problems = [
        f"{_CONSTANTS}: {name} changes {before[name]!r} → {after[name]!r}; an auto-PR may change only "
        "LIVE_PARAMS and REGIME_LOADOUTS: guardrails change by hand, through a pull request labelled "
        f"{MANUAL_LABEL}"
        for name in before
        if before[name] != after.get(name)
    ]
    written_before = _guardrails_written(snapshot.base_constants)
    written_after = _guardrails_written(snapshot.head_constants or "")
    for name in sorted(written_after - written_before):
        if before.get(name) == after.get(name):
            problems.append(
                f"{_CONSTANTS}: {name} = {after[name]!r} is added; an auto-PR never adds a guardrail "
                f"(tradeloop reads its default, {CONSTANT_SPECS[name].default!r}, while it is absent); "
                f"drop it, or add it by hand through a pull request labelled {MANUAL_LABEL}"
            )
    for name in sorted(written_before - written_after):
        if before.get(name) == after.get(name):
            problems.append(
                f"{_CONSTANTS}: {name} = {before[name]!r} is removed; an auto-PR never removes a guardrail: "
                "restore it"
            )
    return problems


def _guardrails_written(text: str) -> set[str]:
    assignments, _ = read_assignments(text, _CONSTANTS)
    return {a.name for a in assignments if a.name in CONSTANT_SPECS and a.name not in _NOT_GUARDRAILS}


def _cap(base: LiveConstants, current: float, param: Any) -> tuple[float, float]:
    """The largest move allowed from ``current``, and its percentage (of |current|, or of the hard range)."""
    from optimizer import step_cap

    fraction = min(base.optimizer_max_delta, param.max_step_pct / 100.0)
    return step_cap(current, param.low, param.high, fraction), fraction * 100.0


def _move_violation(
    base: LiveConstants, where: str, name: str, current: float, proposed: float, param: Any, origin: str,
    result: PrCheck,
) -> str | None:  # fmt: skip
    cap, cap_pct = _cap(base, current, param)
    scale = abs(current) if current != 0 else param.high - param.low
    delta = abs(proposed - current) / scale * 100.0 if scale > 0 else 0.0
    result.moves.append(
        ParamMove(f"{where}.{name}", current, proposed, delta, cap_pct, (param.low, param.high))
    )
    if abs(proposed - current) <= cap + _TOLERANCE:
        return None
    of = (
        ""
        if current != 0
        else f" of its hard range [{param.low:g}, {param.high:g}] (0 has no scale of its own)"
    )
    message = (
        f"{_CONSTANTS}: {where}.{name} moves {current:g} → {proposed:g} ({delta:.1f}%{of}), past its "
        f"per-cycle cap of {cap_pct:g}% (±{cap:g}){origin}; split the change over several cycles"
    )
    if param.kind == "int" and cap < 1:
        message += (
            f". Note: a {cap_pct:g}% cap cannot move the integer {name} at {current:g} at all (it allows "
            f"±{cap:g}), so it changes only by hand, through a pull request labelled {MANUAL_LABEL}"
        )
    return message


def _origin(entry: Mapping[str, Any], name: str, strategy: str, default: float) -> str:
    if name in entry:
        return ""
    return f" (measured from {strategy}'s default {default:g}: the base entry leaves {name} out)"


def _effective(space: Mapping[str, Any], entry: Mapping[str, Any]) -> dict[str, float]:
    return {name: float(entry.get(name, param.default)) for name, param in space.items()}


def _check_live(
    base: LiveConstants, head: LiveConstants, result: PrCheck
) -> tuple[set[tuple[str, str]], list[str]]:
    """Violations of the live entries, and the strategy/symbol pairs whose parameters change."""
    problems: list[str] = []
    changed_pairs: set[tuple[str, str]] = set()
    entries = {keys for keys, _ in mapping_depth_items(base.live_params, 2)}
    entries |= {keys for keys, _ in mapping_depth_items(head.live_params, 2)}
    for strategy, symbol in sorted(entries):
        where = f"LIVE_PARAMS.{strategy}.{symbol}"
        before = base.live_params.get(strategy, {}).get(symbol)
        after = head.live_params.get(strategy, {}).get(symbol)
        if before is None or after is None:
            verb = "appears" if before is None else "disappears"
            problems.append(f"{_CONSTANTS}: {where} {verb}; live entries are added and removed by hand")
            continue
        if before["timeframe"] != after["timeframe"]:
            problems.append(
                f"{_CONSTANTS}: {where}.timeframe changes {before['timeframe']!r} → {after['timeframe']!r}; "
                "the timeframe changes by hand"
            )
        space = parameter_space(strategy)
        assert space is not None  # both versions passed the readers' checks
        old, new = _effective(space, before), _effective(space, after)
        changed = sorted(name for name in space if old[name] != new[name])
        if changed:
            changed_pairs.add((strategy, symbol))
        problems.extend(_too_many_knobs(base, where, changed))
        for name in changed:
            origin = _origin(before, name, strategy, space[name].default)
            found = _move_violation(base, where, name, old[name], new[name], space[name], origin, result)
            if found:
                problems.append(found)
    if len(changed_pairs) > 1:
        listed = ", ".join(f"{s}/{y}" for s, y in sorted(changed_pairs))
        problems.append(
            f"{_CONSTANTS}: the parameters of {len(changed_pairs)} strategy/symbol pairs change ({listed}); "
            "an auto-PR changes one pair: split it into one pull request per pair"
        )
    return changed_pairs, problems


def _too_many_knobs(base: LiveConstants, where: str, changed: list[str]) -> list[str]:
    if len(changed) <= base.optimizer_max_knobs:
        return []
    return [
        f"{_CONSTANTS}: {where}: {len(changed)} parameters change ({', '.join(changed)}), more than "
        f"OPTIMIZER_MAX_KNOBS = {base.optimizer_max_knobs}; keep the {base.optimizer_max_knobs} "
        "that matter most"
    ]


def _check_loadouts(
    base: LiveConstants, head: LiveConstants, result: PrCheck
) -> tuple[set[tuple[str, str]], list[str]]:
    """Violations of the regime loadouts, and the strategy/symbol pairs whose loadouts change.

    A regime's effective set is the live entry with its loadout on top; each value of it moves at most its
    cap from the value it replaces (the previous loadout value, or the live value for a first loadout; a
    removed loadout value returns to the live value, which is a move too).
    """
    problems: list[str] = []
    changed_pairs: set[tuple[str, str]] = set()
    regimes = {keys for keys, _ in mapping_depth_items(base.regime_loadouts, 3)}
    regimes |= {keys for keys, _ in mapping_depth_items(head.regime_loadouts, 3)}
    for strategy, symbol, regime in sorted(regimes):
        where = f"REGIME_LOADOUTS.{strategy}.{symbol}.{regime}"
        space = parameter_space(strategy)
        live = base.live_params.get(strategy, {}).get(symbol)
        if space is None or live is None:
            continue  # the readers' checks report a loadout without a live pair
        old = base.regime_loadouts.get(strategy, {}).get(symbol, {}).get(regime, {})
        new = head.regime_loadouts.get(strategy, {}).get(symbol, {}).get(regime, {})
        before, after = (
            {**_effective(space, live), **{k: float(v) for k, v in loadout.items() if k != "timeframe"}}
            for loadout in (old, new)
        )
        changed = sorted(name for name in space if before[name] != after[name])
        if changed:
            changed_pairs.add((strategy, symbol))
        problems.extend(_too_many_knobs(base, where, changed))
        for name in changed:
            origin = "" if name in old else _origin(live, name, strategy, space[name].default)
            found = _move_violation(base, where, name, before[name], after[name], space[name], origin, result)
            if found:
                problems.append(found)
    return changed_pairs, problems


def _mixed_purposes(
    live_pairs: set[tuple[str, str]],
    loadout_pairs: set[tuple[str, str]],
    base: LiveConstants,
    head: LiveConstants,
) -> list[str]:
    """One purpose per pull request: live parameters, loadouts or ensemble weights, never two at once."""
    problems = [
        f"{_CONSTANTS}: LIVE_PARAMS.{strategy}.{symbol} and REGIME_LOADOUTS.{strategy}.{symbol} both change; "
        "an auto-PR changes the live parameters or the loadouts of a pair, not both: split it into two pull "
        "requests on separate branches"
        for strategy, symbol in sorted(live_pairs & loadout_pairs)
    ]
    if base.ensemble_weights != head.ensemble_weights and (live_pairs or loadout_pairs):
        moved = ", ".join(f"{s}/{y}" for s, y in sorted(live_pairs | loadout_pairs))
        problems.append(
            f"{_CONSTANTS}: ENSEMBLE_WEIGHTS changes together with the parameters of {moved}; an auto-PR "
            "changes ensemble weights alone: split it into one pull request per purpose"
        )
    return problems
