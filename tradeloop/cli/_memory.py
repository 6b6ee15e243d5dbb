"""``tradeloop state memory``: the guardrail memory per live pair.

The memory comes from the history of the live state files on a branch of the repository (``--repo``) and
from the forge's closed pull requests (:func:`tradeloop.loop.guardrail_memory`, which also mirrors it into
the warehouse for reports).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer

from tradeloop.cli._context import CliContext, get_context

if TYPE_CHECKING:
    from gitops import GuardrailMemory, LiveConstants, StateChange, StateVersion

__all__ = ["show_memory"]


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
    from tradeloop.loop import guardrail_memory, reading_forge

    cli = get_context(ctx)
    constants = load_constants(cli.settings.constants_path)
    memory = guardrail_memory(cli.settings, base=base, forge=reading_forge(cli.settings, forge))
    pairs = [
        _pair_report(cli, memory, constants, s, y)
        for s, symbols in constants.live_params.items()
        for y in symbols
    ]
    if cli.json_output:
        cli.emit_json({"head": memory.head, "now": cli.settings.current_time().isoformat(), "pairs": pairs,
                       "unreadable": [f"{_commit(v)}: {v.problem}" for v in memory.unreadable]})  # fmt: skip
        return
    for pair in pairs:
        cli.console.print(f"[bold]{pair['strategy']}/{pair['symbol']}[/bold]: {pair['status']}")
        for change in pair["changes"][-3:]:
            cli.console.print(f"  {change['kind']} {change['description']}")
        for rejection in pair["refused"]:
            cli.console.print(f"  [yellow]never again[/yellow] {rejection}")
    for line in _skipped_commits(memory.unreadable):
        cli.console.print(line, style="dim", markup=False)


_LINE = re.compile(r" \(line \d+\)")


def _commit(version: StateVersion) -> str:
    return f"{version.commit[:12]} ({version.at.isoformat()})"


def _skipped_commits(unreadable: tuple[StateVersion, ...]) -> list[str]:
    """One line per reason for the commits whose constants this tradeloop cannot read (an older layout, as a
    long history has): how many, the first and the last, and what that means for the memory."""
    by_problem: dict[str, list[str]] = {}
    for version in unreadable:
        by_problem.setdefault(_LINE.sub("", version.problem or ""), []).append(_commit(version))
    lines = []
    for problem, commits in by_problem.items():
        which = commits[0] if len(commits) == 1 else f"{len(commits)} commits, {commits[0]} to {commits[-1]}"
        lines.append(
            f"skipped {which}: {problem}; a change they made counts from the next commit that can be read"
        )
    return lines


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
