"""The computed inverse of a pair's last change: its previous parameters back, nothing else moved.

A raw ``git revert`` of an optimizer merge conflicts on the provenance header as soon as anything else
merged after it, and would undo the other pairs' later changes if it did not. The inverse is computed
instead, from the history of the state files on the base branch:

1. the *rolled-back change* is the newest first-parent version where the pair's state (its ``LIVE_PARAMS``
   entry and its ``REGIME_LOADOUTS``) moved; the version before it holds the previous state;
2. ``config/constants.py`` of the base gets that pair's entries back, spliced byte for byte from the
   previous version's source, and a fresh provenance; every other line stays;
3. ``feature_flags.json`` of the base gets the pair's rollout as it was before the change (removed when
   there was none); every other rollout stays.

:func:`rollback_pair` then commits it onto the base at once (a hard-limit breach), or opens (updates) the
pair's one rollback pull request labelled ``rollback`` (a counted breach). Where the base refuses the push
(branch protection), the commit goes to that pull request with auto-merge requested instead.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

from gitops._apply import ALLOWED_PATHS, check_allowed_paths
from gitops._constants import CONSTANTS_FILE, LiveConstants, parse_constants
from gitops._edit import edit_constants_text
from gitops._feature_flags import (
    FEATURE_FLAGS_FILE,
    FeatureFlags,
    parse_feature_flags,
    render_feature_flags,
)
from gitops._forge import Forge, PullRequest
from gitops._git import build_commit, file_at, run_git
from gitops._history import StateVersion, state_versions
from gitops._memory import AUTOCLOSED_SUFFIX
from gitops._names import rollout_key
from gitops._problems import did_you_mean, raise_problems
from gitops._rollback import ROLLBACK_LABELS, _advance_base
from gitops._state import cross_file_problems
from tradeloop import Provenance
from tradeloop.errors import ForgeError, StateFileError

__all__ = ["InverseChange", "PairRollback", "inverse_change", "rollback_branch", "rollback_pair"]

_TABLES = ("LIVE_PARAMS", "REGIME_LOADOUTS")
RollbackMode = Literal["commit", "pull_request"]


@dataclass(frozen=True)
class InverseChange:
    """The two state files with one pair's last change undone.

    Attributes
    ----------
    strategy, symbol
        The pair.
    change_commit, previous_commit
        The commit whose change is rolled back, and the version before it.
    config_hash_reverted, config_hash_restored
        The config hash the change brought (never proposed again), and the one of the files written.
    params_reverted, params_restored
        The pair's ``LIVE_PARAMS`` entry before and after the rollback.
    constants_text, flags_text
        The files to write.
    """

    strategy: str
    symbol: str
    change_commit: str
    previous_commit: str
    config_hash_reverted: str
    config_hash_restored: str
    params_reverted: Mapping[str, Any]
    params_restored: Mapping[str, Any]
    constants_text: str
    flags_text: str

    @property
    def key(self) -> str:
        return rollout_key(self.strategy, self.symbol)

    def files(self) -> dict[str, bytes]:
        return {
            CONSTANTS_FILE.as_posix(): self.constants_text.encode("utf-8"),
            FEATURE_FLAGS_FILE.as_posix(): self.flags_text.encode("utf-8"),
        }


def inverse_change(repo: Path, ref: str, strategy: str, symbol: str, provenance: Provenance) -> InverseChange:
    """The inverse of ``strategy/symbol``'s last change on ``ref`` (module docstring).

    Raises
    ------
    tradeloop.errors.StateFileError
        The pair has no live entry on ``ref``, or its state never changed in the history (nothing to
        roll back to).
    """
    versions = [version for version in state_versions(repo, ref) if version.constants is not None]
    if not versions:
        raise StateFileError(f"rollback: {ref} has no readable {CONSTANTS_FILE.as_posix()} in its history")
    head = versions[-1]
    assert head.constants is not None
    if symbol not in head.constants.live_params.get(strategy, {}):
        live = [rollout_key(s, x) for s, entries in head.constants.live_params.items() for x in entries]
        raise StateFileError(
            f"rollback: {CONSTANTS_FILE.as_posix()} on {ref} has no LIVE_PARAMS.{strategy}.{symbol}."
            f"{did_you_mean(rollout_key(strategy, symbol), live)} Name a live pair: {', '.join(live)}"
        )
    change, previous = _last_change(versions, strategy, symbol)
    _refuse_undoing_a_rollback(repo, ref, strategy, symbol, change)
    current_text = _text(repo, head.commit, CONSTANTS_FILE.as_posix())
    old_text = _text(repo, previous.commit, CONSTANTS_FILE.as_posix())
    spliced = current_text
    for table in _TABLES:
        spliced = _splice(spliced, old_text, table, strategy, symbol)
    constants_text = edit_constants_text(spliced, {}, provenance=provenance)
    constants = parse_constants(constants_text)
    flags_text = _flags_text(repo, head, previous, constants, rollout_key(strategy, symbol), provenance)
    assert previous.constants is not None and head.constants is not None
    return InverseChange(
        strategy=strategy, symbol=symbol, change_commit=change.commit, previous_commit=previous.commit,
        config_hash_reverted=change.constants.config_hash if change.constants else "",
        config_hash_restored=constants.config_hash,
        params_reverted=dict(head.constants.live_params[strategy][symbol]),
        params_restored=dict(constants.live_params[strategy][symbol]),
        constants_text=constants_text, flags_text=flags_text,
    )  # fmt: skip


def _pair_state(constants: LiveConstants, strategy: str, symbol: str) -> tuple[Any, Any]:
    entry = constants.live_params.get(strategy, {}).get(symbol)
    loadout = constants.regime_loadouts.get(strategy, {}).get(symbol)
    return entry, loadout


def _last_change(
    versions: list[StateVersion], strategy: str, symbol: str
) -> tuple[StateVersion, StateVersion]:
    assert versions[-1].constants is not None
    now = _pair_state(versions[-1].constants, strategy, symbol)
    for index in range(len(versions) - 1, 0, -1):
        before = versions[index - 1].constants
        assert before is not None
        if _pair_state(before, strategy, symbol) != now:
            return versions[index], versions[index - 1]
    raise StateFileError(
        f"rollback: LIVE_PARAMS.{strategy}.{symbol} never changed in the history of "
        f"{CONSTANTS_FILE.as_posix()}; there is no previous state to roll back to"
    )


def _refuse_undoing_a_rollback(
    repo: Path, ref: str, strategy: str, symbol: str, change: StateVersion
) -> None:
    """The pair's last change must not be a rollback itself: undoing it would bring rolled-back parameters
    back (the guardrail memory tells reverts from changes, whoever made them)."""
    from gitops._memory import read_memory

    last = read_memory(repo, ref).changes_of(strategy, symbol)
    if last and last[-1].commit == change.commit and last[-1].kind == "revert":
        raise StateFileError(
            f"rollback: the last change of {strategy}/{symbol}, {change.commit[:12]} ({change.subject!r}), "
            f"is itself a rollback (of {', '.join(c[:12] for c in last[-1].reverts)}); undoing it would "
            "bring rolled-back parameters back. Take capital off by hand (the rollout's stage to COLD in "
            "feature_flags.json) or set the parameters in a pull request"
        )


def _text(repo: Path, commit: str, path: str) -> str:
    text = file_at(repo, commit, path)
    if text is None:
        raise StateFileError(f"rollback: {path} is missing at {commit[:12]}")
    return text


def _node(text: str, table: str, strategy: str, symbol: str) -> ast.expr | None:
    """The source node of ``table[strategy][symbol]`` in ``text``, or ``None`` when there is none."""
    for statement in ast.parse(text).body:
        if not isinstance(statement, ast.AnnAssign) or statement.value is None:
            continue
        target = statement.target
        if isinstance(target, ast.Name) and target.id == table:
            node: ast.expr | None = statement.value
            for key in (strategy, symbol):
                node = _item(node, key)
            return node
    return None


def _item(node: ast.expr | None, key: str) -> ast.expr | None:
    if not isinstance(node, ast.Dict):
        return None
    for name, value in zip(node.keys, node.values, strict=True):
        if isinstance(name, ast.Constant) and name.value == key:
            return value
    return None


def _span(text: str, node: ast.expr) -> tuple[int, int]:
    starts = [0]
    for line in text.splitlines(keepends=True):
        starts.append(starts[-1] + len(line.encode("utf-8")))
    raw = text.encode("utf-8")
    assert node.end_lineno is not None and node.end_col_offset is not None
    begin = starts[node.lineno - 1] + node.col_offset
    end = starts[node.end_lineno - 1] + node.end_col_offset
    return len(raw[:begin].decode("utf-8")), len(raw[:end].decode("utf-8"))


def _splice(current: str, old: str, table: str, strategy: str, symbol: str) -> str:
    """``current`` with the source of ``table[strategy][symbol]`` taken verbatim from ``old``."""
    new_node, old_node = _node(current, table, strategy, symbol), _node(old, table, strategy, symbol)
    if new_node is None and old_node is None:
        return current
    if new_node is None or old_node is None:
        raise StateFileError(
            f"rollback: {table}.{strategy}.{symbol} was {'added' if old_node is None else 'removed'} by the "
            f"change; roll it back by hand with `git revert` (docs/deployment.md)"
        )
    begin, end = _span(current, new_node)
    old_begin, old_end = _span(old, old_node)
    return current[:begin] + old[old_begin:old_end] + current[end:]


def _flags_text(
    repo: Path,
    head: StateVersion,
    previous: StateVersion,
    constants: LiveConstants,
    key: str,
    provenance: Provenance,
) -> str:
    flags = parse_feature_flags(_text(repo, head.commit, FEATURE_FLAGS_FILE.as_posix()))
    before = previous.flags.rollouts.get(key) if previous.flags is not None else None
    rollouts = {name: rollout for name, rollout in flags.rollouts.items() if name != key}
    if before is not None:
        rollouts[key] = before
    restored = FeatureFlags(
        provenance=provenance,
        prediction_engine=flags.prediction_engine,
        rollouts=dict(sorted(rollouts.items())),
        schema_version=flags.schema_version,
    )
    raise_problems(cross_file_problems(constants, restored))
    return render_feature_flags(restored)


# -- committing it ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PairRollback:
    """What :func:`rollback_pair` did.

    ``action`` is ``committed`` (on the base), ``pr_auto_merge`` (the base refused the push: a pull
    request with auto-merge requested), ``pr_opened`` or ``pr_updated`` (a counted breach's pull request), or
    ``pr_unchanged`` (its open pull request already makes this rollback on the current base: nothing pushed).
    ``refused`` holds the forge's answer to the refused push.
    """

    action: Literal["committed", "pr_auto_merge", "pr_opened", "pr_updated", "pr_unchanged"]
    strategy: str
    symbol: str
    base: str
    commit: str
    change_commit: str
    config_hash_reverted: str
    config_hash_restored: str
    params_restored: Mapping[str, Any]
    branch: str | None = None
    pr_number: int | None = None
    url: str | None = None
    auto_merge: bool = False
    refused: str = ""
    closed_pr: int | None = None

    def to_dict(self) -> dict[str, Any]:
        found = asdict(self)
        found["params_restored"] = dict(self.params_restored)
        return found

    def describe(self) -> str:
        """One line for people and alerts."""
        restored = f"{self.strategy}/{self.symbol} back to config {self.config_hash_restored}"
        if self.action == "committed":
            return f"rolled back on {self.base} in {self.commit[:12]}: {restored}"
        if self.action == "pr_auto_merge":
            merge = "auto-merge requested" if self.auto_merge else "auto-merge refused: merge it by hand"
            return (
                f"{self.base} refused the push ({self.refused or 'branch protection'}); rollback pull "
                f"request #{self.pr_number} opened with {merge}: {restored}"
            )
        return f"rollback pull request #{self.pr_number} {self.action[3:]}: {restored}"


def rollback_branch(strategy: str, symbol: str) -> str:
    """The one branch of a pair's rollback pull request."""
    return f"tradeloop/rollback-{strategy}-{symbol}".lower()


def rollback_pair(
    forge: Forge,
    strategy: str,
    symbol: str,
    *,
    mode: RollbackMode,
    provenance: Provenance,
    base: str = "main",
    reason: str,
    evidence: str = "",
) -> PairRollback:
    """Roll ``strategy/symbol`` back to its previous parameters on ``base`` (module docstring).

    ``mode`` ``commit`` commits at once (falling back to a pull request with auto-merge when the push is
    refused); ``pull_request`` opens or updates the pair's rollback pull request, labelled ``rollback``.
    ``reason`` and ``evidence`` (Markdown) go to the commit message and the pull request.
    """
    base_sha = forge.resolve(base)
    inverse = inverse_change(forge.repo, base_sha, strategy, symbol, provenance)
    files = inverse.files()
    check_allowed_paths(files)
    message = (
        f"Roll back {inverse.key}: restore the parameters before {inverse.change_commit[:12]}\n\n{reason}\n\n"
        f"Restores LIVE_PARAMS.{strategy}.{symbol} and rollouts.{inverse.key} as they were before "
        f"{inverse.change_commit}; nothing else changes.\n\ntradeloop:rollback {inverse.change_commit}\n"
    )
    sha = build_commit(forge.repo, base_sha, files, message, forge.identity)
    done = PairRollback(
        action="committed", strategy=strategy, symbol=symbol, base=base, commit=sha,
        change_commit=inverse.change_commit, config_hash_reverted=inverse.config_hash_reverted,
        config_hash_restored=inverse.config_hash_restored, params_restored=inverse.params_restored,
    )  # fmt: skip
    branch = rollback_branch(strategy, symbol)
    existing = forge.find_open_pr(branch)
    if mode == "commit":
        try:
            _advance_base(forge, base, base_sha, sha)
        except ForgeError as exc:
            return _open_pr(forge, done, branch, existing, reason, evidence, refused=_first_line(str(exc)))
        if existing is not None:
            _close(forge, existing, base, sha)
        return _with(done, closed_pr=existing.number if existing else None)
    if existing is not None and _same_rollback(forge, existing, inverse.change_commit, base_sha):
        # The same rollback on the same state files: pushing a new commit would reset its checks and reviews.
        pr = forge.open_or_update(branch=branch, base=base, title=existing.title,
                                  body=_body(done, reason, evidence, None), existing=existing)  # fmt: skip
        tip = forge.branch_head(branch) or sha
        return _with(done, action="pr_unchanged", commit=tip, branch=branch, pr_number=pr.number, url=pr.url)
    return _open_pr(forge, done, branch, existing, reason, evidence)


def _same_rollback(forge: Forge, pr: PullRequest, change_commit: str, base_sha: str) -> bool:
    """Whether ``pr`` undoes ``change_commit`` from ``base_sha``, or from a base whose state files have not
    changed since."""
    tip = forge.branch_head(pr.branch)
    if tip is None or f"<!-- tradeloop:rollback {change_commit} -->" not in pr.body:
        return False
    parent = run_git(forge.repo, "rev-parse", f"{tip}^1", what="git rev-parse")
    if parent == base_sha:
        return True
    moved = run_git(
        forge.repo, "diff", "--name-only", parent, base_sha, "--", *ALLOWED_PATHS, what="git diff"
    )
    return not moved.strip()


def _with(done: PairRollback, **changes: Any) -> PairRollback:
    from dataclasses import replace

    return replace(done, **changes)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0][:200] if text.strip() else ""


