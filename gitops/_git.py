"""Git operations the forges need, none of which touches the user's working tree or index.

Commits are built with plumbing (a temporary index, ``write-tree``, ``commit-tree``); a revert runs in a
temporary worktree. Pushes and fetches authenticate with an ``http.extraheader`` passed through
``GIT_CONFIG_*`` environment variables, so a token is never part of a URL, an argument list or a log line.
"""

from __future__ import annotations

import base64
import os
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tradeloop._secrets import mask_secrets
from tradeloop.errors import ForgeError

__all__ = [
    "DEFAULT_BOT_EMAIL",
    "DEFAULT_BOT_NAME",
    "BotIdentity",
    "ChangedFile",
    "auth_env",
    "build_commit",
    "changed_files",
    "commit_identity",
    "file_at",
    "file_mode",
    "rev_parse",
    "revert_commit",
    "run_git",
    "scrub",
]

DEFAULT_BOT_NAME = "tradeloop-bot"
DEFAULT_BOT_EMAIL = "tradeloop-bot@users.noreply.github.com"
_DIFF_STATUS = {"A": "added", "M": "modified", "D": "removed", "T": "changed"}


def scrub(text: str, secrets: Sequence[str | None]) -> str:
    """``text`` with every non-empty secret (and its base64 ``x-access-token`` form) replaced by ``***``.

    :func:`tradeloop._secrets.mask_secrets` does it, so URL passwords and token shapes are masked as well.
    """
    return mask_secrets(text, secrets)


@dataclass(frozen=True)
class BotIdentity:
    """The author and committer of every commit tradeloop makes.

    From ``TRADELOOP_GIT_AUTHOR_NAME`` / ``TRADELOOP_GIT_AUTHOR_EMAIL``; defaults ``tradeloop-bot`` and
    ``tradeloop-bot@users.noreply.github.com``.
    """

    name: str = DEFAULT_BOT_NAME
    email: str = DEFAULT_BOT_EMAIL

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> BotIdentity:
        env = os.environ if env is None else env
        return cls(
            name=env.get("TRADELOOP_GIT_AUTHOR_NAME") or DEFAULT_BOT_NAME,
            email=env.get("TRADELOOP_GIT_AUTHOR_EMAIL") or DEFAULT_BOT_EMAIL,
        )

    def env(self) -> dict[str, str]:
        return {
            "GIT_AUTHOR_NAME": self.name,
            "GIT_AUTHOR_EMAIL": self.email,
            "GIT_COMMITTER_NAME": self.name,
            "GIT_COMMITTER_EMAIL": self.email,
        }


@dataclass(frozen=True)
class ChangedFile:
    """One file of a diff: ``status`` is added, modified, removed or changed (GitHub's words)."""

    status: str
    path: str


def auth_env(token: str | None) -> dict[str, str]:
    """Environment that makes git send ``token`` as an HTTP basic header (never in argv or a URL)."""
    env = {"GIT_TERMINAL_PROMPT": "0"}
    if token:
        basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
        # The empty value first resets headers a checkout persisted: two Authorization headers fail.
        env |= {"GIT_CONFIG_COUNT": "2", "GIT_CONFIG_KEY_0": "http.extraheader", "GIT_CONFIG_VALUE_0": "",
                "GIT_CONFIG_KEY_1": "http.extraheader",
                "GIT_CONFIG_VALUE_1": f"AUTHORIZATION: basic {basic}"}  # fmt: skip
    return env


def run_git(
    repo: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    secrets: Sequence[str | None] = (),
    what: str = "",
    strip: bool = True,
) -> str:
    """Run ``git -C repo args``; return stdout (without the trailing newline when ``strip``).

    Raises
    ------
    tradeloop.errors.ForgeError
        git failed; the message names the operation and git's own words, with secrets scrubbed.
    """
    full_env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", **(env or {})}
    done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, env=full_env)
    if done.returncode != 0:
        detail = scrub((done.stderr or done.stdout).strip(), secrets)
        label = what or f"git {args[0]}"
        raise ForgeError(f"{label} failed in {repo}: {detail or f'exit {done.returncode}'}")
    return done.stdout.rstrip("\n") if strip else done.stdout


