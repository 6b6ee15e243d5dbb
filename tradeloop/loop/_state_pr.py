"""A pull request that changes ``config/constants.py`` only: ensemble weights or regime loadouts.

The branch is one commit on the base with the changed literals spliced in (:func:`gitops.edit_constants_text`:
nothing else moves). When the branch's open pull request already carries the same change, nothing is pushed,
so its checks and labels stay.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tradeloop._settings import Settings
from tradeloop.loop._common import make_forge

__all__ = ["StateChangePr", "publish_state_change"]


@dataclass(frozen=True)
class StateChangePr:
    """What to publish: the branch and its base, the pull request's title and body, the commit message, the
    key paths to set, and how to tell that a branch's constants text already holds the change."""

    branch: str
    base: str
    title: str
    body: str
    message: str
    changes: Mapping[tuple[str, ...], Any]
    same: Callable[[str], bool]


def publish_state_change(
    settings: Settings, forge_kind: str | None, change: StateChangePr
) -> tuple[str, int]:
    """Push ``change`` on its branch and open or update its pull request: ``(action, pr number)``, action
    ``created``, ``updated`` or ``none`` (the open pull request already holds it)."""
    from gitops import CONSTANTS_FILE, BotIdentity, build_commit, edit_constants_text
    from tradeloop import Provenance

    forge = make_forge(settings, forge_kind)
    path = CONSTANTS_FILE.as_posix()
    existing = forge.find_open_pr(change.branch)
    head = forge.branch_head(change.branch)
    if existing is not None and head is not None and change.same(forge.read_file(head, path) or ""):
        return "none", existing.number
    base_sha = forge.resolve(change.base)
    text = forge.read_file(base_sha, path) or ""
    edited = edit_constants_text(text, change.changes, provenance=Provenance.capture(settings.repo))
    sha = build_commit(settings.repo, base_sha, {path: edited.encode()}, change.message, BotIdentity())
    forge.push_branch(change.branch, sha)
    pr = forge.open_or_update(
        branch=change.branch, base=change.base, title=change.title, body=change.body, existing=existing
    )
    return ("updated" if existing else "created"), pr.number
