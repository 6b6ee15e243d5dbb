"""``tradeloop pr report``: the validation verdict as one comment (edited in place) and a commit status."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from gitops._forge import CommentAction, Forge, StatusState
from gitops._pr_body import parse_pr_metadata
from tradeloop.errors import ProposalError

if TYPE_CHECKING:
    from tradeloop.documents import Verdict

__all__ = ["STATUS_CONTEXT", "VALIDATION_MARKER", "ReportOutcome", "report_verdict", "verdict_comment"]

VALIDATION_MARKER = "<!-- tradeloop:validation-report -->"
STATUS_CONTEXT = "tradeloop/validation"


@dataclass(frozen=True)
class ReportOutcome:
    pr_number: int
    comment: CommentAction
    state: StatusState
    sha: str

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def verdict_comment(verdict: Verdict, markdown: str | None = None) -> str:
    """The comment: ``markdown`` (validation's ``verdict.md``) or a gate table, then the hidden marker."""
    if markdown is None:
        rows = [
            f"| {gate.name} | {_figure(gate.figure)} {gate.unit} | {gate.op} "
            f"{_figure(gate.threshold)} | {'pass' if gate.passed else 'FAIL'} |"
            for gate in verdict.gates
        ]
        markdown = "\n".join(
            [f"### Validation: **{verdict.decision}**", "", verdict.summary, "",
             "| gate | figure | threshold | result |", "|---|---:|---:|---|", *rows]
        )  # fmt: skip
    return f"{markdown.rstrip()}\n\n{VALIDATION_MARKER}\n"


def _figure(value: Any) -> str:
    return "n/a" if value is None else f"{value:.4g}" if isinstance(value, float) else str(value)


def report_verdict(
    forge: Forge,
    pr_number: int,
    verdict: Verdict,
    *,
    markdown: str | None = None,
    target_url: str | None = None,
) -> ReportOutcome:
    """Post or edit the one validation comment on ``pr_number`` and set the ``tradeloop/validation`` status.

    Raises
    ------
    tradeloop.errors.ProposalError
        The verdict is for another proposal than the one the pull request carries (hidden metadata).
    """
    pr = forge.get_pr(pr_number)
    carried = (parse_pr_metadata(pr.body) or {}).get("proposal_hash")
    given = verdict.proposal_hash
    if carried and not (given and str(carried).startswith(given)):
        raise ProposalError(
            f"verdict.json: proposal_hash {given!r} is not the {carried!r} that #{pr_number} carries; "
            "report the verdict of this pull request's proposal"
        )
    action = forge.comment_once(pr, VALIDATION_MARKER, verdict_comment(verdict, markdown))
    state: StatusState = "success" if verdict.passed else "failure"
    description = verdict.summary or f"validation {verdict.decision}"
    forge.set_status(
        pr.head_sha, state, context=STATUS_CONTEXT, description=description, target_url=target_url
    )
    return ReportOutcome(pr_number, action, state, pr.head_sha)
