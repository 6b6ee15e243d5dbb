"""The stand-in's git side: a real bare repository, read and written with ``git`` commands only.

It also plays the humans of the scenarios: a maintainer who pushes a commit to a branch or merges a pull
request does so with a real clone and a real ``git push`` to the bare repository.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

HUMAN = ("Ada Maintainer", "ada@example.com")
_DIFF_STATUS = {"A": "added", "M": "modified", "D": "removed", "R": "renamed", "C": "copied", "T": "changed"}


def git(*args: str, cwd: Path, env: Mapping[str, str] | None = None) -> str:
    """Run git; return stdout stripped. A failure raises with git's stderr."""
    done = subprocess.run(
        ["git", *args], cwd=cwd, capture_output=True, text=True, env=None if env is None else dict(env)
    )
    if done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {cwd}: {done.stderr.strip()}")
    return done.stdout.strip()


def identity_args(name: str, email: str) -> list[str]:
    return ["-c", f"user.name={name}", "-c", f"user.email={email}", "-c", "commit.gpgsign=false"]


@dataclass(frozen=True)
class CommitInfo:
    sha: str
    tree: str
    parents: tuple[str, ...]
    author_name: str
    author_email: str
    author_date: str
    committer_name: str
    committer_email: str
    committer_date: str
    message: str


