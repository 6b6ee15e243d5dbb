"""The local forge: branches in the local repository, pull requests as files.

A "pull request" is an entry of ``<home>/forge/pulls.json`` (written atomically under a lock) and its
body a markdown file ``pr-<branch>.md`` in the run directory. A pull request whose head commit the base
branch already contains counts as merged, so merging locally (``git merge``) closes it; its
``merge_commit`` is recorded then: the commit of the base's first-parent chain that brought the head in (a
merge commit, or the head itself after a fast-forward).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from gitops._forge import CommentAction, Forge, MergeMethod, PullRequest, StatusState
from gitops._git import BotIdentity, ChangedFile, changed_files, commit_identity, rev_parse, run_git
from gitops._problems import did_you_mean
from tradeloop import atomic_write_text, file_lock
from tradeloop.errors import ForgeError

__all__ = ["LocalForge", "body_file_name"]

_STATE_VERSION = 1


def body_file_name(branch: str) -> str:
    """``pr-<branch>.md`` with the branch's slashes as dashes."""
    return "pr-" + branch.replace("/", "-") + ".md"


class LocalForge(Forge):
    """Pull requests kept in ``home/forge/pulls.json``; bodies go to ``run_dir`` (default ``home/forge``)."""

    kind = "local"

    def __init__(
        self, repo: Path, *, home: Path, run_dir: Path | None = None, identity: BotIdentity | None = None
    ) -> None:
        super().__init__(repo, identity)
        self.state_path = home / "forge" / "pulls.json"
        self.run_dir = run_dir or home / "forge"

    def __repr__(self) -> str:
        return f"LocalForge(repo={str(self.repo)!r}, state={str(self.state_path)!r})"

    # -- state file -------------------------------------------------------------------------------------

    def _load(self) -> dict[str, Any]:
        if not self.state_path.exists():
            return {"version": _STATE_VERSION, "next_number": 1, "pulls": {}, "statuses": {}}
        try:
            state = json.loads(self.state_path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ForgeError(
                f"{self.state_path}: not valid JSON ({exc}); "
                "fix it, or delete it to forget the local pull requests"
            ) from None
        if not isinstance(state, dict) or state.get("version") != _STATE_VERSION:
            raise ForgeError(
                f"{self.state_path}: version {state.get('version') if isinstance(state, dict) else state!r} "
                f"is not {_STATE_VERSION}; delete the file to start over"
            )
        problem = _state_problem(state)
        if problem is not None:
            raise ForgeError(
                f"{self.state_path}: {problem}; fix it, or delete the file to forget the local pull requests"
            )
        return state

    def _save(self, state: dict[str, Any]) -> None:
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.state_path, json.dumps(state, indent=2, sort_keys=True) + "\n")

    def _edit(self) -> Any:
        """A lock over a read-modify-write of the state file (apart from the lock of its atomic write)."""
        self.state_path.parent.mkdir(parents=True, exist_ok=True)
        return file_lock(self.state_path.with_name(self.state_path.name + ".edit"))

    def _pull(self, raw: dict[str, Any]) -> PullRequest:
        fields = {k: v for k, v in raw.items() if k not in ("comments", "auto_merge", "checked")}
        fields["labels"] = tuple(fields["labels"])
        return PullRequest(**fields)

    def _refresh(self, raw: dict[str, Any], branches: dict[str, str]) -> dict[str, Any]:
        """Mark an open pull request merged once its base contains its head commit (``branches``: every
        local branch's sha, read once per listing)."""
        if raw["state"] == "open":
            base = branches.get(raw["base"])
            head = branches.get(raw["branch"]) or raw["head_sha"]
            raw["head_sha"] = head
            pair = f"{head}..{base}"
            if raw.get("checked") == pair:  # neither moved since the last listing found it not merged
                return raw
            if base and head and (head == base or _is_ancestor(self.repo, head, base)):
                raw["state"], raw["merged"] = "closed", True
                raw["merge_commit"] = _merge_commit(self.repo, head, base)
            else:
                raw["checked"] = pair
        return raw

    def _all(self) -> list[PullRequest]:
        with self._edit():
            state = self._load()
            branches = self._branches() if state["pulls"] else {}
            pulls = [self._refresh(raw, branches) for raw in state["pulls"].values()]
            self._save(state)
        return [self._pull(raw) for raw in pulls]

    def _branches(self) -> dict[str, str]:
        """Every local branch's name and sha, in one ``git for-each-ref``."""
        out = run_git(self.repo, "for-each-ref", "--format=%(objectname) %(refname)", "refs/heads/")
        pairs = (line.split(" ", 1) for line in out.splitlines() if line)
        return {ref.removeprefix("refs/heads/"): sha for sha, ref in pairs}

    # -- branches and commits ---------------------------------------------------------------------------

    def resolve(self, ref: str) -> str:
        full = ref if ref.startswith("refs/") else f"refs/heads/{ref}"
        sha = rev_parse(self.repo, full)
        if sha is None:
            try:
                branches = sorted(self._branches())
            except ForgeError:  # not a git repository at all
                raise ForgeError(
                    f"local forge: {self.repo} is not a git repository, so it has no branch {ref!r}; point "
                    "--repo / TRADELOOP_REPO at a clone of the repository"
                ) from None
            raise ForgeError(
                f"local forge: no branch {ref!r} in {self.repo}.{did_you_mean(ref, branches)} Its branches: "
                f"{', '.join(branches) or 'none (commit first)'}; name one of them (--base for the base "
                "branch)"
            )
        return sha

    def _refuse_checked_out(self, branch: str) -> None:
        current = run_git(self.repo, "symbolic-ref", "--quiet", "HEAD") if _on_branch(self.repo) else ""
        if current == f"refs/heads/{branch}":
            raise ForgeError(
                f"local forge: branch {branch!r} is checked out in {self.repo}; "
                "switch to another branch so tradeloop can move it"
            )

    def push_branch(self, branch: str, sha: str, *, force: bool = True) -> None:
        self._refuse_checked_out(branch)
        current = self.branch_head(branch)
        if not force and current is not None and not _is_ancestor(self.repo, current, sha):
            raise ForgeError(f"local forge: moving {branch} to {sha[:12]} is not a fast-forward; refused")
        run_git(self.repo, "update-ref", f"refs/heads/{branch}", sha)

    def branch_head(self, branch: str) -> str | None:
        return rev_parse(self.repo, f"refs/heads/{branch}")

    def commit_emails(self, sha: str) -> tuple[str, str]:
        return commit_identity(self.repo, sha)

    # -- pull requests ----------------------------------------------------------------------------------

    def find_open_pr(self, branch: str) -> PullRequest | None:
        return next((p for p in self._all() if p.branch == branch and p.state == "open"), None)

    def find_closed_prs(self, branch: str) -> list[PullRequest]:
        found = [p for p in self._all() if p.branch == branch and p.state == "closed"]
        return sorted(found, key=lambda p: -p.number)

    def get_pr(self, number: int) -> PullRequest:
        found = next((p for p in self._all() if p.number == number), None)
        if found is None:
            raise ForgeError(f"local forge: no pull request #{number} in {self.state_path}")
        return found

    def open_or_update(
        self, *, branch: str, base: str, title: str, body: str, existing: PullRequest | None
    ) -> PullRequest:
        body_path = self.run_dir / body_file_name(branch)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_text(body_path, body)
        url = body_path.absolute().as_uri()  # a relative home (the default .tradeloop/) has no file URI
        with self._edit():
            state = self._load()
            if existing is None:
                number = state["next_number"]
                state["next_number"] = number + 1
                raw = asdict(PullRequest(number, branch, base, title, body, "open", False, "", url))
                raw["labels"] = []
            else:
                number = existing.number
                raw = state["pulls"][str(number)]
                raw.update(title=title, body=body, url=url)
            raw["head_sha"] = self.branch_head(branch) or ""
            state["pulls"][str(number)] = raw
            self._save(state)
        return self._pull(raw)

    def close(self, pr: PullRequest, *, delete_branch: bool) -> None:
        with self._edit():
            state = self._load()
            state["pulls"][str(pr.number)]["state"] = "closed"
            self._save(state)
        if delete_branch and self.branch_head(pr.branch) is not None:
            self._refuse_checked_out(pr.branch)
            run_git(self.repo, "update-ref", "-d", f"refs/heads/{pr.branch}")

    def add_labels(self, pr: PullRequest, labels: list[str]) -> None:
        with self._edit():
            state = self._load()
            raw = state["pulls"][str(pr.number)]
            raw["labels"] = list(dict.fromkeys([*raw["labels"], *labels]))
            self._save(state)

    def count_open_prs(self, label: str) -> int:
        return sum(p.state == "open" and label in p.labels for p in self._all())

    def comment_once(self, pr: PullRequest, marker: str, body: str) -> CommentAction:
        text = body if marker in body else f"{body}\n\n{marker}\n"
        with self._edit():
            state = self._load()
            comments: list[str] = state["pulls"][str(pr.number)].setdefault("comments", [])
            index = next((i for i, c in enumerate(comments) if marker in c), None)
            if index is None:
                comments.append(text)
            else:
                comments[index] = text
            self._save(state)
        return "created" if index is None else "updated"

    def comments(self, pr: PullRequest) -> list[str]:
        """The comments of ``pr``, oldest first."""
        raw = self._load()["pulls"].get(str(pr.number), {})
        return list(raw.get("comments", []))

    def set_status(
        self, sha: str, state: StatusState, *, context: str, description: str, target_url: str | None
    ) -> None:
        with self._edit():
            saved = self._load()
            saved["statuses"].setdefault(sha, {})[context] = {
                "state": state, "description": description, "target_url": target_url,
            }  # fmt: skip
            self._save(saved)

    def statuses(self, sha: str) -> dict[str, dict[str, Any]]:
        """Context → status set on ``sha``."""
        return dict(self._load()["statuses"].get(sha, {}))

    def pr_files(self, pr: PullRequest) -> list[ChangedFile]:
        return changed_files(self.repo, f"refs/heads/{pr.base}", pr.head_sha)

    def enable_auto_merge(self, pr: PullRequest, *, method: MergeMethod = "merge") -> None:
        """Record the request (``auto_merge`` in the pull request's entry): the local forge has no required
        checks to wait for, so a person (or ``git merge``) still merges it."""
        with self._edit():
            state = self._load()
            state["pulls"][str(pr.number)]["auto_merge"] = method
            self._save(state)

    def auto_merge(self, pr: PullRequest) -> str | None:
        """The merge method auto-merge was requested with for ``pr``, or ``None``."""
        method = self._load()["pulls"].get(str(pr.number), {}).get("auto_merge")
        return None if method is None else str(method)


