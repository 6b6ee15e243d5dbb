"""Renovate's pull request manners, for proposals.

One fixed branch per strategy/symbol/timeframe holds one commit, regenerated on top of the base each run.
The rules, in the order they are applied:

1. a proposal whose hash a closed-unmerged pull request of the branch carries is never proposed again, nor
   one that the base branch's history shows rolled back (:mod:`gitops._memory`);
2. a verdict other than ``pass`` opens nothing;
3. an open pull request labelled ``do-not-merge`` is left as it is;
4. an open pull request whose branch holds a commit tradeloop did not push (another tip than the one
   recorded in its metadata, or another author or committer than the bot) belongs to a human now;
5. no diff against the base closes the open pull request (its title marked ``- autoclosed``, so that the
   close never reads as a person's "no") and deletes its branch;
6. no new pull request while ``max_open_prs`` auto-PRs are open;
7. otherwise the branch is force-updated and the open pull request edited (never a second one), or a
   pull request is opened, and labelled ``tradeloop``, ``auto-optimizer`` and its risk label.

Every run reports ``created``, ``updated``, ``closed`` or ``none`` with the reason.
"""

from __future__ import annotations

import functools
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from gitops._apply import ALLOWED_PATHS, AppliedChange, apply_proposal, check_allowed_paths
from gitops._forge import Forge, PullRequest
from gitops._git import build_commit, run_git
from gitops._memory import AUTOCLOSED_SUFFIX, GuardrailMemory, read_memory
from gitops._pr_body import parse_pr_metadata, render_pr_body
from gitops._pr_text import branch_name, commit_message, risk_label
from tradeloop import Provenance

if TYPE_CHECKING:
    from tradeloop.documents import Proposal, Verdict

__all__ = ["AUTO_LABELS", "DO_NOT_MERGE", "PublishAction", "PublishOutcome", "publish_proposal"]

AUTO_LABELS = ("tradeloop", "auto-optimizer")
DO_NOT_MERGE = "do-not-merge"
PublishAction = Literal["created", "updated", "closed", "none"]


@dataclass(frozen=True)
class PublishOutcome:
    """What one run did to the proposal's pull request, and why."""

    action: PublishAction
    reason: str
    branch: str
    pr_number: int | None = None
    url: str | None = None
    commit_sha: str | None = None
    dry_run: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def publish_proposal(
    forge: Forge,
    proposal: Proposal,
    verdict: Verdict | None = None,
    *,
    base: str = "main",
    labels: Sequence[str] = (),
    max_open_prs: int = 5,
    dry_run: bool = False,
    run_url: str | None = None,
    report_url: str | None = None,
    memory: GuardrailMemory | None = None,
) -> PublishOutcome:
    """Create, update or close the pull request of ``proposal`` on ``forge``, following the manners above.

    Parameters
    ----------
    forge
        Where the pull request lives; its ``repo`` is the clone in which the commit is built.
    proposal, verdict
        The proposal (contract 2) and its verdict (contract 3), if validation ran.
    base
        The branch the pull request targets.
    labels
        Labels added besides ``tradeloop``, ``auto-optimizer`` and the risk label.
    max_open_prs
        Most auto-PRs (label ``auto-optimizer``) open at once; a new one waits beyond it.
    dry_run
        Decide and build the commit, but push, open, edit and close nothing.
    run_url, report_url
        Artifact links for the body.
    memory
        The guardrail memory of the base; read from ``forge.repo`` at the base when not given.
    """
    branch = branch_name(proposal.strategy, proposal.symbol, proposal.timeframe)
    digest = proposal.full_hash

    def outcome(
        action: PublishAction, reason: str, pr: PullRequest | None = None, **extra: Any
    ) -> PublishOutcome:
        number, url = (pr.number, pr.url) if pr else (None, None)
        return PublishOutcome(action, reason, branch, number, url, dry_run=dry_run, **extra)

    declined = _declined(forge, branch, digest)
    if declined is not None:
        return outcome("none", f"#{declined.number} with this proposal was closed without merging; "
                       "a declined proposal is never proposed again", declined)  # fmt: skip
    base_sha = forge.resolve(base)
    if proposal.proposed:
        rejection = (memory or read_memory(forge.repo, base_sha)).rejection_for(proposal)
        if rejection is not None:
            return outcome("none", rejection.reason())
    if verdict is not None and not verdict.passed:
        return outcome("none", f"the validation verdict is {verdict.decision!r}, not 'pass'")
    open_pr = forge.find_open_pr(branch)
    if open_pr is not None:
        hands_off = _hands_off_reason(forge, open_pr)
        if hands_off:
            return outcome("none", hands_off, open_pr)
        kept = _kept_reason(forge, open_pr, digest, base, base_sha)
        if kept:
            return outcome("none", kept, open_pr)
    with tempfile.TemporaryDirectory(prefix="tradeloop-apply-") as scratch:
        applied, files = _apply_on_base(forge, Path(scratch), base_sha, proposal, open_pr)
    if not applied.changed:
        if open_pr is None:
            return outcome("none", f"no diff against {base}: {applied.summary}")
        if not dry_run:
            _autoclose(forge, open_pr, base)
        return outcome("closed", f"no diff against {base} ({applied.summary}); branch deleted", open_pr)
    if open_pr is None:
        count = forge.count_open_prs(AUTO_LABELS[1])
        if count >= max_open_prs:
            return outcome(
                "none", f"{count} auto-PRs are open, the limit is {max_open_prs}; merge or close one"
            )
    sha = build_commit(forge.repo, base_sha, files, commit_message(proposal), forge.identity)
    metadata = {"proposal_hash": digest, "config_hash": applied.config_hash_after,
                "run_id": proposal.run_id, "commit_sha": sha}  # fmt: skip
    body = functools.partial(render_pr_body, proposal, verdict, run_url=run_url, report_url=report_url,
                             base_branch=base, commit_sha=None, metadata=metadata)  # fmt: skip
    action: PublishAction = "created" if open_pr is None else "updated"
    if dry_run:
        return outcome(action, "dry run: nothing pushed, opened or edited", open_pr, commit_sha=sha)
    forge.push_branch(branch, sha)
    title = commit_message(proposal).splitlines()[0]
    number = open_pr.number if open_pr else None
    pr = forge.open_or_update(
        branch=branch, base=base, title=title, body=body(pr_number=number), existing=open_pr
    )
    if number is None:  # the rollback plan names "the merge commit of #N" once N exists
        pr = forge.open_or_update(
            branch=branch, base=base, title=title, body=body(pr_number=pr.number), existing=pr
        )
    forge.add_labels(pr, list(dict.fromkeys([*AUTO_LABELS, risk_label(proposal), *labels])))
    reason = applied.summary.splitlines()[0] if applied.summary else "proposal applied"
    return outcome(action, reason, pr, commit_sha=sha)


