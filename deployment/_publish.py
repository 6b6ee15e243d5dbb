"""The deployment pull request: one per rollout, moving its stage and capital share, with the evidence.

It follows the optimizer pull requests' manners (Renovate's):

1. one fixed branch per rollout, ``tradeloop/deploy/<strategy>-<symbol>``, holding one commit on the base
   that changes ``feature_flags.json`` only;
2. a closed-unmerged pull request that made the same move (config hash, from stage, to stage) was a
   person's "no": it is never opened again;
3. an open pull request labelled ``do-not-merge``, or whose branch holds a commit tradeloop did not push,
   is left as it is;
4. an open pull request that already makes this move on the current base (or on a base whose state files
   have not changed since) is left as it is: nothing is pushed, so its checks and reviews stay;
5. an open pull request for a move the base no longer starts from (the stage moved, or a new optimizer pull
   request restarted the rollout) is closed as tradeloop's own decision (``- autoclosed``);
6. otherwise the branch is force-updated and the pull request edited, or one is opened, labelled
   ``tradeloop`` and ``deployment``.

A promotion asks the forge to auto-merge when ``DEPLOY_AUTO_MERGE`` is on: branch protection and required
checks (``tradeloop pr check``) still decide when it merges.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from deployment._model import Check, PullRequestAction, Verdict
from gitops import (
    AUTOCLOSED_SUFFIX,
    DO_NOT_MERGE,
    FEATURE_FLAGS_FILE,
    CanaryStatus,
    FeatureFlags,
    Forge,
    LiveConstants,
    PullRequest,
    Rollout,
    Stage,
    build_commit,
    cross_file_problems,
    inspect_feature_flags,
    render_feature_flags,
)
from gitops._git import run_git
from tradeloop import Provenance
from tradeloop.errors import StateFileError

__all__ = [
    "DEPLOY_BRANCH_PREFIX",
    "DEPLOY_LABELS",
    "DEPLOY_MARKER",
    "PublishedMove",
    "deploy_branch",
    "moved_rollout",
    "parse_deploy_metadata",
    "publish_move",
]

DEPLOY_BRANCH_PREFIX = "tradeloop/deploy/"
DEPLOY_LABELS = ("tradeloop", "deployment")
DEPLOY_MARKER = "tradeloop:deploy"
_METADATA = re.compile(r"<!-- tradeloop:deploy (\{.*?\}) -->")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_FLAGS = FEATURE_FLAGS_FILE.as_posix()


def deploy_branch(strategy: str, symbol: str) -> str:
    """``tradeloop/deploy/<strategy>-<symbol>``: the one branch of a rollout's moves (a valid git ref)."""
    tail = _UNSAFE.sub("-", f"{strategy}-{symbol}").strip(".-")
    while tail.endswith((".", ".lock")):
        tail = tail.removesuffix(".lock").rstrip(".")
    return DEPLOY_BRANCH_PREFIX + (tail or "unnamed")


def parse_deploy_metadata(body: str | None) -> dict[str, Any] | None:
    """The hidden metadata of a deployment pull request body, or ``None``."""
    found = _METADATA.findall(body or "")
    if not found:
        return None
    try:
        data = json.loads(found[-1])
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


@dataclass(frozen=True)
class PublishedMove:
    """What publishing a move did: the pull request action, its number and link, and why."""

    action: PullRequestAction
    reason: str
    branch: str
    pr_number: int | None = None
    url: str | None = None
    commit_sha: str | None = None
    auto_merge: bool = False


def moved_rollout(rollout: Rollout, verdict: Verdict, status: CanaryStatus, at: datetime) -> Rollout:
    """``rollout`` after ``verdict``: its stage, phase and share moved, and the analysis as its status."""
    return Rollout(
        stage=Stage(verdict.stage),
        canary_fraction=verdict.canary_fraction,
        config_hash=rollout.config_hash,
        pr_number=rollout.pr_number,
        started_at=rollout.started_at,
        updated_at=max(at, rollout.updated_at),
        previous_config_hash=rollout.previous_config_hash,
        phase=verdict.phase,
        previous_params=rollout.previous_params,
        status=status,
    )


def flags_text_with(
    flags: FeatureFlags, constants: LiveConstants, key: str, rollout: Rollout, provenance: Provenance
) -> str:
    """``feature_flags.json`` with the rollout of ``key`` replaced, validated like every write."""
    strategy, _, symbol = key.partition("/")
    updated = FeatureFlags(
        provenance=provenance,
        prediction_engine=flags.prediction_engine,
        rollouts={**flags.with_rollout(strategy, symbol, rollout).rollouts},
    )
    text = render_feature_flags(updated)
    parsed, problems = inspect_feature_flags(text)
    if parsed is not None:
        problems = cross_file_problems(constants, parsed)
    if problems or parsed is None:
        raise StateFileError(f"refusing to write an invalid {_FLAGS}: {problems[0] if problems else '?'}")
    return text


