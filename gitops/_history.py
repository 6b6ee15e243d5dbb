"""The history of the live state on a branch: every version of ``config/constants.py``, read from git.

:func:`state_versions` walks the branch's first-parent chain (the commits that are the branch, whatever
merge method brought them: a merge commit, a squash or a rebase) and returns, oldest first, each version of
the state files that a commit on it wrote, with that commit's sha, time and subject. Blobs are read in one
``git cat-file --batch`` call and each distinct file is parsed once.

A shallow clone cannot show the history, so it is refused with the fix (``fetch-depth: 0``).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from gitops._apply import ALLOWED_PATHS
from gitops._constants import CONSTANTS_FILE, LiveConstants, inspect_constants
from gitops._feature_flags import FEATURE_FLAGS_FILE, FeatureFlags, inspect_feature_flags
from gitops._git import run_git
from gitops._problems import did_you_mean
from tradeloop.errors import ForgeError

__all__ = ["StateVersion", "state_versions"]

_NO_BLOB = "0" * 40
_RECORD, _FIELD = "\x1e", "\x1f"


@dataclass(frozen=True)
class StateVersion:
    """The live state as one commit of the branch left it.

    ``constants`` is ``None`` when the file could not be read by this tradeloop (``problem`` says why);
    ``flags`` likewise (a missing or invalid ``feature_flags.json`` only loses the PR numbers).
    """

    commit: str
    at: datetime
    subject: str
    constants: LiveConstants | None
    flags: FeatureFlags | None
    problem: str | None = None


@dataclass(frozen=True)
class _Commit:
    sha: str
    parent: str
    at: datetime
    subject: str
    blobs: dict[str, str]  # path -> new blob id (only the paths the commit changed)


def state_versions(repo: Path, ref: str) -> list[StateVersion]:
    """Every version of the state files on ``ref``'s first-parent chain, oldest first (module docstring).

    The first element is the state before the oldest commit in the chain that changed a state file (its
    parent's version) when that commit had a parent, so a change always has a version to compare with.

    Raises
    ------
    tradeloop.errors.ForgeError
        ``repo`` is not a git repository, ``ref`` names no commit, or the clone is shallow.
    """
    _require_full_history(repo, ref)
    commits = list(_commits(repo, ref))
    if not commits:
        return []
    first = commits[0]
    current = _blobs_at(repo, first.parent) if first.parent else {}
    wanted = {blob for c in commits for blob in c.blobs.values()} | set(current.values())
    reader = _Reader(_blob_texts(repo, wanted - {_NO_BLOB}))
    versions: list[StateVersion] = []
    if current:
        versions.append(reader.version(first.parent, first.at, "(before)", current))
    for commit in commits:
        current.update(commit.blobs)
        versions.append(reader.version(commit.sha, commit.at, commit.subject, current))
    return versions


def _require_full_history(repo: Path, ref: str) -> None:
    try:
        shallow = run_git(repo, "rev-parse", "--is-shallow-repository", what="git rev-parse")
    except ForgeError:
        raise ForgeError(
            f"{repo} is not a git repository; the guardrail memory (cooldowns, change budgets, rolled-back "
            "proposals) is read from the history of config/constants.py: run tradeloop in a clone of the "
            "repository (--repo / TRADELOOP_REPO)"
        ) from None
    if shallow == "true":
        raise ForgeError(
            f"{repo} is a shallow clone, so the history of config/constants.py that the guardrail memory "
            "(cooldowns, change budgets, rolled-back proposals) is read from is cut; fetch it with "
            "`git fetch --unshallow`, or check out with actions/checkout's `fetch-depth: 0`"
        )
    try:
        run_git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", what=f"resolve {ref!r}")
    except ForgeError:
        branches = run_git(repo, "for-each-ref", "--format=%(refname:short)", "refs/heads").split()
        raise ForgeError(
            f"--base {ref!r} is not a branch or commit of {repo}.{did_you_mean(ref, branches)} Its branches: "
            f"{', '.join(branches) or 'none'}; name one of them (or a commit)"
        ) from None


def _commits(repo: Path, ref: str) -> Iterator[_Commit]:
    """The first-parent commits of ``ref`` that change a state file, oldest first, with their blob ids."""
    out = run_git(
        repo, "log", "--first-parent", "--diff-merges=first-parent", "--raw", "--no-abbrev", "--no-renames",
        f"--format={_RECORD}%H{_FIELD}%P{_FIELD}%cI{_FIELD}%s", ref, "--", *ALLOWED_PATHS,
        what="git log of the live state files",
    )  # fmt: skip
    records = [record for record in out.split(_RECORD) if record.strip()]
    for record in reversed(records):
        header, _, raw = record.partition("\n")
        sha, parents_field, at, subject = header.split(_FIELD, 3)
        blobs = {}
        for line in raw.splitlines():
            if line.startswith(":"):
                meta, _, path = line.partition("\t")
                blobs[path] = meta.split()[3]
        parent = (parents_field.split() or [""])[0]
        yield _Commit(sha, parent, datetime.fromisoformat(at), subject, blobs)


def _blobs_at(repo: Path, rev: str) -> dict[str, str]:
    """Path → blob id of the state files at ``rev`` (absent paths left out)."""
    out = run_git(repo, "ls-tree", rev, "--", *ALLOWED_PATHS, what=f"git ls-tree {rev[:12]}")
    blobs = {}
    for line in out.splitlines():
        meta, _, path = line.partition("\t")
        blobs[path] = meta.split()[2]
    return blobs


def _blob_texts(repo: Path, blobs: set[str]) -> dict[str, str | None]:
    """Blob id → its text (``None`` when it is not UTF-8), read in one ``git cat-file --batch``."""
    if not blobs:
        return {}
    order = sorted(blobs)
    done = subprocess.run(
        ["git", "-C", str(repo), "cat-file", "--batch"],
        input="\n".join(order).encode() + b"\n",
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        raise ForgeError(f"git cat-file failed in {repo}: {done.stderr.decode(errors='replace').strip()}")
    texts: dict[str, str | None] = {}
    data, position = done.stdout, 0
    for blob in order:
        end = data.index(b"\n", position)
        header = data[position:end].decode().split()
        if len(header) != 3:  # "<id> missing": no content follows
            texts[blob], position = None, end + 1
            continue
        size = int(header[2])
        content = data[end + 1 : end + 1 + size]
        position = end + 1 + size + 1
        try:
            texts[blob] = content.decode("utf-8")
        except UnicodeDecodeError:
            texts[blob] = None
    return texts


class _Reader:
    """Parses each distinct blob once."""

    def __init__(self, texts: dict[str, str | None]) -> None:
        self._texts = texts
        self._constants: dict[str, tuple[LiveConstants | None, str | None]] = {}
        self._flags: dict[str, FeatureFlags | None] = {}

    def version(self, commit: str, at: datetime, subject: str, blobs: dict[str, str]) -> StateVersion:
        constants, problem = self._read_constants(blobs.get(CONSTANTS_FILE.as_posix(), _NO_BLOB))
        flags = self._read_flags(blobs.get(FEATURE_FLAGS_FILE.as_posix(), _NO_BLOB))
        return StateVersion(commit, at, subject, constants, flags, problem)

    def _read_constants(self, blob: str) -> tuple[LiveConstants | None, str | None]:
        if blob not in self._constants:
            text = self._texts.get(blob)
            if blob == _NO_BLOB or text is None:
                self._constants[blob] = None, f"{CONSTANTS_FILE.as_posix()} is missing or not UTF-8"
            else:
                constants, problems = inspect_constants(text)
                self._constants[blob] = constants, problems[0] if problems else None
        return self._constants[blob]

    def _read_flags(self, blob: str) -> FeatureFlags | None:
        if blob not in self._flags:
            text = self._texts.get(blob)
            self._flags[blob] = None if text is None else inspect_feature_flags(text)[0]
        return self._flags[blob]
