"""The guardrail memory in the CLI: read it for ``propose`` and ``pr open``, show it with ``state memory``.

The memory comes from the history of the live state files on a branch of the repository (``--repo``) and
from the forge's closed pull requests (:mod:`gitops._memory`); every command that reads it also mirrors it
into the warehouse for reports.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tradeloop.cli._context import CliContext, get_context

if TYPE_CHECKING:
    from gitops import Forge, GuardrailMemory, LiveConstants, StateChange

__all__ = ["guardrail_memory", "reading_forge", "settle_proposal", "show_memory"]


def reading_forge(cli: CliContext, kind: str | None) -> Forge | None:
    """The forge whose closed pull requests count as declined: ``--forge``, else the one ``pr open`` uses.

    Without ``--forge`` and with a GitHub token but no repository named, there is none to read (``pr open``
    still refuses a declined proposal).
    """
    import os

    from gitops import GitHubForge, LocalForge, github_token

    chosen = kind or ("github" if github_token() else "local")
    if chosen == "local":
        return LocalForge(cli.settings.repo, home=cli.settings.home)
    if kind is None and not os.environ.get("GITHUB_REPOSITORY"):
        return None
    return GitHubForge(cli.settings.repo)


def guardrail_memory(cli: CliContext, *, base: str = "HEAD", forge: Forge | None = None) -> GuardrailMemory:
    """The memory of ``base`` in the repository, mirrored into the warehouse."""
    from gitops import read_memory, record_memory
    from warehouse import get_warehouse

    memory = read_memory(cli.settings.repo, base, forge=forge)
    with get_warehouse(cli.settings.warehouse_url) as warehouse:
        record_memory(warehouse, memory)
    return memory


def settle_proposal(cli: CliContext, proposal: dict[str, Any], memory: GuardrailMemory) -> dict[str, Any]:
    """``proposal``, withheld when the memory forbids it (declined or rolled back before), and recorded."""
    from gitops import record_proposal, withhold_proposal
    from warehouse import get_warehouse

    rejection = memory.rejection_for(proposal) if proposal["status"] == "proposed" else None
    if rejection is not None:
        proposal = withhold_proposal(proposal, rejection.reason())
    with get_warehouse(cli.settings.warehouse_url) as warehouse:
        record_proposal(warehouse, proposal, at=cli.settings.current_time())
    return proposal


def show_memory(
    ctx: typer.Context,
    base: Annotated[str, typer.Option("--base", help="Branch (or commit) whose history is read.")] = "HEAD",
    forge: Annotated[
        str | None,
        typer.Option("--forge", help="github or local: whose closed PRs count as declined. \\[default: auto]",
                     show_default=False),
    ] = None,
) -> None:  # fmt: skip
    """Show the guardrail memory per live pair: last change, cooldown, change budget, refused proposals."""
    from gitops import load_constants

    cli = get_context(ctx)
    constants = load_constants(cli.settings.constants_path)
    memory = guardrail_memory(cli, base=base, forge=reading_forge(cli, forge))
    pairs = [
        _pair_report(cli, memory, constants, s, y)
        for s, symbols in constants.live_params.items()
        for y in symbols
    ]
    if cli.json_output:
        cli.emit_json({"head": memory.head, "now": cli.settings.current_time().isoformat(), "pairs": pairs,
                       "unreadable": list(memory.unreadable)})  # fmt: skip
        return
    for pair in pairs:
        cli.console.print(f"[bold]{pair['strategy']}/{pair['symbol']}[/bold]: {pair['status']}")
        for change in pair["changes"][-3:]:
            cli.console.print(f"  {change['kind']} {change['description']}")
        for rejection in pair["refused"]:
            cli.console.print(f"  [yellow]never again[/yellow] {rejection}")
    for line in memory.unreadable:
        cli.console.print(f"[dim]skipped {line}[/dim]")


def _pair_report(
    cli: CliContext, memory: GuardrailMemory, constants: LiveConstants, strategy: str, symbol: str
) -> dict[str, Any]:
    from optimizer import ChangeBudget, blocking_reason

    now = cli.settings.current_time()
    budget = ChangeBudget(constants.optimizer_change_budget, constants.optimizer_budget_window_hours)
    history = memory.applied_changes()
    reason, remaining = blocking_reason(
        history, strategy, symbol, now, constants.optimizer_cooldown_hours, budget
    )
    window_start = now - timedelta(hours=budget.window_hours)
    used = sum(
        len(c.parameters)
        for c in history
        if (c.strategy, c.symbol) == (strategy, symbol) and c.applied_at > window_start
    )
    changes = memory.changes_of(strategy, symbol)
    refused = [r for r in memory.rejections if (r.strategy, r.symbol) == (strategy, symbol)]
    return {
        "strategy": strategy, "symbol": symbol,
        "status": reason or f"free: {remaining} of {budget.max_changes} parameter changes left in the budget",
        "blocked": reason is not None, "budget_used": used, "budget": budget.max_changes,
        "changes": [_change_document(c) for c in changes],
        "refused": [r.reason() for r in refused],
    }  # fmt: skip


def _change_document(change: StateChange) -> Mapping[str, Any]:
    return {
        "kind": change.kind, "commit": change.commit, "at": change.at.isoformat(),
        "pr_number": change.pr_number,
        "parameters": {name: list(values) for name, values in change.parameters.items()},
        "proposal_hash": change.identity_after, "config_hash": change.config_hash_after,
        "reverts": list(change.reverts), "description": change.describe(),
    }  # fmt: skip
