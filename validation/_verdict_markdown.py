"""Render a verdict document (contract 3) as a markdown section for a pull-request body."""

from __future__ import annotations

import math
from typing import Any

__all__ = ["verdict_markdown"]

_OP_TEXT = {">=": "≥", "<=": "≤", "<": "<", ">": ">"}


def verdict_markdown(verdict: dict[str, Any]) -> str:
    """The verdict as markdown: decision line, gates table, p-values, CIs, effect size, overfitting."""
    lines = [
        "## Validation verdict",
        "",
        f"**Decision: {verdict['decision'].upper()}** — {verdict['summary']}",
        "",
        f"Proposal `{verdict['proposal_hash'][:16]}` · {verdict['strategy']} / {verdict['symbol']} "
        f"({verdict['timeframe']}) · {verdict['created_at']}",
        "",
        *_gates_table(verdict["gates"]),
        "",
        *_statistics(verdict),
        "",
        *_folds_table(verdict["folds"]),
    ]
    return "\n".join(lines) + "\n"


def _number(value: Any, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float) and math.isinf(value):
        return "∞" if value > 0 else "−∞"
    return f"{value:.{digits}g}" if isinstance(value, float) else str(value)


def _gates_table(gates: list[dict[str, Any]]) -> list[str]:
    rows = ["| gate | figure | threshold | result | gating |", "|---|---:|---:|:---:|:---:|"]
    for gate in gates:
        result = "✅ pass" if gate["passed"] else "❌ fail"
        rows.append(
            f"| `{gate['name']}` | {_number(gate['figure'])} {gate['unit']} | "
            f"{_OP_TEXT[gate['op']]} {_number(gate['threshold'])} | {result} | "
            f"{'yes' if gate['gating'] else 'info'} |"
        )
    return rows


def _statistics(verdict: dict[str, Any]) -> list[str]:
    p, ci, effect, over = verdict["p_values"], verdict["cis"], verdict["effect_size"], verdict["overfitting"]
    level = f"{ci['level']:.0%}"
    return [
        "| statistic | value |",
        "|---|---:|",
        f"| ΔSharpe (annualised), candidate − baseline | {_number(effect['delta_sharpe'])} "
        f"({_number(effect['candidate_sharpe'])} vs {_number(effect['baseline_sharpe'])}) |",
        f"| {level} CI of ΔSharpe (annualised) | "
        f"[{_number(ci['sharpe_diff'][0])}, {_number(ci['sharpe_diff'][1])}] |",
        f"| {level} CI of Δ mean return per bar (%) | "
        f"[{_number(ci['mean_return_diff_pct'][0])}, {_number(ci['mean_return_diff_pct'][1])}] |",
        f"| SPA p-values (lower / consistent / upper) | {_number(p['spa_lower'])} / "
        f"{_number(p['spa_consistent'])} / {_number(p['spa_upper'])} |",
        f"| White's Reality Check p | {_number(p['reality_check'])} |",
        f"| Ledoit–Wolf p (Sharpe difference) | {_number(p['ledoit_wolf'])} |",
        f"| StepM superior candidates | {', '.join(map(str, verdict['stepm_superior'])) or 'none'} |",
        f"| PSR / DSR | {_number(over['psr'])} / {_number(over['dsr'])} (N = {over['n_trials']} trials) |",
        f"| PBO (CSCV) | {_number(over['pbo'])} |",
        f"| Minimum track record to detect the gain | {_number(over['min_trl_bars'])} bars |",
    ]


def _folds_table(folds: list[dict[str, Any]]) -> list[str]:
    rows = ["| fold | OOS from | OOS to | OOS Sharpe | OOS max DD % |", "|---:|---|---|---:|---:|"]
    for fold in folds:
        rows.append(
            f"| {fold['fold']} | {fold['oos_start'][:10]} | {fold['oos_end'][:10]} | "
            f"{_number(fold['sharpe'])} | {_number(fold['max_drawdown_pct'])} |"
        )
    return rows
