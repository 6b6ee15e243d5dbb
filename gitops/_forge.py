"""What a forge does for tradeloop: branches, pull requests, labels, one comment, commit statuses.

Two implementations: :class:`gitops.GitHubForge` (PyGithub, for github.com and GitHub Enterprise) and
:class:`gitops.LocalForge` (branches in the local repository, pull requests as files in the run home).
The manners (:func:`gitops.publish_proposal`) are written once against this interface.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar, Literal

from gitops._git import BotIdentity, ChangedFile, file_at
from tradeloop.errors import ForgeError

__all__ = ["CommentAction", "Forge", "ForgeKind", "MergeMethod", "PullRequest", "StatusState"]

ForgeKind = Literal["github", "local"]
MergeMethod = Literal["merge", "squash", "rebase"]
StatusState = Literal["success", "failure", "pending", "error"]
CommentAction = Literal["created", "updated"]


@dataclass(frozen=True)
class PullRequest:
    """A pull request as the manners see it (forge-neutral).

    ``merge_commit`` is the commit that brought a merged pull request onto its base (GitHub's
    ``merge_commit_sha``: the merge commit, the squash commit, or the last rebased commit), ``None`` while
    it is not merged.
    """

    number: int
    branch: str
    base: str
    title: str
    body: str
    state: Literal["open", "closed"]
    merged: bool
    head_sha: str
    url: str
    labels: tuple[str, ...] = field(default_factory=tuple)
    merge_commit: str | None = None


class Forge(ABC):
    """Where pull requests live. ``repo`` is the local clone in which commits are built."""

    kind: ClassVar[ForgeKind]

    def __init__(self, repo: Path, identity: BotIdentity | None = None) -> None:
        self.repo = repo
        self.identity = identity or BotIdentity.from_env()

    # -- branches and commits ---------------------------------------------------------------------------

    @abstractmethod
    def resolve(self, ref: str) -> str:
        """The commit sha of branch ``ref`` on the forge, available in the local clone afterwards."""

    @abstractmethod
    def push_branch(self, branch: str, sha: str, *, force: bool = True) -> None:
        """Point ``branch`` at ``sha`` on the forge; ``force`` allows a non-fast-forward (regenerated)."""

    @abstractmethod
    def branch_head(self, branch: str) -> str | None:
        """The sha ``branch`` points at on the forge, or ``None`` when it does not exist."""

    @abstractmethod
    def commit_emails(self, sha: str) -> tuple[str, str]:
        """The author and committer e-mail addresses of commit ``sha``."""

    def read_file(self, sha: str, path: str) -> str | None:
        """The text of ``path`` at commit ``sha`` (fetched into the clone by :meth:`resolve`)."""
        return file_at(self.repo, sha, path)

    # -- pull requests ----------------------------------------------------------------------------------

    @abstractmethod
    def find_open_pr(self, branch: str) -> PullRequest | None:
        """The open pull request whose head is ``branch``, if any."""

    @abstractmethod
    def find_closed_prs(self, branch: str) -> list[PullRequest]:
        """Closed pull requests (merged or not) whose head was ``branch``, newest first."""

    @abstractmethod
    def get_pr(self, number: int) -> PullRequest:
        """Pull request ``number``; a ``ForgeError`` naming it when there is none."""

    @abstractmethod
    def open_or_update(
        self, *, branch: str, base: str, title: str, body: str, existing: PullRequest | None
    ) -> PullRequest:
        """Edit ``existing`` (title and body) or open a new pull request from ``branch`` into ``base``."""

    @abstractmethod
    def close(self, pr: PullRequest, *, delete_branch: bool) -> None:
        """Close ``pr`` without merging, and delete its branch when asked."""

    @abstractmethod
    def add_labels(self, pr: PullRequest, labels: list[str]) -> None:
        """Add ``labels`` to ``pr`` (existing labels stay)."""

    @abstractmethod
    def count_open_prs(self, label: str) -> int:
        """How many open pull requests carry ``label``."""

    @abstractmethod
    def comment_once(self, pr: PullRequest, marker: str, body: str) -> CommentAction:
        """Create the one comment holding ``marker`` on ``pr``, or edit it when it exists."""

    @abstractmethod
    def set_status(
        self, sha: str, state: StatusState, *, context: str, description: str, target_url: str | None
    ) -> None:
        """Set commit status ``context`` on ``sha``."""

    @abstractmethod
    def pr_files(self, pr: PullRequest) -> list[ChangedFile]:
        """The files ``pr`` changes against its base."""

    def enable_auto_merge(self, pr: PullRequest, *, method: MergeMethod = "merge") -> None:
        """Ask the forge to merge ``pr`` once it may (its required checks and reviews still apply).

        Raises
        ------
        tradeloop.errors.ForgeError
            The forge cannot, or the repository does not allow auto-merge.
        """
        raise ForgeError(f"the {self.kind} forge cannot auto-merge #{pr.number}; merge it by hand")