def _on_branch(repo: Path) -> bool:
    try:
        run_git(repo, "symbolic-ref", "--quiet", "HEAD")
    except ForgeError:
        return False
    return True


def _merge_commit(repo: Path, head: str, base: str) -> str:
    """The commit of ``base``'s first-parent chain that brought ``head`` in: ``head`` after a fast-forward."""
    chain = run_git(repo, "rev-list", "--first-parent", "--ancestry-path", f"{head}..{base}").split()
    if not chain:
        return head
    oldest = chain[-1]
    return head if run_git(repo, "rev-parse", f"{oldest}^1") == head else oldest


def _is_ancestor(repo: Path, ancestor: str, descendant: str) -> bool:
    try:
        run_git(repo, "merge-base", "--is-ancestor", ancestor, descendant)
    except ForgeError:
        return False
    return True


# The fields of a pull request entry and their JSON types (``comments`` is optional).
_PULL_FIELDS: dict[str, type | tuple[type, ...]] = {
    "number": int, "branch": str, "base": str, "title": str, "body": str, "state": str, "merged": bool,
    "head_sha": str, "url": str, "labels": list,
}  # fmt: skip


def _state_problem(state: dict[str, Any]) -> str | None:
    """What is wrong with the shape of a loaded state file (key path, value, expected), or None."""
    number = state.get("next_number")
    if isinstance(number, bool) or not isinstance(number, int) or number < 1:
        return f"next_number must be a whole number >= 1, got {number!r}"
    pulls, statuses = state.get("pulls"), state.get("statuses")
    if not isinstance(pulls, dict):
        return f"pulls must be an object of pull requests by number, got {type(pulls).__name__}"
    if not isinstance(statuses, dict) or not all(isinstance(v, dict) for v in statuses.values()):
        return "statuses must be an object of commit sha -> {context: status}"
    for key, raw in pulls.items():
        problem = _pull_problem(raw)
        if problem is not None:
            return f"pulls.{key}: {problem}"
    return None


def _pull_problem(raw: Any) -> str | None:
    if not isinstance(raw, dict):
        return f"must be an object, got {type(raw).__name__}"
    for name, kind in _PULL_FIELDS.items():
        value = raw.get(name)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            return f"{name} must be a JSON {_json_type(kind)}, got {value!r}"
    if raw["state"] not in ("open", "closed"):
        return f"state must be 'open' or 'closed', got {raw['state']!r}"
    if not all(isinstance(label, str) for label in raw["labels"]):
        return f"labels must be a list of strings, got {raw['labels']!r}"
    merge_commit = raw.get("merge_commit")
    if merge_commit is not None and not isinstance(merge_commit, str):
        return f"merge_commit must be a commit sha or null, got {merge_commit!r}"
    comments = raw.get("comments", [])
    if not isinstance(comments, list) or not all(isinstance(c, str) for c in comments):
        return "comments must be a list of strings"
    return None


def _json_type(kind: type | tuple[type, ...]) -> str:
    names = {int: "integer", str: "string", bool: "boolean", list: "list"}
    return names.get(kind, "value") if isinstance(kind, type) else "value"
