"""``tradeloop pr open | check | proposal | report`` and ``tradeloop rollback``: proposals as PRs."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tradeloop._atomic import atomic_write_text
from tradeloop.cli._context import CliContext, get_context, print_check
from tradeloop.errors import ForgeError, ProposalError, SettingsError

if TYPE_CHECKING:
    from gitops import Forge

__all__ = ["pr_app", "rollback"]

pr_app = typer.Typer(
    help="Proposals as pull requests: open or update one, check one, report a verdict on one.",
    no_args_is_help=True,
)

ForgeOpt = Annotated[
    str | None,
    typer.Option("--forge", help="github or local. \\[default: github when a token is set, else local]",
                 show_default=False),
]  # fmt: skip
BaseOpt = Annotated[str | None, typer.Option("--base", help="Base branch. \\[default: main / the PR's base]")]
RemoteOpt = Annotated[
    str,
    typer.Option("--remote", envvar="TRADELOOP_GIT_REMOTE", help="Git remote the github forge pushes to."),
]
RepositoryOpt = Annotated[
    str | None,
    typer.Option("--github-repository", help="OWNER/NAME on GitHub. \\[default: $GITHUB_REPOSITORY]",
                 show_default=False),
]  # fmt: skip


def _forge(
    cli: CliContext, kind: str | None, remote: str, repository: str | None, run_dir: Path | None = None
) -> Forge:
    from gitops import GitHubForge, LocalForge, github_token

    chosen = kind or ("github" if github_token() else "local")
    if chosen == "github":
        return GitHubForge(cli.settings.repo, repository=repository, remote=remote)
    if chosen == "local":
        return LocalForge(cli.settings.repo, home=cli.settings.home, run_dir=run_dir)
    raise ForgeError(f"--forge {kind!r} is not a forge; use github or local")


@pr_app.command("open")
def open_pr(
    ctx: typer.Context,
    proposal: Annotated[
        Path, typer.Option("--proposal", help="proposal.json written by `tradeloop propose`.")
    ],
    verdict: Annotated[
        Path | None, typer.Option("--verdict", help="verdict.json of `tradeloop validate`.")
    ] = None,
    forge: ForgeOpt = None,
    base: BaseOpt = None,
    label: Annotated[list[str] | None, typer.Option("--label", help="Extra label (repeatable).")] = None,
    max_open_prs: Annotated[
        int, typer.Option("--max-open-prs", min=1, help="Most auto-PRs open at once.")
    ] = 5,
    run_url: Annotated[str | None, typer.Option("--run-url", help="Link to the workflow run.")] = None,
    report_url: Annotated[str | None, typer.Option("--report-url", help="Link to the report.")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Decide and build the commit; change nothing.")
    ] = False,
    remote: RemoteOpt = "origin",
    github_repository: RepositoryOpt = None,
) -> None:
    """Create, update or close the proposal's pull request (Renovate's manners); report what it did."""
    from gitops import load_proposal, load_verdict, publish_proposal

    cli = get_context(ctx)
    document = load_proposal(proposal)
    checked_verdict = load_verdict(verdict) if verdict else None
    run_url = run_url or _actions_run_url()
    target = _forge(cli, forge, remote, github_repository, cli.settings.run_dir(document["run_id"]))
    outcome = publish_proposal(
        target, document, checked_verdict, base=base or "main", labels=label or [], max_open_prs=max_open_prs,
        dry_run=dry_run, run_url=run_url, report_url=report_url,
    )  # fmt: skip
    if outcome.action in ("created", "updated") and not dry_run:
        _record_opened(cli, document, outcome.pr_number, outcome.url)
    if cli.json_output:
        cli.emit_json({"forge": target.kind, **outcome.as_dict()})
        return
    where = f" #{outcome.pr_number} {outcome.url}" if outcome.pr_number else ""
    cli.console.print(f"{outcome.action}{where}: {outcome.reason}" + (" (dry run)" if dry_run else ""))


@pr_app.command("check")
def check_pr(
    ctx: typer.Context,
    pr: Annotated[int, typer.Option("--pr", help="Pull request number.")],
    forge: ForgeOpt = None,
    base: BaseOpt = None,
    remote: RemoteOpt = "origin",
    github_repository: RepositoryOpt = None,
) -> None:
    """Exit 1 when the PR changes what an auto-PR may not change, or moves a parameter past its cap or bounds.

    A PR labelled tradeloop:manual is a person's change: only the allowlist and the validity of the two
    state files decide; what a bot change would be refused for is listed as findings.
    """
    from gitops import check_pull_request

    cli = get_context(ctx)
    result = check_pull_request(_forge(cli, forge, remote, github_repository), pr, base=base)
    if cli.json_output:
        cli.emit_json({
            "pr": pr, "passed": result.passed, "manual": result.manual, "violations": result.violations,
            "findings": result.findings,
            "files": [{"status": f.status, "path": f.path} for f in result.files],
            "moves": [vars(move) for move in result.moves],
        })  # fmt: skip
    elif not result.passed:
        print_check(cli, False, f"#{pr}: {len(result.violations)} violation(s)", result.violations)
    elif result.manual:
        cli.console.print(
            f"[yellow]MANUAL[/yellow] #{pr}: labelled tradeloop:manual, judged as a person's change: both "
            f"state files are valid; {len(result.findings)} finding(s) a bot change would be refused for"
        )
        for finding in result.findings:
            cli.console.print(f"  [yellow]finding[/yellow] {finding}")
    else:
        counts = f"{len(result.files)} file(s), {len(result.moves)} move(s)"
        print_check(cli, True, f"#{pr}: {counts} within the allowlist, caps and bounds", ())
    if not result.passed:
        raise typer.Exit(1)


@pr_app.command("proposal")
def proposal_pr(
    ctx: typer.Context,
    pr: Annotated[int, typer.Option("--pr", help="Pull request number.")],
    out: Annotated[Path, typer.Option("--out", help="Where to write the proposal JSON.", dir_okay=False)],
    forge: ForgeOpt = None,
    base: BaseOpt = None,
    cadence: Annotated[
        str, typer.Option("--cadence", help="Window of the backtests: 6h, daily or weekly.")
    ] = "weekly",
    data: Annotated[
        str | None, typer.Option("--data", "-d", help="Data source. \\[default: matrix.yaml symbols]")
    ] = None,
    remote: RemoteOpt = "origin",
    github_repository: RepositoryOpt = None,
    search_record: Annotated[
        Path | None,
        typer.Option(
            "--search-record",
            help="The optimizer job's search record artifact (checked against the SHA-256 the PR names). "
            "\\[default: rerun the PR's seeded search and keep the record if it matches]",
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Build proposal.json (contract 2) from the PR's live-parameter change, for `tradeloop validate`."""
    from gitops import changed_live_pair, pr_constants, proposal_from_pr
    from optimizer import CADENCE_HOURS
    from tradeloop._provenance import Provenance, json_safe, utc_now
    from tradeloop.cli._data import _load
    from tradeloop.cli._propose import _source

    cli = get_context(ctx)
    if cadence not in CADENCE_HOURS:
        raise ProposalError(f"--cadence {cadence!r} is unknown; use one of {', '.join(CADENCE_HOURS)}")
    found = pr_constants(_forge(cli, forge, remote, github_repository), pr, base=base)
    _, symbol, timeframe = changed_live_pair(found.base, found.head, f"pull request #{pr}")
    loaded = _load(
        cli, _source(found.base, symbol, data, None), check=True, timeframe=timeframe, days=None, bars=None,
        seed=0, start=None, mapping=None, timestamp_column=None, unit="auto", tz="UTC",
    )  # fmt: skip
    provenance = Provenance.capture(cli.settings.repo)
    rebuilt = proposal_from_pr(
        found, bars=loaded.bars, cadence=cadence, run_id=provenance.run_id, git_sha=provenance.git_sha,
        data={"source": loaded.source, "timeframe": loaded.timeframe, "data_hash": loaded.data_hash},
        now=utc_now(), record_file=search_record,
    )  # fmt: skip
    document = rebuilt.document
    out.parent.mkdir(parents=True, exist_ok=True)
    if rebuilt.record is not None:
        rebuilt.record.write(out.parent / document["search_record"]["path"])
    atomic_write_text(out, json.dumps(json_safe(document), indent=2, allow_nan=False) + "\n")
    if cli.json_output:
        cli.emit_json({"pr": pr, "proposal": str(out), "proposal_hash": document["proposal_hash"],
                       "changes": document["changes"], "search_record": rebuilt.record_note})  # fmt: skip
        return
    moved = ", ".join(f"{c['parameter']} {c['current']:g} -> {c['proposed']:g}" for c in document["changes"])
    cli.console.print(f"#{pr}: {document['strategy']}/{document['symbol']} {moved}; written to {out}")
    cli.console.print(f"search record: {rebuilt.record_note}")