def _move_name(before: Rollout, after: Rollout) -> str:
    if after.phase == "failed":
        return f"{before.stage.value} → failed"
    return f"{before.stage.value} → {after.stage.value}"


def publish_move(
    forge: Forge,
    *,
    base: str,
    base_sha: str,
    key: str,
    before: Rollout,
    after: Rollout,
    flags_text: str,
    verdict: Verdict,
    checks: Sequence[Check],
    timeframe: str,
    auto_merge: bool,
    run_url: str | None = None,
    dry_run: bool = False,
) -> PublishedMove:
    """Open, update or leave the deployment pull request of ``key`` for the move ``before`` → ``after``."""
    strategy, _, symbol = key.partition("/")
    branch = deploy_branch(strategy, symbol)
    move = {"key": key, "config_hash": after.config_hash, "from": before.stage.value,
            "to": after.stage.value, "phase": after.phase}  # fmt: skip

    def outcome(
        action: PullRequestAction, reason: str, pr: PullRequest | None = None, **extra: Any
    ) -> PublishedMove:
        return PublishedMove(
            action, reason, branch, pr.number if pr else None, pr.url if pr else None, **extra
        )

    for closed in forge.find_closed_prs(branch):
        data = parse_deploy_metadata(closed.body) or {}
        if not closed.merged and not closed.title.endswith(AUTOCLOSED_SUFFIX) and _same_move(data, move):
            why = f"#{closed.number} made this move and was closed without merging: a person declined it"
            return outcome("none", why + ", so it is not proposed again", closed)
    open_pr = forge.find_open_pr(branch)
    if open_pr is not None:
        hands_off = _hands_off(forge, open_pr)
        if hands_off:
            return outcome("none", hands_off, open_pr)
        data = parse_deploy_metadata(open_pr.body) or {}
        if _same_move(data, move) and _up_to_date(forge, open_pr, base_sha):
            why = f"#{open_pr.number} already proposes {_move_name(before, after)} on the current {base}"
            return outcome("none", why + ": nothing pushed, its checks and reviews stay", open_pr)
    title = _title(key, before, after)
    message = f"{title}\n\n{verdict.reason}\n"
    sha = build_commit(forge.repo, base_sha, {_FLAGS: flags_text.encode("utf-8")}, message, forge.identity)
    if dry_run:
        return outcome("created" if open_pr is None else "updated", "dry run: nothing pushed or opened",
                       open_pr, commit_sha=sha)  # fmt: skip
    forge.push_branch(branch, sha)
    body = render_move_body(key, before, after, verdict, checks, timeframe, base=base, run_url=run_url,
                            metadata={**move, "commit_sha": sha})  # fmt: skip
    pr = forge.open_or_update(branch=branch, base=base, title=title, body=body, existing=open_pr)
    forge.add_labels(pr, list(DEPLOY_LABELS))
    merged_automatically = False
    if auto_merge and after.phase != "failed":
        forge.enable_auto_merge(pr)
        merged_automatically = True
    action: PullRequestAction = "created" if open_pr is None else "updated"
    return outcome(action, title, pr, commit_sha=sha, auto_merge=merged_automatically)


def close_stale(
    forge: Forge, key: str, before: Rollout, *, base: str, dry_run: bool = False
) -> PublishedMove | None:
    """Close the open deployment pull request of ``key`` when the base no longer starts from its move."""
    strategy, _, symbol = key.partition("/")
    branch = deploy_branch(strategy, symbol)
    open_pr = forge.find_open_pr(branch)
    if open_pr is None or _hands_off(forge, open_pr):
        return None
    data = parse_deploy_metadata(open_pr.body) or {}
    applies = data.get("config_hash") == before.config_hash and data.get("from") == before.stage.value
    if applies and before.phase == "progressing":
        return None
    reason = (
        f"#{open_pr.number} moves from {data.get('from')} at config hash "
        f"{str(data.get('config_hash'))[:12]}, but {base} has {key} {before.phase} at {before.stage.value} "
        f"({before.config_hash[:12]}): closed, the move no longer applies"
    )
    if not dry_run:
        if not open_pr.title.endswith(AUTOCLOSED_SUFFIX):
            open_pr = forge.open_or_update(branch=branch, base=base, title=open_pr.title + AUTOCLOSED_SUFFIX,
                                           body=open_pr.body, existing=open_pr)  # fmt: skip
        forge.close(open_pr, delete_branch=True)
    return PublishedMove("closed", reason, branch, open_pr.number, open_pr.url)


def _same_move(data: Mapping[str, Any], move: Mapping[str, Any]) -> bool:
    return all(data.get(name) == move[name] for name in ("key", "config_hash", "from", "to", "phase"))


def _up_to_date(forge: Forge, pr: PullRequest, base_sha: str) -> bool:
    """Whether ``pr``'s branch sits on ``base_sha``, or on a base whose state files have not changed since."""
    tip = forge.resolve(pr.branch)
    parent = run_git(forge.repo, "rev-parse", f"{tip}^1", what="git rev-parse")
    if parent == base_sha:
        return True
    moved = run_git(forge.repo, "diff", "--name-only", parent, base_sha, "--", _FLAGS, "config/constants.py",
                    what="git diff")  # fmt: skip
    return not moved.strip()