class BareRepo:
    """Refs and commits of the bare repository behind the stand-in."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def rev_parse(self, ref: str) -> str | None:
        done = subprocess.run(
            ["git", "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}"],
            cwd=self.path,
            capture_output=True,
            text=True,
        )
        return done.stdout.strip() if done.returncode == 0 else None

    def branch_sha(self, branch: str) -> str | None:
        return self.rev_parse(f"refs/heads/{branch}")

    def refs(self, prefix: str = "refs/") -> dict[str, str]:
        out = git("for-each-ref", "--format=%(refname) %(objectname)", prefix, cwd=self.path)
        return dict(line.split(" ", 1) for line in out.splitlines() if line)

    def update_ref(self, ref: str, sha: str) -> None:
        git("update-ref", ref, sha, cwd=self.path)

    def delete_ref(self, ref: str) -> None:
        git("update-ref", "-d", ref, cwd=self.path)

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        done = subprocess.run(
            ["git", "merge-base", "--is-ancestor", ancestor, descendant], cwd=self.path, capture_output=True
        )
        return done.returncode == 0

    def commit(self, sha: str) -> CommitInfo:
        fmt = "%H%x00%T%x00%P%x00%an%x00%ae%x00%aI%x00%cn%x00%ce%x00%cI%x00%B"
        fields = git("show", "-s", f"--format={fmt}", sha, cwd=self.path).split("\x00")
        return CommitInfo(
            sha=fields[0],
            tree=fields[1],
            parents=tuple(fields[2].split()),
            author_name=fields[3],
            author_email=fields[4],
            author_date=fields[5],
            committer_name=fields[6],
            committer_email=fields[7],
            committer_date=fields[8],
            message=fields[9],
        )

    def changed_files(self, base: str, head: str) -> list[tuple[str, str]]:
        """``(status, path)`` of ``git diff --name-status base...head`` (against the merge base)."""
        out = git("diff", "--name-status", "--no-renames", f"{base}...{head}", cwd=self.path)
        rows = []
        for line in out.splitlines():
            status, _, path = line.partition("\t")
            rows.append((_DIFF_STATUS.get(status[:1], "modified"), path))
        return rows

    def file_at(self, rev: str, path: str) -> str | None:
        done = subprocess.run(["git", "show", f"{rev}:{path}"], cwd=self.path, capture_output=True, text=True)
        return done.stdout if done.returncode == 0 else None

    # -- the humans ---------------------------------------------------------------------------------------

    def human_commit(
        self,
        branch: str,
        files: Mapping[str, str],
        message: str = "Hand-tuned by a maintainer",
        author: tuple[str, str] = HUMAN,
    ) -> str:
        """Clone, change ``files`` on ``branch``, commit as ``author`` and push; return the new sha."""
        with tempfile.TemporaryDirectory(prefix="standin-human-") as scratch:
            work = Path(scratch) / "work"
            git("clone", "--quiet", "--branch", branch, str(self.path), str(work), cwd=Path(scratch))
            for rel, text in files.items():
                target = work / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(text)
                git("add", "--", rel, cwd=work)
            git(*identity_args(*author), "commit", "--quiet", "-m", message, cwd=work)
            git("push", "--quiet", "origin", f"HEAD:refs/heads/{branch}", cwd=work)
            return git("rev-parse", "HEAD", cwd=work)

    def human_merge(self, head: str, base: str, message: str, author: tuple[str, str] = HUMAN) -> str:
        """Merge ``head`` into ``base`` with a merge commit, as GitHub's merge button does; return its sha."""
        with tempfile.TemporaryDirectory(prefix="standin-merge-") as scratch:
            work = Path(scratch) / "work"
            git("clone", "--quiet", "--branch", base, str(self.path), str(work), cwd=Path(scratch))
            git("fetch", "--quiet", "origin", f"refs/heads/{head}", cwd=work)
            git(*identity_args(*author), "merge", "--quiet", "--no-ff", "-m", message, "FETCH_HEAD", cwd=work)
            git("push", "--quiet", "origin", f"HEAD:refs/heads/{base}", cwd=work)
            return git("rev-parse", "HEAD", cwd=work)

    def human_squash(self, head: str, base: str, message: str, author: tuple[str, str] = HUMAN) -> str:
        """Squash ``head`` into one new commit on ``base``, as GitHub's "Squash and merge" does."""
        with tempfile.TemporaryDirectory(prefix="standin-squash-") as scratch:
            work = Path(scratch) / "work"
            git("clone", "--quiet", "--branch", base, str(self.path), str(work), cwd=Path(scratch))
            git("fetch", "--quiet", "origin", f"refs/heads/{head}", cwd=work)
            git(*identity_args(*author), "merge", "--quiet", "--squash", "FETCH_HEAD", cwd=work)
            git(*identity_args(*author), "commit", "--quiet", "-m", message, cwd=work)
            git("push", "--quiet", "origin", f"HEAD:refs/heads/{base}", cwd=work)
            return git("rev-parse", "HEAD", cwd=work)

    def human_rebase(self, head: str, base: str, committer: tuple[str, str] = HUMAN) -> str:
        """Replay ``head``'s commits onto ``base`` (authors and messages kept), as "Rebase and merge" does."""
        with tempfile.TemporaryDirectory(prefix="standin-rebase-") as scratch:
            work = Path(scratch) / "work"
            git("clone", "--quiet", "--branch", base, str(self.path), str(work), cwd=Path(scratch))
            git("fetch", "--quiet", "origin", f"refs/heads/{head}", cwd=work)
            commits = git("rev-list", "--reverse", "HEAD..FETCH_HEAD", cwd=work).split()
            env = {**os.environ, "GIT_COMMITTER_NAME": committer[0], "GIT_COMMITTER_EMAIL": committer[1]}
            for commit in commits:
                git("cherry-pick", "--allow-empty", commit, cwd=work, env=env)
            git("push", "--quiet", "origin", f"HEAD:refs/heads/{base}", cwd=work)
            return git("rev-parse", "HEAD", cwd=work)


def seed_bare_repo(root: Path, files: Mapping[str, str], branch: str = "main") -> BareRepo:
    """A bare repository at ``root/origin.git`` whose ``branch`` holds ``files`` in one commit."""
    seed = root / "seed"
    seed.mkdir(parents=True)
    git("init", "--quiet", "--initial-branch", branch, cwd=seed)
    for rel, text in files.items():
        target = seed / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    git("add", "--all", cwd=seed)
    git(*identity_args(*HUMAN), "commit", "--quiet", "-m", "Initial state", cwd=seed)
    bare = root / "origin.git"
    git("clone", "--quiet", "--bare", str(seed), str(bare), cwd=root)
    shutil.rmtree(seed)
    return BareRepo(bare)