def _open_pr(
    forge: Forge,
    done: PairRollback,
    branch: str,
    existing: PullRequest | None,
    reason: str,
    evidence: str,
    *,
    refused: str | None = None,
) -> PairRollback:
    forge.push_branch(branch, done.commit)
    title = f"Roll back {done.strategy}/{done.symbol} to its previous parameters"
    body = _body(done, reason, evidence, refused)
    pr = forge.open_or_update(branch=branch, base=done.base, title=title, body=body, existing=existing)
    forge.add_labels(pr, list(ROLLBACK_LABELS))
    common = {"branch": branch, "pr_number": pr.number, "url": pr.url}
    if refused is None:
        return _with(done, action="pr_opened" if existing is None else "pr_updated", **common)
    try:
        forge.enable_auto_merge(pr)
        auto = True
    except ForgeError:
        auto = False
    return _with(done, action="pr_auto_merge", auto_merge=auto, refused=refused, **common)


def _body(done: PairRollback, reason: str, evidence: str, refused: str | None) -> str:
    lines = [
        f"Rolls `{done.strategy}/{done.symbol}` back to the parameters it ran before "
        f"{done.change_commit[:12]} (config `{done.config_hash_reverted}` → `{done.config_hash_restored}`).",
        "",
        f"- **Reason:** {reason}",
        f"- **Restored:** `LIVE_PARAMS.{done.strategy}.{done.symbol}` and its rollout, byte for byte as "
        "before the change; no other pair moves.",
    ]
    if refused is not None:
        lines.append(f"- **Why a pull request:** `{done.base}` refused the direct push ({refused}).")
    if evidence:
        lines += ["", "### Breach evidence", "", evidence]
    lines += ["", f"<!-- tradeloop:rollback {done.change_commit} -->"]
    return "\n".join(lines) + "\n"


def _close(forge: Forge, pr: PullRequest, base: str, sha: str) -> None:
    title = pr.title if pr.title.endswith(AUTOCLOSED_SUFFIX) else pr.title + AUTOCLOSED_SUFFIX
    body = f"{pr.body}\n\nCommitted directly on `{base}` as {sha[:12]} (hard-limit breach)."
    pr = forge.open_or_update(branch=pr.branch, base=base, title=title, body=body, existing=pr)
    forge.close(pr, delete_branch=True)