def _hands_off(forge: Forge, pr: PullRequest) -> str | None:
    if DO_NOT_MERGE in pr.labels:
        return f"#{pr.number} is labelled {DO_NOT_MERGE}; left as it is"
    tip = forge.branch_head(pr.branch)
    ours = (parse_deploy_metadata(pr.body) or {}).get("commit_sha")
    if tip is not None and tip != ours:
        return (
            f"{pr.branch} has commit {tip[:12]}, not the one tradeloop pushed: a person has taken "
            f"#{pr.number} over"
        )
    if tip is not None and set(forge.commit_emails(tip)) != {forge.identity.email}:
        return f"{pr.branch} tip {tip[:12]} was written by someone else: a person has taken #{pr.number} over"
    return None


def _title(key: str, before: Rollout, after: Rollout) -> str:
    if after.phase == "failed":
        return f"deploy({key}): {before.stage.value} failed, back to the previous parameters"
    share = f"{after.canary_fraction:.0%}" if after.canary_fraction not in (0.0, 1.0) else None
    what = {"WARM": "paper trading", "LIMITED": f"{share} live", "FULL": "all capital"}.get(
        after.stage.value, ""
    )
    return f"deploy({key}): {before.stage.value} → {after.stage.value} ({what})"


def _figure(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    shown = f"{value:.4g}" if abs(value) < 1e4 else f"{value:,.0f}"
    return f"{shown} {unit}".strip() if unit not in ("", "p") else shown


def render_move_body(
    key: str,
    before: Rollout,
    after: Rollout,
    verdict: Verdict,
    checks: Sequence[Check],
    timeframe: str,
    *,
    base: str,
    run_url: str | None,
    metadata: Mapping[str, Any],
) -> str:
    """The body of a deployment pull request: the move, the evidence, what merging does, the metadata."""
    status = after.status
    checked = status.checked_at.isoformat() if status is not None else "?"
    lines = [f"**tradeloop deployment** · `{key}` ({timeframe}) · config hash `{after.config_hash[:16]}`", ""]
    if after.phase == "failed":
        lines += [
            f"The rollout **fails in {before.stage.value}**: {verdict.reason}.",
            "",
            "Merging sets `canary_fraction` to 0 and the phase to `failed`: the bot goes back to the "
            "previous parameters at full capital (`tradeloop deploy plan`). Restoring them in "
            "`config/constants.py` is the rollback's commit.",
        ]
    else:
        lines += [
            f"Every check of **{before.stage.value}** passed: promote to **{after.stage.value}** at "
            f"{after.canary_fraction:g} of the capital on the new parameters.",
            "",
            _after_merge(after),
        ]
    lines += ["", f"### Evidence ({before.stage.value}, analysis at {checked})", ""]
    lines += ["| check | figure | threshold | outcome | on |", "|---|---:|---:|---|---|"]
    for check in checks:
        threshold = (
            "—" if check.threshold is None else f"{check.comparator} {_figure(check.threshold, check.unit)}"
        )
        detail = check.detail.replace("|", "\\|")
        figure = _figure(check.figure, check.unit)
        lines.append(f"| {check.name} | {figure} | {threshold} | {check.outcome} | {detail} |")
    lines += [
        "",
        f"Failed analyses in {before.stage.value}: {verdict.failed_checks}. The figures and thresholds are "
        f"also in `{_FLAGS}` (`rollouts.{key}.status`), where `tradeloop pr check` verifies them against "
        "`config/constants.py` before anything runs.",
        "",
        "### What you can do",
        "",
        "- Merge to apply the move; revert the merge commit to undo it. Close to decline: the same move "
        "is not proposed again.",
        f"- Label `{DO_NOT_MERGE}` to keep tradeloop's hands off this pull request.",
    ]
    if run_url:
        lines += [f"- The analysis: [workflow run]({run_url})"]
    lines += ["", _metadata_comment(metadata), ""]
    return "\n".join(lines)


def _after_merge(after: Rollout) -> str:
    if after.stage == Stage.WARM:
        return (
            "After the merge the bot paper-trades the new parameters beside the live previous ones "
            "(no capital)."
        )
    if after.stage == Stage.LIMITED:
        return (
            f"After the merge the bot trades the new parameters live with {after.canary_fraction:g} of the "
            f"capital and the previous ones with the rest."
        )
    return "After the merge the bot trades the new parameters with all capital; the monitor watches them."


def _metadata_comment(data: Mapping[str, Any]) -> str:
    encoded = json.dumps(dict(data), sort_keys=True, separators=(", ", ": "), ensure_ascii=True, default=str)
    encoded = encoded.replace("<", "\\u003c").replace(">", "\\u003e")
    return f"<!-- {DEPLOY_MARKER} {encoded} -->"