def _declined(forge: Forge, branch: str, digest: str) -> PullRequest | None:
    for pr in forge.find_closed_prs(branch):
        metadata = parse_pr_metadata(pr.body) or {}
        closed_by_us = pr.title.endswith(AUTOCLOSED_SUFFIX)
        if not pr.merged and not closed_by_us and metadata.get("proposal_hash") == digest:
            return pr
    return None


def _autoclose(forge: Forge, pr: PullRequest, base: str) -> None:
    """Close ``pr`` as tradeloop's own decision (Renovate's ``- autoclosed``) and delete its branch."""
    if not pr.title.endswith(AUTOCLOSED_SUFFIX):
        pr = forge.open_or_update(
            branch=pr.branch, base=base, title=pr.title + AUTOCLOSED_SUFFIX, body=pr.body, existing=pr
        )
    forge.close(pr, delete_branch=True)


def _kept_reason(forge: Forge, pr: PullRequest, digest: str, base: str, base_sha: str) -> str | None:
    """Why the open ``pr`` already says what this proposal says, so nothing is pushed, or ``None``.

    Pushing a new commit drops the pull request's statuses and the ``validate`` label's result; Renovate
    rebases only when a branch conflicts (``rebaseWhen: conflicted``). So the same proposal is left as it
    is when its branch sits on the current base, or when the base moved without touching the state files.
    """
    if (parse_pr_metadata(pr.body) or {}).get("proposal_hash") != digest:
        return None
    tip = forge.resolve(pr.branch)
    parent = run_git(forge.repo, "rev-parse", f"{tip}^1", what="git rev-parse")
    same = f"#{pr.number} already proposes this ({digest[:12]})"
    if parent == base_sha:
        return f"{same} on the current {base}: nothing pushed, its checks and labels stay"
    moved = run_git(
        forge.repo, "diff", "--name-only", parent, base_sha, "--", *ALLOWED_PATHS, what="git diff"
    )
    if moved.strip():
        return None
    return (
        f"{same}; {base} moved without touching the state files, so the branch is not rebased and its "
        "checks stay"
    )


def _hands_off_reason(forge: Forge, pr: PullRequest) -> str | None:
    """Why tradeloop must not touch ``pr`` any more, or ``None``."""
    if DO_NOT_MERGE in pr.labels:
        return f"#{pr.number} is labelled {DO_NOT_MERGE}; left as it is"
    tip = forge.branch_head(pr.branch)
    ours = (parse_pr_metadata(pr.body) or {}).get("commit_sha")
    if tip is None:
        return None
    if tip != ours:
        return (f"{pr.branch} has commit {tip[:12]}, not the {str(ours)[:12]} tradeloop pushed: a human has "
                f"taken #{pr.number} over, so tradeloop stops touching it")  # fmt: skip
    emails = set(forge.commit_emails(tip))
    if emails != {forge.identity.email}:
        return (f"{pr.branch} tip {tip[:12]} was written by {', '.join(sorted(emails))}, not "
                f"{forge.identity.email}: a human has taken #{pr.number} over")  # fmt: skip
    return None


def _apply_on_base(
    forge: Forge, scratch: Path, base_sha: str, proposal: Proposal, open_pr: PullRequest | None
) -> tuple[AppliedChange, dict[str, bytes]]:
    """Apply ``proposal`` to copies of the base's live state files; return the change and the new contents."""
    for path in ALLOWED_PATHS:
        text = forge.read_file(base_sha, path)
        if text is not None:
            (scratch / path).parent.mkdir(parents=True, exist_ok=True)
            (scratch / path).write_text(text)
    provenance = Provenance(run_id=proposal.run_id, git_sha=proposal.git_sha)
    applied = apply_proposal(scratch, proposal, provenance=provenance,
                             pr_number=open_pr.number if open_pr else None)  # fmt: skip
    check_allowed_paths(applied.changed_paths)
    return applied, {path: (scratch / path).read_bytes() for path in applied.changed_paths}
