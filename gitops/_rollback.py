"""``tradeloop rollback``: revert a live-state commit, as a pull request or (``--apply``) directly.

The commit is named by its sha, or by the pull request that brought it (``--pr N``): the forge knows the
merge commit of a merged pull request (GitHub's ``merge_commit_sha``; the local forge records it when the
base comes to contain the branch), so a reviewer can roll back "the merge commit of #N" without looking it
up.

The revert is made by ``git revert`` in a temporary worktree on top of the base; a merge commit is
reverted against its first parent. A commit that touches anything outside the allowlist is refused:
reverting code is a human's job. Without ``apply`` the revert goes to the branch
``tradeloop/revert-<sha7>`` and a pull request (updated in place when run again). With ``apply`` the base
branch itself moves: in the local repository a fast-forward (the working tree follows when the base is
checked out and clean); on GitHub a plain push, which branch protection may refuse.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal

from gitops._apply import check_allowed_paths
from gitops._constants import CONSTANTS_FILE, LiveConstants, parse_constants
from gitops._forge import Forge, PullRequest
from gitops._forge_github import GitHubForge
from gitops._git import rev_parse, revert_commit, run_git
from gitops._memory import AUTOCLOSED_SUFFIX, pair_identity
from gitops._names import rollout_key
from gitops._param_checks import effective_params
from tradeloop.errors import ForgeError

if TYPE_CHECKING:
    from warehouse import Warehouse

__all__ = [
    "RollbackOutcome",
    "check_base_clean",
    "merge_commit_of",
    "record_rollback",
    "rollback_commit",
    "rollback_pull_request",
]

ROLLBACK_LABELS = ("tradeloop", "rollback")


@dataclass(frozen=True)
class RollbackOutcome:
    """What the rollback did."""

    action: Literal["pr_opened", "pr_updated", "committed"]
    commit: str
    revert_sha: str
    base: str
    files: list[str]
    entries: list[tuple[str, str]] = field(default_factory=list)
    config_hash_reverted: str | None = None
    config_hash_restored: str | None = None
    reverted_proposal_hashes: list[str] = field(default_factory=list)
    branch: str | None = None
    pr_number: int | None = None
    url: str | None = None
    closed_pr: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def rollback_commit(
    forge: Forge, commit: str, *, base: str = "main", apply: bool = False, reason: str | None = None
) -> RollbackOutcome:
    """Revert ``commit`` on ``base``: open (or update) a revert pull request, or commit it when ``apply``."""
    base_sha = forge.resolve(base)
    sha = rev_parse(forge.repo, commit)
    if sha is None:
        raise ForgeError(f"rollback: {commit!r} is not a commit in {forge.repo}; fetch it or check the sha")
    if not _is_ancestor(forge, sha, base_sha):
        raise ForgeError(
            f"rollback: {sha[:12]} is not on {base}; only a commit {base} contains can be reverted"
        )
    files = _touched(forge, sha)
    check_allowed_paths(files)
    fix = _conflict_fix(forge, sha, base, base_sha, files)
    revert_sha = revert_commit(forge.repo, base_sha, sha, forge.identity, conflict_fix=fix)
    before, after = _constants(forge, sha), _constants(forge, revert_sha)
    outcome = RollbackOutcome(
        action="committed", commit=sha, revert_sha=revert_sha, base=base, files=files,
        entries=_entries(before, after),
        config_hash_reverted=before.config_hash if before else None,
        config_hash_restored=after.config_hash if after else None,
        reverted_proposal_hashes=_identities(before, _entries(before, after)),
    )  # fmt: skip
    branch = f"tradeloop/revert-{sha[:7]}"
    existing = forge.find_open_pr(branch)
    if apply:
        _advance_base(forge, base, base_sha, revert_sha)
        if existing is not None:  # the revert is on the base now: the pull request proposing it is done
            _close_revert_pr(forge, existing, base, revert_sha)
        return replace(outcome, closed_pr=existing.number if existing else None)
    forge.push_branch(branch, revert_sha)
    body = _body(sha, files, outcome.entries, reason)
    title = f"Revert {sha[:7]}: roll back the live state"
    pr = forge.open_or_update(branch=branch, base=base, title=title, body=body, existing=existing)
    forge.add_labels(pr, list(ROLLBACK_LABELS))
    action: Literal["pr_opened", "pr_updated"] = "pr_opened" if existing is None else "pr_updated"
    return replace(outcome, action=action, branch=branch, pr_number=pr.number, url=pr.url)


def merge_commit_of(forge: Forge, number: int) -> tuple[PullRequest, str]:
    """Pull request ``number`` and its merge commit; ``ForgeError`` when it is not merged or has none."""
    pr = forge.get_pr(number)
    if not pr.merged:
        state = "still open" if pr.state == "open" else "closed without merging"
        raise ForgeError(
            f"rollback --pr {number}: #{number} is {state}, so nothing of it is on {pr.base}; "
            "close it instead, or name the commit to revert with --commit SHA"
        )
    if not pr.merge_commit:
        raise ForgeError(
            f"rollback --pr {number}: the {forge.kind} forge does not know the merge commit of #{number}; "
            f"find it with `git log --first-parent {pr.base}` and pass --commit SHA"
        )
    return pr, pr.merge_commit


def rollback_pull_request(
    forge: Forge, number: int, *, base: str | None = None, apply: bool = False, reason: str | None = None
) -> RollbackOutcome:
    """Revert the merge commit of pull request ``number`` on ``base`` (default: the pull request's base)."""
    pr, sha = merge_commit_of(forge, number)
    why = reason or f"rollback of #{number}"
    return rollback_commit(forge, sha, base=base or pr.base, apply=apply, reason=why)


def record_rollback(warehouse: Warehouse, outcome: RollbackOutcome, reason: str | None = None) -> int:
    """Record the rollback: each affected rollout ``rolled_back`` (stage COLD), its proposals ``reverted``.

    Proposals are marked only once the revert is on the base (``committed``); a revert pull request is
    recorded when it merges, by the guardrail memory (:func:`gitops.record_memory`). Returns the number of
    proposal rows marked reverted: those stored under the proposal hash of a state the commit brought.
    """
    why = reason or f"rollback of {outcome.commit[:12]} ({outcome.action})"
    for strategy, symbol in outcome.entries:
        warehouse.upsert_rollout(
            strategy, symbol, config_hash=outcome.config_hash_restored or outcome.revert_sha,
            stage="COLD", canary_fraction=0.0, status="rolled_back", reason=why, pr_number=outcome.pr_number,
        )  # fmt: skip
    if outcome.action != "committed":
        return 0
    marked = 0
    for digest in outcome.reverted_proposal_hashes:
        marked += warehouse.set_proposal_outcome(
            "reverted", proposal_hash=digest, commit_sha=outcome.revert_sha,
            only_from=("proposed", "opened", "merged"),
        )  # fmt: skip
    return marked


def _identities(constants: LiveConstants | None, entries: list[tuple[str, str]]) -> list[str]:
    """The proposal hash of each pair's live parameters in ``constants`` (the state being rolled back)."""
    if constants is None:
        return []
    found = []
    for strategy, symbol in entries:
        entry = constants.live_params.get(strategy, {}).get(symbol)
        if entry is not None:
            params = effective_params(strategy, entry)
            found.append(pair_identity(strategy, symbol, str(entry["timeframe"]), params))
    return found


def _touched(forge: Forge, sha: str) -> list[str]:
    parents = run_git(forge.repo, "show", "-s", "--format=%P", sha).split()
    if not parents:
        raise ForgeError(f"rollback: {sha[:12]} is the root commit; there is nothing to revert it to")
    out = run_git(forge.repo, "diff", "--name-only", "--no-renames", parents[0], sha)
    return [line for line in out.splitlines() if line]


def _conflict_fix(forge: Forge, sha: str, base: str, base_sha: str, files: list[str]) -> str:
    """What to do when the revert of ``sha`` conflicts: the later commits of ``base`` that changed its files,
    and, for a change of a pair's parameters, ``rollback --pair`` (the computed inverse, which never
    conflicts)."""
    later = run_git(forge.repo, "log", "--first-parent", "--format=%h", f"{sha}..{base_sha}", "--", *files)
    parents = run_git(forge.repo, "show", "-s", "--format=%P", sha).split()
    pairs = [rollout_key(*pair) for pair in _entries(_constants(forge, parents[0]), _constants(forge, sha))]
    newest = ", ".join(later.split()) or "none found"
    fix = f"revert the later commits of {base} that changed them first, newest first ({newest})"
    if len(pairs) == 1:
        return (
            f"undo {pairs[0]}'s last change whatever merged since with "
            f"`tradeloop rollback --pair {pairs[0]}`, or {fix}"
        )
    return fix


def _constants(forge: Forge, sha: str) -> LiveConstants | None:
    text = forge.read_file(sha, CONSTANTS_FILE.as_posix())
    return None if text is None else parse_constants(text, f"{CONSTANTS_FILE} at {sha[:12]}")


def _entries(before: LiveConstants | None, after: LiveConstants | None) -> list[tuple[str, str]]:
    """Strategy/symbol pairs whose live parameters or loadouts differ between the two versions."""
    if before is None or after is None:
        return []
    found = set()
    for table in ("live_params", "regime_loadouts"):
        old, new = getattr(before, table), getattr(after, table)
        for strategy in set(old) | set(new):
            for symbol in set(old.get(strategy, {})) | set(new.get(strategy, {})):
                if old.get(strategy, {}).get(symbol) != new.get(strategy, {}).get(symbol):
                    found.add((strategy, symbol))
    return sorted(found)


def _close_revert_pr(forge: Forge, pr: PullRequest, base: str, revert_sha: str) -> None:
    """Close the revert pull request an earlier run opened, as tradeloop's own decision, branch deleted."""
    title = pr.title if pr.title.endswith(AUTOCLOSED_SUFFIX) else pr.title + AUTOCLOSED_SUFFIX
    body = f"{pr.body}\n\nApplied directly on `{base}` as {revert_sha[:12]} (`tradeloop rollback --apply`)."
    pr = forge.open_or_update(branch=pr.branch, base=base, title=title, body=body, existing=pr)
    forge.close(pr, delete_branch=True)


def check_base_clean(forge: Forge, base: str) -> None:
    """Raise :class:`ForgeError` when ``base`` is checked out in the local forge's repository with
    uncommitted changes: a commit onto it would have to move that working tree."""
    if isinstance(forge, GitHubForge) or not _attached(forge):
        return
    head = run_git(forge.repo, "symbolic-ref", "--quiet", "--short", "HEAD")
    if head == base and run_git(forge.repo, "status", "--porcelain", "--untracked-files=no"):
        raise ForgeError(
            f"rollback --apply: {base} is checked out in {forge.repo} with uncommitted changes; "
            "commit or stash them first"
        )


def _advance_base(forge: Forge, base: str, base_sha: str, revert_sha: str) -> None:
    if isinstance(forge, GitHubForge):
        forge.push_branch(base, revert_sha, force=False)
        return
    check_base_clean(forge, base)
    head = run_git(forge.repo, "symbolic-ref", "--quiet", "--short", "HEAD") if _attached(forge) else ""
    if head == base:
        run_git(forge.repo, "merge", "--ff-only", "--quiet", revert_sha, what=f"fast-forward {base}")
        return
    run_git(forge.repo, "update-ref", f"refs/heads/{base}", revert_sha, base_sha)


def _is_ancestor(forge: Forge, ancestor: str, descendant: str) -> bool:
    try:
        run_git(forge.repo, "merge-base", "--is-ancestor", ancestor, descendant)
    except ForgeError:
        return False
    return True


def _attached(forge: Forge) -> bool:
    try:
        run_git(forge.repo, "symbolic-ref", "--quiet", "HEAD")
    except ForgeError:
        return False
    return True


def _body(sha: str, files: list[str], entries: list[tuple[str, str]], reason: str | None) -> str:
    pairs = ", ".join(f"`{s}/{y}`" for s, y in entries) or "none"
    lines = [
        f"Reverts {sha} and restores the live state before it.",
        "",
        f"- **Reason:** {reason or 'requested with `tradeloop rollback`'}",
        f"- **Files:** {', '.join(f'`{f}`' for f in files)}",
        f"- **Strategy/symbol affected:** {pairs}",
        f"- **Same change by hand:** `git revert {sha}`",
        "",
        f"<!-- tradeloop:rollback {sha} -->",
    ]
    return "\n".join(lines) + "\n"
