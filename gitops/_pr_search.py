"""The folded "Search and guardrails" part of a pull request body: how the candidates were found.

Only the settings listed here are shown, each with a human label; the Optuna storage is named by its kind
(``local SQLite study``), never by its URL, which holds a local path or credentials.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from gitops._markdown import Block, cell, fmt_count, fmt_sig, table

if TYPE_CHECKING:
    from tradeloop.documents import Proposal, SearchRecordRef

__all__ = ["SEARCH_PRIORITY", "search_blocks", "storage_kind"]

# Cut early when the body is too long (see gitops._pr_body).
SEARCH_PRIORITY = 15


def search_blocks(proposal: Proposal) -> list[Block]:
    search = proposal.search
    if not search:
        return []
    rows = _search_rows(search, proposal.search_record) + _guardrail_rows(proposal.guardrails)
    head, lines = table(("Search and guardrails", "Value"), "ll", rows)
    return [
        Block(
            ["<details><summary>Search and guardrails</summary>", "", *head],
            lines,
            ["", "</details>"],
            priority=SEARCH_PRIORITY,
            name="search",
        )
    ]


def _search_rows(search: Mapping[str, Any], record: SearchRecordRef | None) -> list[tuple[str, str]]:
    settings = search.get("settings") or {}
    rows = [
        ("Sampler", f"`{cell(search['sampler'])}`" if search.get("sampler") else None),
        ("Objective", f"`{cell(search['objective'])}`" if search.get("objective") else None),
        ("Stage B trials", fmt_count(search["trials"]) if search.get("trials") is not None else None),
        ("Stage A prescreen", _prescreen(settings)),
        ("Seed", fmt_count(search["seed"]) if search.get("seed") is not None else None),
        ("Optuna study", f"`{cell(search['study'])}`" if search.get("study") else None),
        ("Study storage", storage_kind(search.get("storage"))),
        ("Search record", _record(record)),
    ]
    return [(label, value) for label, value in rows if value]


def _prescreen(settings: Mapping[str, Any]) -> str | None:
    if not settings.get("prescreen_n"):
        return None
    method = f" ({cell(settings['prescreen_method'])})" if settings.get("prescreen_method") else ""
    return f"{fmt_count(settings['prescreen_n'])} configurations{method}"


def _record(record: SearchRecordRef | None) -> str | None:
    if record is None:
        return None
    stages = record.stages or {}
    per_stage = ", ".join(f"stage {cell(stage)} {fmt_count(count)}" for stage, count in stages.items())
    digest = f", SHA-256 `{cell(record.sha256)[:12]}`" if record.sha256 else ""
    return (
        f"{fmt_count(record.configurations)} configurations"
        + (f" ({per_stage})" if per_stage else "")
        + digest
    )


def storage_kind(url: Any) -> str | None:
    """The kind of Optuna storage, never its location: local paths and credentials stay out of the body."""
    if not isinstance(url, str) or not url:
        return None
    scheme = url.split(":", 1)[0].split("+", 1)[0].lower()
    kinds = {"sqlite": "local SQLite study", "postgresql": "shared PostgreSQL study", "mysql": "MySQL study"}
    if scheme in kinds:
        return kinds[scheme]
    return "in memory" if url in ("memory", ":memory:") else None


def _guardrail_rows(guardrails: Mapping[str, Any]) -> list[tuple[str, str]]:
    budget = guardrails.get("change_budget")
    rows = [
        ("Largest move per cycle", _share(guardrails.get("max_delta"), "of the current value", "±")),
        ("Parameters moved per cycle", _at_most(guardrails.get("max_knobs"))),
        ("Cooldown after an applied change", _hours(guardrails.get("cooldown_hours"))),
        ("Change budget", _budget(budget)),
        ("Minimum trades", fmt_count(guardrails["min_trades"]) if guardrails.get("min_trades") else None),
        ("Holdout", _share(guardrails.get("holdout_fraction"), "of the bars, at the end", "the last ")),
    ]
    return [(label, value) for label, value in rows if value]


def _share(fraction: Any, what: str, prefix: str) -> str | None:
    return None if not isinstance(fraction, int | float) else f"{prefix}{fmt_sig(fraction * 100)} % {what}"


def _at_most(count: Any) -> str | None:
    return None if count is None else f"at most {fmt_count(count)}"


def _hours(hours: Any) -> str | None:
    return None if hours is None else f"{fmt_sig(hours)} h"


def _budget(budget: Any) -> str | None:
    if (
        not isinstance(budget, Mapping)
        or budget.get("max_changes") is None
        or budget.get("window_hours") is None
    ):
        return None
    counts = cell(budget.get("counts") or "changes")
    return f"{fmt_count(budget['max_changes'])} {counts} per {fmt_sig(budget['window_hours'])} h"