@pr_app.command("report")
def report_pr(
    ctx: typer.Context,
    pr: Annotated[int, typer.Option("--pr", help="Pull request number.")],
    verdict: Annotated[Path, typer.Option("--verdict", help="verdict.json (verdict.md beside it is used).")],
    forge: ForgeOpt = None,
    target_url: Annotated[str | None, typer.Option("--target-url", help="Link of the status.")] = None,
    remote: RemoteOpt = "origin",
    github_repository: RepositoryOpt = None,
) -> None:
    """Post or update the one validation comment on the PR and set the tradeloop/validation status."""
    from gitops import load_verdict, report_verdict

    cli = get_context(ctx)
    document = load_verdict(verdict)
    markdown_path = verdict.with_name("verdict.md")
    markdown = markdown_path.read_text() if markdown_path.exists() else None
    target = _forge(cli, forge, remote, github_repository)
    outcome = report_verdict(
        target, pr, document, markdown=markdown, target_url=target_url or _actions_run_url()
    )
    if cli.json_output:
        cli.emit_json({"forge": target.kind, **outcome.as_dict()})
        return
    cli.console.print(f"#{pr}: comment {outcome.comment}, status tradeloop/validation = {outcome.state}")


def rollback(
    ctx: typer.Context,
    commit: Annotated[
        str | None, typer.Option("--commit", help="The commit (or merge commit) to revert.")
    ] = None,
    pr: Annotated[
        int | None,
        typer.Option("--pr", help="A merged pull request: revert its merge commit, found through the forge."),
    ] = None,
    forge: ForgeOpt = None,
    apply: Annotated[
        bool, typer.Option("--apply", help="Commit the revert onto the base instead of opening a PR.")
    ] = False,
    base: BaseOpt = None,
    reason: Annotated[
        str | None, typer.Option("--reason", help="Why; goes to the PR and the warehouse.")
    ] = None,
    remote: RemoteOpt = "origin",
    github_repository: RepositoryOpt = None,
) -> None:
    """Revert a live-state commit (--commit SHA) or a merged pull request's merge commit (--pr N): open a
    revert PR, or commit the revert (--apply); record it."""
    from gitops import record_rollback, rollback_commit, rollback_pull_request
    from warehouse import get_warehouse

    cli = get_context(ctx)
    if pr is not None and commit is None:
        target = _forge(cli, forge, remote, github_repository)
        outcome = rollback_pull_request(target, pr, base=base, apply=apply, reason=reason)
    elif commit is not None and pr is None:
        target = _forge(cli, forge, remote, github_repository)
        outcome = rollback_commit(target, commit, base=base or "main", apply=apply, reason=reason)
    else:
        raise SettingsError(
            "rollback: name what to revert with exactly one of --commit SHA or --pr N "
            f"(got {'both' if commit else 'neither'}); e.g. `tradeloop rollback --pr 12`"
        )
    reverted = record_rollback(get_warehouse(cli.settings), outcome, reason)
    if cli.json_output:
        cli.emit_json({"forge": target.kind, "proposals_reverted": reverted, "pr": pr, **outcome.as_dict()})
        return
    where = f" #{outcome.pr_number} {outcome.url}" if outcome.pr_number else f" onto {outcome.base}"
    closed = f"; closed the revert PR #{outcome.closed_pr} it had opened" if outcome.closed_pr else ""
    what = f"the merge commit of #{pr}, {outcome.commit[:12]}," if pr is not None else outcome.commit[:12]
    cli.console.print(f"{outcome.action}{where}: reverts {what} with {outcome.revert_sha[:12]}{closed}")


def _record_opened(cli: CliContext, proposal: dict[str, Any], number: int | None, url: str | None) -> None:
    """The warehouse's mirror of the memory: the proposal's rows are ``opened`` (inserted if missing)."""
    from gitops import record_proposal
    from warehouse import get_warehouse

    with get_warehouse(cli.settings.warehouse_url) as warehouse:
        record_proposal(
            warehouse,
            proposal,
            outcome="opened",
            pr_number=number,
            pr_url=url,
            at=cli.settings.current_time(),
        )


def _actions_run_url() -> str | None:
    """The workflow run's URL inside GitHub Actions, else ``None``."""
    parts = [os.environ.get(name) for name in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")]
    return f"{parts[0]}/{parts[1]}/actions/runs/{parts[2]}" if all(parts) else None