def rev_parse(repo: Path, rev: str) -> str | None:
    """The commit sha ``rev`` names in ``repo``, or ``None`` when it names none."""
    try:
        return run_git(repo, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    except ForgeError:
        return None


def file_at(repo: Path, rev: str, path: str) -> str | None:
    """The text of ``path`` at ``rev``, or ``None`` when the file does not exist there."""
    try:
        return run_git(repo, "show", f"{rev}:{path}", strip=False)
    except ForgeError:
        return None


def file_mode(repo: Path, rev: str, path: str) -> str | None:
    """The git mode of ``path`` at ``rev`` (``100644`` a file, ``120000`` a symbolic link), or ``None``."""
    out = run_git(repo, "ls-tree", rev, "--", path, what=f"git ls-tree {rev[:12]}")
    return out.split(" ", 1)[0] if out else None


def changed_files(repo: Path, base: str, head: str) -> list[ChangedFile]:
    """The files ``head`` changes against its merge base with ``base`` (``git diff base...head``)."""
    out = run_git(repo, "diff", "--name-status", "--no-renames", f"{base}...{head}", what="git diff")
    rows = []
    for line in out.splitlines():
        status, _, path = line.partition("\t")
        rows.append(ChangedFile(_DIFF_STATUS.get(status[:1], "modified"), path))
    return rows


def commit_identity(repo: Path, sha: str) -> tuple[str, str]:
    """The author and committer e-mail addresses of ``sha``."""
    out = run_git(repo, "show", "-s", "--format=%ae%n%ce", sha)
    author, _, committer = out.partition("\n")
    return author, committer


def build_commit(
    repo: Path, parent: str, files: Mapping[str, bytes], message: str, identity: BotIdentity
) -> str:
    """A commit on top of ``parent`` whose tree is ``parent``'s with ``files`` replaced; return its sha.

    Only the object database and a temporary index are written: the working tree, the index and every
    ref of ``repo`` stay as they are.
    """
    with tempfile.TemporaryDirectory(prefix="tradeloop-index-") as scratch:
        env = {"GIT_INDEX_FILE": str(Path(scratch) / "index")}
        run_git(repo, "read-tree", parent, env=env)
        for path, content in files.items():
            blob_file = Path(scratch) / "blob"
            blob_file.write_bytes(content)
            blob = run_git(repo, "hash-object", "-w", "--", str(blob_file))
            run_git(repo, "update-index", "--add", "--cacheinfo", f"100644,{blob},{path}", env=env)
        tree = run_git(repo, "write-tree", env=env)
    return run_git(repo, "commit-tree", tree, "-p", parent, "-m", message, env=identity.env())


def revert_commit(
    repo: Path, onto: str, commit: str, identity: BotIdentity, *, conflict_fix: str = "resolve it by hand"
) -> str:
    """``git revert commit`` on top of ``onto`` in a temporary worktree; return the revert's sha.

    A merge commit is reverted against its first parent (``-m 1``), which undoes what the merge brought.
    A revert that conflicts raises :class:`ForgeError` naming the files and ``conflict_fix``.
    """
    parents = run_git(repo, "show", "-s", "--format=%P", commit).split()
    with tempfile.TemporaryDirectory(prefix="tradeloop-revert-") as scratch:
        worktree = Path(scratch) / "tree"
        run_git(repo, "worktree", "add", "--detach", "--quiet", str(worktree), onto, what="git worktree add")
        try:
            mainline = ["-m", "1"] if len(parents) > 1 else []
            try:
                run_git(
                    worktree, "revert", "--no-edit", *mainline, commit, env=identity.env(), what="git revert"
                )
            except ForgeError:
                conflicted = run_git(worktree, "diff", "--name-only", "--diff-filter=U").split()
                if not conflicted:
                    raise
                raise ForgeError(
                    f"git revert of {commit[:12]} onto {onto[:12]} conflicts in {', '.join(conflicted)}: "
                    f"a later commit changed the same lines; {conflict_fix}"
                ) from None
            return run_git(worktree, "rev-parse", "HEAD")
        finally:
            run_git(repo, "worktree", "remove", "--force", str(worktree))
