"""The proposal (contract 2, :class:`tradeloop.documents.Proposal`) and its summary (``proposal.md``)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from optimizer._analyzer import Flag
from optimizer._proposal import BoundedProposal
from optimizer._regime_kpis import regime_kpis
from tradeloop import json_safe
from tradeloop.documents import (
    PROPOSAL_KIND,
    PROPOSAL_SCHEMA_VERSION,
    Proposal,
    SearchRecordRef,
    proposal_hash,
)

__all__ = [
    "PROPOSAL_KIND",
    "PROPOSAL_SCHEMA_VERSION",
    "build_proposal",
    "kpi_block",
    "proposal_hash",
    "rationale_summary",
    "render_proposal_markdown",
]

MAX_CANDIDATES = 200
_SHOWN_KPIS = (
    ("return_pct", "%"), ("cagr_pct", "%/year"), ("sharpe", "annualised"), ("sortino", "annualised"),
    ("max_drawdown_pct", "%"), ("win_rate_pct", "%"), ("profit_factor", "ratio"), ("trades", "count"),
    ("worst_day_pct", "%"),
)  # fmt: skip


def kpi_block(
    kpis: Mapping[str, float], returns: pd.Series, labels: pd.Series, periods_per_year: float
) -> dict[str, Any]:
    """``{"overall": KPIs, "regimes": regime -> {bars, return_pct, sharpe, max_drawdown_pct}}``."""
    return {"overall": dict(kpis), "regimes": regime_kpis(returns, labels, periods_per_year)}


def rationale_summary(
    flags: Sequence[Flag], bounded: BoundedProposal, cadence: str, has_history: bool
) -> str:
    """One paragraph: why this cell was optimised and what came out."""
    if flags:
        why = "flagged: " + "; ".join(f"{flag.kind} ({flag.metric} {flag.figure:.4g})" for flag in flags)
    elif has_history:
        why = f"scheduled by the {cadence} cadence (no flag raised)"
    else:
        why = f"scheduled by the {cadence} cadence (no matrix history in the warehouse yet)"
    if bounded.status == "no_change":
        return f"{why}. No change: {bounded.reason}."
    moved = ", ".join(f"{c.parameter} {c.current:g} -> {c.proposed:g}" for c in bounded.changes)
    return f"{why}. Proposed: {moved}."


def build_proposal(
    *,
    bounded: BoundedProposal,
    header: Mapping[str, Any],
    data: Mapping[str, Any],
    kpis_before: Mapping[str, Any],
    kpis_after: Mapping[str, Any],
    flags: Sequence[Flag],
    summary: str,
    search: Mapping[str, Any],
    candidates: Sequence[Mapping[str, Any]],
    guardrails: Mapping[str, Any],
    config_hashes: tuple[str, str],
    holdout: Mapping[str, Any] | None = None,
    search_record: SearchRecordRef | None = None,
) -> Proposal:
    """The contract-2 proposal, checked like every proposal (:meth:`tradeloop.documents.Proposal.from_json`).

    ``header`` holds ``run_id``, ``git_sha``, ``created_at``, ``strategy``, ``symbol``, ``timeframe`` and
    ``cadence``; ``config_hashes`` the config hash before and after; ``holdout`` the boundary the search
    stopped at (:meth:`optimizer.HoldoutSplit.as_dict`) and ``search_record`` where the record of every
    configuration tried is (:func:`optimizer.record_reference`), each None when there is none.
    """
    strategy, symbol, timeframe = header["strategy"], header["symbol"], header["timeframe"]
    document: dict[str, Any] = {
        "schema_version": PROPOSAL_SCHEMA_VERSION,
        "kind": PROPOSAL_KIND,
        **{key: header[key] for key in ("run_id", "git_sha", "created_at", "strategy", "symbol")},
        "timeframe": timeframe,
        "cadence": header["cadence"],
        "data": dict(data),
        "status": bounded.status,
        "reason": bounded.reason,
        "proposal_hash": proposal_hash(strategy, symbol, timeframe, bounded.params_after),
        "config_hash_before": config_hashes[0],
        "config_hash_after": config_hashes[1],
        "params_before": dict(bounded.params_before),
        "params_after": dict(bounded.params_after),
        "changes": [change.as_dict() for change in bounded.changes],
        "kpis_before": dict(kpis_before),
        "kpis_after": dict(kpis_after),
        "rationale": {"summary": summary, "flags": [flag.as_dict() for flag in flags]},
        "search": dict(search),
        "candidates": [
            {"params": dict(c["params"]), "objective": c["objective"]} for c in candidates[:MAX_CANDIDATES]
        ],
        "guardrails": dict(guardrails),
        "holdout": None if holdout is None else dict(holdout),
        "search_record": None if search_record is None else search_record.to_json(),
    }
    return Proposal.from_json(json_safe(document), "proposal.json")


def _number(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return f"{value:,.{digits}g}" if isinstance(value, float) else str(value)


def render_proposal_markdown(proposal: Proposal) -> str:
    """The human summary: parameter table, KPIs before/after with units, flags and guardrails."""
    title = f"{proposal.strategy} / {proposal.symbol} ({proposal.timeframe}, {proposal.cadence})"
    lines = [f"# Proposal: {title}", "", f"**Status:** {proposal.status}"]
    if proposal.reason:
        lines.append(f"**Reason:** {proposal.reason}")
    lines += ["", proposal.rationale.summary, "", "## Parameters", ""]
    if proposal.changes:
        lines += ["| parameter | current | proposed | Δ % | cap % | bound | binding | expected gain |",
                  "|---|---:|---:|---:|---:|---|---|---:|"]  # fmt: skip
        for c in proposal.changes:
            lines.append(
                f"| {c.parameter} | {c.current:g} | {c.proposed:g} | {c.delta_pct:+.2f} | "
                f"±{c.cap_pct:g} | {c.bound} | {c.binding} | {_number(c.expected_gain)} |"
            )
    else:
        lines.append("No parameter changes.")
    lines += ["", "## KPIs on the same bars", "", "| KPI | unit | before | after |", "|---|---|---:|---:|"]
    before, after = proposal.kpis_before.overall, proposal.kpis_after.overall
    for name, unit in _SHOWN_KPIS:
        lines.append(f"| {name} | {unit} | {_number(before.get(name))} | {_number(after.get(name))} |")
    lines += _regime_lines(proposal)
    if proposal.rationale.flags:
        lines += [
            "",
            "## Flags",
            "",
            "| kind | metric | figure | threshold | message |",
            "|---|---|---:|---:|---|",
        ]
        for f in proposal.rationale.flags:
            lines.append(
                f"| {f['kind']} | {f['metric']} | {_number(f['figure'])} | {_number(f['threshold'])} | "
                f"{f['message']} |"
            )
    data, search = proposal.data, proposal.search
    lines += [
        "", "## Provenance", "",
        f"- data: `{data.source}` {data.timeframe}, {data.bars} bars {data.start} → "
        f"{data.end}, hash `{data.data_hash}`",
        f"- search: {search['sampler']} on {search['objective']}, {search['trials']} trials, "
        f"seed {search['seed']}",
        f"- run `{proposal.run_id}`, git `{proposal.git_sha}`, "
        f"proposal hash `{proposal.proposal_hash}`",
    ]  # fmt: skip
    return "\n".join(lines) + "\n"


def _regime_lines(proposal: Proposal) -> list[str]:
    before, after = proposal.kpis_before.regimes, proposal.kpis_after.regimes
    if not before:
        return []
    lines = ["", "### By regime (Sharpe annualised; return and drawdown in %)", "",
             "| regime | bars | Sharpe before | Sharpe after | return % before | return % after |",
             "|---|---:|---:|---:|---:|---:|"]  # fmt: skip
    for regime, kpis in before.items():
        other = after.get(regime, {})
        lines.append(
            f"| {regime} | {kpis['bars']} | {_number(kpis['sharpe'])} | {_number(other.get('sharpe'))} | "
            f"{_number(kpis['return_pct'])} | {_number(other.get('return_pct'))} |"
        )
    return lines
