"""``tradeloop pr open | check | proposal | report`` and ``tradeloop rollback``: proposals as PRs."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tradeloop.cli._context import CliContext, get_context, print_check
from tradeloop.errors import SettingsError

if TYPE_CHECKING:
    from tradeloop.loop import ForgeOptions, PrOpenResult

__all__ = ["pr_app", "render_open", "rollback"]

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


def _forge(kind: str | None, remote: str, repository: str | None) -> ForgeOptions:
    from tradeloop.loop import ForgeOptions

    return ForgeOptions(kind, remote, repository)


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
    from tradeloop.loop import PrOpenOptions, pr_open_files

    cli = get_context(ctx)
    options = PrOpenOptions(
        _forge(forge, remote, github_repository), base, tuple(label or ()), max_open_prs, run_url, report_url,
        dry_run,
    )  # fmt: skip
    render_open(cli, pr_open_files(cli.settings, proposal, verdict, options))


def render_open(cli: CliContext, result: PrOpenResult) -> None:
    """``pr open``'s output: the JSON document, or what it did to the pull request and why."""
    if cli.json_output:
        cli.emit_json(result.to_json())
        return
    outcome = result.outcome
    where = f" #{outcome.pr_number} {outcome.url}" if outcome.pr_number else ""
    dry = " (dry run)" if outcome.dry_run and "dry run" not in outcome.reason else ""
    cli.console.print(f"{outcome.action}{where}: {outcome.reason}{dry}")


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
    from tradeloop.loop import pr_check

    cli = get_context(ctx)
    result = pr_check(cli.settings, pr, forge=_forge(forge, remote, github_repository), base=base)
    if cli.json_output:
        cli.emit_json({
            "pr": pr, "passed": result.passed, "manual": result.manual, "violations": result.violations,
            "findings": result.findings, "notes": result.notes,
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
        for note in result.notes:
            cli.console.print(f"  note: {note}")
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
    from tradeloop.loop import PrProposalOptions, pr_proposal

    cli = get_context(ctx)
    options = PrProposalOptions(
        pr, out, _forge(forge, remote, github_repository), base, cadence, data, search_record
    )
    result = pr_proposal(cli.settings, options)
    if cli.json_output:
        cli.emit_json(result.to_json())
        return
    proposal = result.proposal
    moved = ", ".join(f"{c.parameter} {c.current:g} -> {c.proposed:g}" for c in proposal.changes)
    cli.console.print(f"#{pr}: {proposal.strategy}/{proposal.symbol} {moved}; written to {out}")
    cli.console.print(f"search record: {result.record_note}")


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
    from tradeloop.loop import pr_report

    cli = get_context(ctx)
    forge_options = _forge(forge, remote, github_repository)
    result = pr_report(cli.settings, pr, verdict, forge=forge_options, target_url=target_url)
    if cli.json_output:
        cli.emit_json(result.to_json())
        return
    outcome = result.outcome
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
    pair: Annotated[
        str | None,
        typer.Option(
            "--pair",
            help="STRATEGY/SYMBOL: undo that pair's last change only (the computed inverse the monitor "
            "makes), even with later merges of other pairs.",
        ),
    ] = None,
) -> None:
    """Revert a live-state commit (--commit SHA), a merged pull request's merge commit (--pr N), or one
    pair's last change (--pair STRATEGY/SYMBOL): open a pull request, or commit it (--apply); record it."""
    from tradeloop.loop import rollback as rollback_call

    cli = get_context(ctx)
    if pair is not None:
        _rollback_pair(cli, pair, forge, apply, base, reason, remote, github_repository, (commit, pr))
        return
    forge_options = _forge(forge, remote, github_repository)
    result = rollback_call(
        cli.settings, commit=commit, pr=pr, forge=forge_options, apply=apply, base=base, reason=reason
    )
    if cli.json_output:
        cli.emit_json(result.to_json())
        return
    outcome = result.outcome
    where = f" #{outcome.pr_number} {outcome.url}" if outcome.pr_number else f" onto {outcome.base}"
    closed = f"; closed the revert PR #{outcome.closed_pr} it had opened" if outcome.closed_pr else ""
    what = f"the merge commit of #{pr}, {outcome.commit[:12]}," if pr is not None else outcome.commit[:12]
    cli.console.print(f"{outcome.action}{where}: reverts {what} with {outcome.revert_sha[:12]}{closed}")


def _rollback_pair(
    cli: CliContext,
    pair: str,
    forge: str | None,
    apply: bool,
    base: str | None,
    reason: str | None,
    remote: str,
    repository: str | None,
    others: tuple[str | None, int | None],
) -> None:
    from tradeloop import git_sha
    from tradeloop.loop import roll_back_pair

    if others != (None, None):
        raise SettingsError("rollback: --pair undoes one pair's last change; drop --commit and --pr")
    done = roll_back_pair(
        cli.settings, pair, kind=forge, remote=remote, repository=repository, apply=apply,
        base=base or "main", reason=reason, git_sha=git_sha(Path(__file__).resolve().parent),
    )  # fmt: skip
    if cli.json_output:
        cli.emit_json(done.to_dict())
        return
    cli.console.print(done.describe())
