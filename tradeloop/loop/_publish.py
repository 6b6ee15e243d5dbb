"""The pull request calls: ``pr open`` (publish a proposal with its verdict), ``pr proposal`` (rebuild the
proposal of a pull request for validation) and ``pr report`` (the verdict on the pull request)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tradeloop._atomic import atomic_write_text
from tradeloop._provenance import Provenance, json_safe, utc_now
from tradeloop._settings import Settings
from tradeloop.documents import Proposal, Verdict
from tradeloop.errors import ProposalError, SettingsError
from tradeloop.loop._common import actions_run_url, load_source, make_forge, matrix_path, pair_source

if TYPE_CHECKING:
    from gitops import PrCheck, PublishOutcome, ReportOutcome, RollbackOutcome
    from optimizer import SearchRecord

__all__ = [
    "ForgeOptions",
    "PrOpenOptions",
    "PrOpenResult",
    "PrProposalOptions",
    "PrProposalResult",
    "PrReportResult",
    "RollbackResult",
    "pr_check",
    "pr_open",
    "pr_open_files",
    "pr_proposal",
    "pr_report",
    "rollback",
]


@dataclass(frozen=True)
class ForgeOptions:
    """Which forge: ``github`` or ``local`` (None: github when a token is set), its git remote, the
    repository on GitHub (None: ``$GITHUB_REPOSITORY``)."""

    kind: str | None = None
    remote: str = "origin"
    repository: str | None = None


@dataclass(frozen=True)
class PrOpenOptions:
    """How to publish (``tradeloop pr open``'s options)."""

    forge: ForgeOptions = ForgeOptions()
    base: str | None = None
    labels: tuple[str, ...] = ()
    max_open_prs: int = 5
    run_url: str | None = None
    report_url: str | None = None
    dry_run: bool = False


@dataclass(frozen=True)
class PrOpenResult:
    """What publishing did to the proposal's pull request (created, updated, closed or none), and where."""

    forge: str
    outcome: PublishOutcome

    def to_json(self) -> dict[str, Any]:
        """``tradeloop pr open --json``."""
        return {"forge": self.forge, **self.outcome.as_dict()}


def pr_open_files(
    settings: Settings, proposal: Path, verdict: Path | None, options: PrOpenOptions = PrOpenOptions()
) -> PrOpenResult:
    """:func:`pr_open` on ``proposal.json`` and ``verdict.json`` files (each read and checked once here)."""
    return pr_open(settings, Proposal.read(proposal), Verdict.read(verdict) if verdict else None, options)


def pr_open(
    settings: Settings, proposal: Proposal, verdict: Verdict | None, options: PrOpenOptions = PrOpenOptions()
) -> PrOpenResult:
    """Create, update or close the proposal's pull request (Renovate's manners); record an opened one in the
    warehouse. The run's URL defaults to the GitHub Actions run this runs in."""
    from gitops import publish_proposal, record_proposal
    from warehouse import get_warehouse

    f = options.forge
    target = make_forge(settings, f.kind, remote=f.remote, repository=f.repository,
                        run_dir=settings.run_dir(proposal.run_id))  # fmt: skip
    outcome = publish_proposal(
        target, proposal, verdict, base=options.base or "main", labels=list(options.labels),
        max_open_prs=options.max_open_prs, dry_run=options.dry_run,
        run_url=options.run_url or actions_run_url(), report_url=options.report_url,
    )  # fmt: skip
    if outcome.action in ("created", "updated") and not options.dry_run:
        with get_warehouse(settings.warehouse_url) as warehouse:  # the warehouse mirrors the memory
            record_proposal(
                warehouse, proposal, outcome="opened", pr_number=outcome.pr_number, pr_url=outcome.url,
                at=settings.current_time(),
            )  # fmt: skip
    return PrOpenResult(target.kind, outcome)


@dataclass(frozen=True)
class PrProposalOptions:
    """Which pull request, where its proposal goes (``tradeloop pr proposal``'s options)."""

    pr: int
    out: Path
    forge: ForgeOptions = ForgeOptions()
    base: str | None = None
    cadence: str = "weekly"
    data: str | None = None
    search_record: Path | None = None


@dataclass(frozen=True)
class PrProposalResult:
    """The proposal rebuilt from a pull request, its search record (None: the holdout alone) and why."""

    pr: int
    proposal: Proposal
    record: SearchRecord | None
    record_note: str
    out: Path

    def to_json(self) -> dict[str, Any]:
        """``tradeloop pr proposal --json``."""
        return {
            "pr": self.pr, "proposal": str(self.out), "proposal_hash": self.proposal.proposal_hash,
            "changes": [change.to_json() for change in self.proposal.changes],
            "search_record": self.record_note,
        }  # fmt: skip


def pr_proposal(settings: Settings, options: PrProposalOptions) -> PrProposalResult:
    """Build ``proposal.json`` (contract 2) from the pull request's live-parameter change, for validation."""
    from gitops import changed_live_pair, pr_constants, proposal_from_pr
    from optimizer import CADENCE_HOURS

    if options.cadence not in CADENCE_HOURS:
        raise ProposalError(
            f"--cadence {options.cadence!r} is unknown; use one of {', '.join(CADENCE_HOURS)}"
        )
    f = options.forge
    forge = make_forge(settings, f.kind, remote=f.remote, repository=f.repository)
    found = pr_constants(forge, options.pr, base=options.base)
    _, symbol, timeframe = changed_live_pair(found.base, found.head, f"pull request #{options.pr}")
    loaded = load_source(
        settings, pair_source(found.base, symbol, options.data, matrix_path(settings)), timeframe
    )
    provenance = Provenance.capture(settings.repo)
    rebuilt = proposal_from_pr(
        found, bars=loaded.bars, cadence=options.cadence, run_id=provenance.run_id,
        git_sha=provenance.git_sha,
        data={"source": loaded.source, "timeframe": loaded.timeframe, "data_hash": loaded.data_hash},
        now=utc_now(), record_file=options.search_record,
    )  # fmt: skip
    proposal, out = rebuilt.proposal, options.out
    out.parent.mkdir(parents=True, exist_ok=True)
    if rebuilt.record is not None and proposal.search_record is not None:
        rebuilt.record.write(out.parent / proposal.search_record.path)
    atomic_write_text(out, json.dumps(json_safe(proposal.to_json()), indent=2, allow_nan=False) + "\n")
    return PrProposalResult(options.pr, proposal, rebuilt.record, rebuilt.record_note, out)


@dataclass(frozen=True)
class PrReportResult:
    """The validation comment and status set on a pull request."""

    forge: str
    outcome: ReportOutcome

    def to_json(self) -> dict[str, Any]:
        """``tradeloop pr report --json``."""
        return {"forge": self.forge, **self.outcome.as_dict()}


def pr_report(
    settings: Settings,
    pr: int,
    verdict: Path,
    *,
    forge: ForgeOptions = ForgeOptions(),
    target_url: str | None = None,
) -> PrReportResult:
    """Post or update the one validation comment on ``pr`` from ``verdict.json`` (and ``verdict.md`` beside
    it) and set the ``tradeloop/validation`` status."""
    from gitops import report_verdict

    document = Verdict.read(verdict)
    markdown_path = verdict.with_name("verdict.md")
    markdown = markdown_path.read_text() if markdown_path.exists() else None
    target = make_forge(settings, forge.kind, remote=forge.remote, repository=forge.repository)
    outcome = report_verdict(
        target, pr, document, markdown=markdown, target_url=target_url or actions_run_url()
    )
    return PrReportResult(target.kind, outcome)


def pr_check(
    settings: Settings, pr: int, *, forge: ForgeOptions = ForgeOptions(), base: str | None = None
) -> PrCheck:
    """``tradeloop pr check``: the pull request's state files held to the readers' checks, the caps, the
    bounds and the allowlist, before any of its code runs."""
    from gitops import check_pull_request

    target = make_forge(settings, forge.kind, remote=forge.remote, repository=forge.repository)
    return check_pull_request(target, pr, base=base)


@dataclass(frozen=True)
class RollbackResult:
    """The revert (a pull request, or a commit on the base) and the proposals it marked reverted."""

    forge: str
    pr: int | None
    outcome: RollbackOutcome
    proposals_reverted: int

    def to_json(self) -> dict[str, Any]:
        """``tradeloop rollback --json``."""
        return {
            "forge": self.forge, "proposals_reverted": self.proposals_reverted, "pr": self.pr,
            **self.outcome.as_dict(),
        }  # fmt: skip


def rollback(
    settings: Settings,
    *,
    commit: str | None = None,
    pr: int | None = None,
    forge: ForgeOptions = ForgeOptions(),
    apply: bool = False,
    base: str | None = None,
    reason: str | None = None,
) -> RollbackResult:
    """Revert a live-state ``commit``, or the merge commit of the merged pull request ``pr``: open a revert
    pull request, or commit the revert (``apply``); record it in the warehouse."""
    from gitops import record_rollback, rollback_commit, rollback_pull_request
    from warehouse import get_warehouse

    if (commit is None) == (pr is None):
        raise SettingsError(
            "rollback: name what to revert with exactly one of --commit SHA or --pr N "
            f"(got {'both' if commit else 'neither'}), or undo one pair's last change with --pair "
            "STRATEGY/SYMBOL; e.g. `tradeloop rollback --pr 12`"
        )
    target = make_forge(settings, forge.kind, remote=forge.remote, repository=forge.repository)
    if pr is not None:
        outcome = rollback_pull_request(target, pr, base=base, apply=apply, reason=reason)
    else:
        assert commit is not None
        outcome = rollback_commit(target, commit, base=base or "main", apply=apply, reason=reason)
    reverted = record_rollback(get_warehouse(settings), outcome, reason)
    return RollbackResult(target.kind, pr, outcome, reverted)
