"""The GitHub forge: PyGithub over the REST API, ``git push`` for the branch.

Configuration comes from the environment a workflow step sees: the token from ``TRADELOOP_GITHUB_TOKEN``
or ``GITHUB_TOKEN``, the API from ``GITHUB_API_URL`` (so GitHub Enterprise Server works), the repository
from ``GITHUB_REPOSITORY``. Requests are retried with exponential backoff on 5xx answers, on 429 and on
rate-limit 403s (PyGithub's ``GithubRetry`` tells a rate limit from a plain "forbidden", which is not
retried). Every other failure becomes a :class:`~tradeloop.errors.ForgeError` naming the operation and the
fix. The token is scrubbed from every message and never put in a URL, an argv or a ``repr``.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import requests
from github import Auth, Github, GithubException, GithubRetry
from github.PullRequest import PullRequest as GhPullRequest
from github.Repository import Repository

from gitops._forge import CommentAction, Forge, MergeMethod, PullRequest, StatusState
from gitops._git import BotIdentity, ChangedFile, auth_env, rev_parse, run_git, scrub
from tradeloop.errors import ForgeError

__all__ = ["DEFAULT_API_URL", "GitHubForge", "github_token"]

DEFAULT_API_URL = "https://api.github.com"
_TOKEN_VARS = ("TRADELOOP_GITHUB_TOKEN", "GITHUB_TOKEN")
_FIXES = {
    401: "the token is missing, expired or revoked; set a valid one in TRADELOOP_GITHUB_TOKEN/GITHUB_TOKEN",
    403: "the token lacks a permission; grant contents: write, pull-requests: write and statuses: write "
    "(the workflow's `permissions:` block or the app installation)",
    404: "check GITHUB_REPOSITORY and GITHUB_API_URL, and that the token can see the repository",
    422: "GitHub refused the request as invalid; check that the branch and base exist",
}


def github_token(env: Mapping[str, str] | None = None) -> str | None:
    """``TRADELOOP_GITHUB_TOKEN``, else ``GITHUB_TOKEN``, else ``None``."""
    env = os.environ if env is None else env
    return next((env[name] for name in _TOKEN_VARS if env.get(name)), None)


class GitHubForge(Forge):
    """Pull requests on GitHub for ``repository`` (``owner/name``); commits are built in the clone ``repo``.

    Parameters
    ----------
    repo
        The local clone; ``remote`` names the remote (or URL, or path) the branch is pushed to.
    repository, token, api_url
        Default to ``GITHUB_REPOSITORY``, ``TRADELOOP_GITHUB_TOKEN``/``GITHUB_TOKEN`` and ``GITHUB_API_URL``.
    retries, backoff
        Attempts after the first on 5xx, 429 and rate-limit answers, and the exponential backoff factor (s).
    """

    kind = "github"

    def __init__(
        self,
        repo: Path,
        *,
        repository: str | None = None,
        token: str | None = None,
        api_url: str | None = None,
        remote: str = "origin",
        identity: BotIdentity | None = None,
        retries: int = 5,
        backoff: float = 0.5,
        env: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(repo, identity)
        env = os.environ if env is None else env
        self._token = token or github_token(env)
        if not self._token:
            raise ForgeError(
                "GitHub forge: no token; set TRADELOOP_GITHUB_TOKEN or GITHUB_TOKEN, or use --forge local"
            )
        self.repository = repository or env.get("GITHUB_REPOSITORY") or ""
        if self.repository.count("/") != 1 or not all(self.repository.split("/")):
            raise ForgeError(
                f"GitHub forge: repository {self.repository!r} is not OWNER/NAME; "
                "set GITHUB_REPOSITORY or pass --github-repository"
            )
        self.owner = self.repository.split("/")[0]
        self.api_url = (api_url or env.get("GITHUB_API_URL") or DEFAULT_API_URL).rstrip("/")
        self.remote = remote
        self.retries = retries
        retry = GithubRetry(
            total=retries,
            backoff_factor=backoff,
            status_forcelist=[429, *range(500, 600)],
            allowed_methods={"GET", "POST", "PATCH", "PUT", "DELETE"},
            max_rate_limit_wait=900,
        )
        self._github = Github(base_url=self.api_url, auth=Auth.Token(self._token), retry=retry, per_page=100)
        self._repo: Repository | None = None
        self._pulls: dict[int, GhPullRequest] = {}

    def __repr__(self) -> str:
        return (
            f"GitHubForge(repository={self.repository!r}, api_url={self.api_url!r}, remote={self.remote!r})"
        )

    # -- plumbing ---------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _api(self, operation: str) -> Iterator[None]:
        """Turn PyGithub and transport failures into a ``ForgeError`` that names ``operation`` and the fix."""
        try:
            yield
        except GithubException as exc:
            raise ForgeError(self._scrub(self._message(operation, exc))) from None
        except requests.exceptions.RequestException as exc:
            raise ForgeError(
                self._scrub(
                    f"GitHub {operation} on {self.repository} gave up after {self.retries + 1} attempts "
                    f"({type(exc).__name__}: {exc}); {self.api_url} keeps failing, re-run later"
                )
            ) from None

    def _message(self, operation: str, exc: GithubException) -> str:
        data = exc.data if isinstance(exc.data, dict) else {}
        detail = str(data.get("message") or exc.data or "").strip()
        remaining = (exc.headers or {}).get("x-ratelimit-remaining") or (exc.headers or {}).get(
            "X-RateLimit-Remaining"
        )
        if exc.status in (403, 429) and (remaining == "0" or "rate limit" in detail.lower()):
            fix = f"the rate limit is still exhausted after {self.retries} retries; re-run after the reset"
        else:
            fix = _FIXES.get(exc.status, f"{self.api_url} answered {exc.status}; re-run later")
        return f"GitHub {operation} on {self.repository}: {exc.status} {detail}; {fix}"

    def _scrub(self, text: str) -> str:
        return scrub(text, [self._token])

    def _git(self, *args: str, what: str) -> str:
        return run_git(self.repo, *args, env=auth_env(self._token), secrets=[self._token], what=what)

    @property
    def gh_repo(self) -> Repository:
        if self._repo is None:
            with self._api("read repository"):
                self._repo = self._github.get_repo(self.repository)
        return self._repo

    def _convert(self, pull: GhPullRequest) -> PullRequest:
        self._pulls[pull.number] = pull
        return PullRequest(
            number=pull.number,
            branch=pull.head.ref,
            base=pull.base.ref,
            title=pull.title,
            body=pull.body or "",
            state="open" if pull.state == "open" else "closed",
            merged=bool(pull.merged),
            head_sha=pull.head.sha,
            url=pull.html_url,
            labels=tuple(label.name for label in pull.labels),
            # An open pull request has a merge_commit_sha too (its test merge): only a merge counts.
            merge_commit=pull.merge_commit_sha if pull.merged else None,
        )

    def _gh_pull(self, pr: PullRequest) -> GhPullRequest:
        if pr.number not in self._pulls:
            self.get_pr(pr.number)
        return self._pulls[pr.number]

    # -- branches and commits ---------------------------------------------------------------------------

    def resolve(self, ref: str) -> str:
        full = ref if ref.startswith("refs/") else f"refs/heads/{ref}"
        self._git("fetch", "--quiet", "--no-tags", self.remote, full, what=f"git fetch {full}")
        sha = rev_parse(self.repo, "FETCH_HEAD")
        if sha is None:
            raise ForgeError(f"git fetch {full} from {self.remote}: fetched nothing; check the branch name")
        return sha

    def push_branch(self, branch: str, sha: str, *, force: bool = True) -> None:
        mode = ["--force"] if force else []
        self._git(
            "push", "--quiet", *mode, self.remote, f"{sha}:refs/heads/{branch}", what=f"git push to {branch}"
        )

    def branch_head(self, branch: str) -> str | None:
        try:
            with self._api(f"read branch {branch}"):
                return self.gh_repo.get_branch(branch).commit.sha
        except ForgeError as exc:
            if ": 404 " in str(exc):
                return None
            raise

    def commit_emails(self, sha: str) -> tuple[str, str]:
        with self._api(f"read commit {sha[:12]}"):
            commit = self.gh_repo.get_commit(sha).commit
            return commit.author.email, commit.committer.email

    # -- pull requests ----------------------------------------------------------------------------------

    def _list(self, state: str, branch: str | None) -> list[PullRequest]:
        kwargs: dict[str, Any] = {"state": state}
        if branch is not None:
            kwargs["head"] = f"{self.owner}:{branch}"
        with self._api(f"list {state} pull requests"):
            pulls = [self._convert(p) for p in self.gh_repo.get_pulls(**kwargs)]
        return [p for p in pulls if branch is None or p.branch == branch]

    def find_open_pr(self, branch: str) -> PullRequest | None:
        found = self._list("open", branch)
        return found[0] if found else None

    def find_closed_prs(self, branch: str) -> list[PullRequest]:
        return sorted(self._list("closed", branch), key=lambda p: -p.number)

    def get_pr(self, number: int) -> PullRequest:
        with self._api(f"read pull request #{number}"):
            return self._convert(self.gh_repo.get_pull(number))

    def open_or_update(
        self, *, branch: str, base: str, title: str, body: str, existing: PullRequest | None
    ) -> PullRequest:
        if existing is None:
            try:
                with self._api(f"open a pull request from {branch} into {base}"):
                    created = self.gh_repo.create_pull(base=base, head=branch, title=title, body=body)
                return self._convert(created)
            except ForgeError as exc:
                # A retried POST whose first attempt got through: never open a second one, edit it.
                existing = self.find_open_pr(branch) if "already exists" in str(exc) else None
                if existing is None:
                    raise
        pull = self._gh_pull(existing)
        with self._api(f"edit pull request #{existing.number}"):
            pull.edit(title=title, body=body)
        return self.get_pr(existing.number)

    def close(self, pr: PullRequest, *, delete_branch: bool) -> None:
        with self._api(f"close pull request #{pr.number}"):
            self._gh_pull(pr).edit(state="closed")
        if delete_branch and self.branch_head(pr.branch) is not None:
            with self._api(f"delete branch {pr.branch}"):
                self.gh_repo.get_git_ref(f"heads/{pr.branch}").delete()

    def add_labels(self, pr: PullRequest, labels: list[str]) -> None:
        missing = [label for label in labels if label not in pr.labels]
        if missing:
            with self._api(f"label pull request #{pr.number}"):
                self._gh_pull(pr).add_to_labels(*missing)

    def count_open_prs(self, label: str) -> int:
        return sum(label in p.labels for p in self._list("open", None))

    def comment_once(self, pr: PullRequest, marker: str, body: str) -> CommentAction:
        text = body if marker in body else f"{body}\n\n{marker}\n"
        pull = self._gh_pull(pr)
        with self._api(f"comment on pull request #{pr.number}"):
            for comment in pull.get_issue_comments():
                if marker in (comment.body or ""):
                    comment.edit(text)
                    return "updated"
            pull.create_issue_comment(text)
        return "created"

    def set_status(
        self, sha: str, state: StatusState, *, context: str, description: str, target_url: str | None
    ) -> None:
        with self._api(f"set status {context} on {sha[:12]}"):
            commit = self.gh_repo.get_commit(sha)
            if target_url:
                commit.create_status(state, target_url, description[:140], context)
            else:
                commit.create_status(state, description=description[:140], context=context)

    def enable_auto_merge(self, pr: PullRequest, *, method: MergeMethod = "merge") -> None:
        """GitHub's auto-merge (the ``enablePullRequestAutoMerge`` GraphQL mutation): the pull request merges
        once branch protection's required checks and reviews pass, never before."""
        with self._api(f"enable auto-merge on pull request #{pr.number}"):
            self._gh_pull(pr).enable_automerge(merge_method=method.upper())

    def pr_files(self, pr: PullRequest) -> list[ChangedFile]:
        with self._api(f"list files of pull request #{pr.number}"):
            return [ChangedFile(f.status, f.filename) for f in self._gh_pull(pr).get_files()]
