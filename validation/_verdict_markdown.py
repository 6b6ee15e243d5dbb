"""Render a verdict document (contract 3) as a markdown section for a pull-request body.

Every statistic is shown with what it tests, its side and level, and the bars it is measured on, so a
reviewer can tell the gating out-of-sample evidence (the holdout) from the in-sample checks of the search.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from tradeloop.documents import Gate, Verdict

__all__ = ["verdict_markdown"]

_OP_TEXT = {">=": "≥", "<=": "≤", "<": "<", ">": ">"}
_BARS_TEXT = {"holdout": "holdout", "search": "search (in sample)", "walk-forward": "walk-forward OOS"}


def verdict_markdown(verdict: Verdict) -> str:
    """The verdict as markdown: decision, the two bar ranges, gates, what each statistic tests, folds."""
    lines = [
        "## Validation verdict",
        "",
        f"**Decision: {verdict.decision.upper()}** — {verdict.summary}",
        "",
        f"Proposal `{verdict.proposal_hash[:16]}` · {verdict.strategy} / {verdict.symbol} "
        f"({verdict.timeframe}) · {verdict.created_at[:10]}",
        "",
        *_bars(verdict),
        "",
        *_gates_table(verdict.gates),
        "",
        "### What each statistic tests",
        "",
        *_statistics(verdict),
        "",
        *_folds_table(verdict.folds),
    ]
    return "\n".join(lines) + "\n"


def _number(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    if isinstance(value, float) and math.isinf(value):
        return "∞" if value > 0 else "−∞"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) >= 1000):
        return f"{int(value):,}"
    return f"{value:.{digits}g}"


def _bars(verdict: Verdict) -> list[str]:
    holdout, search = verdict.holdout, verdict.search
    if not holdout:
        return []
    looks = holdout.get("earlier_looks")
    looked = (
        "earlier validations of this pair on these bars: unknown"
        if looks is None
        else f"{looks} earlier validation(s) of this pair looked at these bars"
    )
    if looks and holdout.get("alpha") is not None:
        looked += f"; each halves the level: the gates test at α = {holdout['alpha']:.4g}"
    return [
        f"- **Search bars** {search.get('start', '')[:10]} → {search.get('end', '')[:10]} "
        f"({_number(search.get('bars'))} bars): the only bars the optimizer searched.",
        f"- **Holdout** {holdout['start'][:10]} → {holdout['end'][:10]} ({_number(holdout['bars'])} bars): "
        f"never seen by the search; the gating tests run here ({looked}).",
    ]


def _gates_table(gates: Sequence[Gate]) -> list[str]:
    rows = ["| gate | bars | figure | threshold | result | role |", "|---|---|---:|---:|:---:|:---:|"]
    for gate in gates:
        result = "✅ pass" if gate.passed else "❌ fail"
        bars = _BARS_TEXT.get(gate.measured_on, gate.measured_on)
        rows.append(
            f"| `{gate.name}` | {bars} | {_number(gate.figure)} {gate.unit} | "
            f"{_OP_TEXT[gate.op]} {_number(gate.threshold)} | {result} | "
            f"{'gating' if gate.gating else 'info'} |"
        )
    return rows


def _statistics(verdict: Verdict) -> list[str]:
    p, ci, effect, over = verdict.p_values, verdict.cis, verdict.effect_size, verdict.overfitting
    holdout, search, walk = verdict.holdout, verdict.search, verdict.walk_forward
    level, alpha = f"{ci['level']:.0%}", f"{1 - ci['level']:.0%}"
    margin = _number(holdout.get("margin"))
    stepm = next((g for g in verdict.gates if g.name == "stepm_superior"), None)
    low, high = (_number(value) for value in ci["sharpe_diff"])
    rows = [
        (
            "Paired Sharpe test (Ledoit–Wolf HAC)",
            f"H0: candidate Sharpe − live Sharpe ≤ {margin} (annualised); position size cannot move a Sharpe",
            f"one-sided, {level}",
            "holdout",
            f"p = {_number(p.get('holdout_sharpe'))} (ΔSharpe {_number(holdout.get('sharpe_diff'))}, "
            f"s.e. {_number(holdout.get('se'))})",
        ),
        (
            "StepM (Romano–Wolf)",
            f"is the candidate among those beating live by more than {margin} Sharpe (volatility-matched)",
            f"one-sided, family-wise {alpha}",
            "holdout",
            f"t = {_number(stepm and stepm.figure)} vs critical {_number(stepm and stepm.threshold)}",
        ),
        (
            f"Bootstrap CI of ΔSharpe ({ci.get('reps')} stationary resamples)",
            "the range of the Sharpe difference",
            f"two-sided, {level}",
            "holdout",
            f"[{low}, {high}] (candidate {_number(effect['candidate_sharpe'])}, "
            f"live {_number(effect['baseline_sharpe'])})",
        ),
        (
            "Minimum track record",
            "holdout bars the paired test needs to detect the observed ΔSharpe",
            f"{over.get('min_trl_power', 0.8):.0%} power, {level}",
            "holdout",
            f"{_number(over['min_trl_bars'])} bars (the holdout has {_number(holdout.get('bars'))})",
        ),
        (
            "Deflated Sharpe",
            "probability the candidate's Sharpe beats the best of N tries by luck; "
            + search.get("counted", "N not counted"),
            "one-sided",
            "search (in sample)",
            _number(over["dsr"]),
        ),
        (
            "PBO (CSCV)",
            "probability that the in-sample best of the tried configurations lands below the median out of "
            "sample (unselected sample)",
            "—",
            "search (in sample)",
            _number(over["pbo"]),
        ),
        (
            "SPA / Reality Check (Hansen, White)",
            "data-snooping check of the search: does any of its best candidates beat live (vol-matched)",
            f"one-sided, {alpha}",
            "search (in sample)",
            f"p = {_number(p.get('spa_consistent'))} / {_number(p.get('reality_check'))} (information)",
        ),
        (
            "Walk-forward with re-optimisation",
            "the optimizer rerun on each fold's in-sample bars, traded out of sample against live",
            "—",
            "walk-forward OOS",
            f"ΔSharpe {_number(walk.get('gain'))}, fold CV {_number(walk.get('sharpe_cv'))}",
        ),
    ]
    header = ["| statistic | what it tests | side, level | bars | value |", "|---|---|---|---|---|"]
    return header + ["| " + " | ".join(row) + " |" for row in rows]


def _folds_table(folds: Sequence[Mapping[str, Any]]) -> list[str]:
    rows = [
        "| fold | OOS from | OOS to | re-optimised Sharpe | live Sharpe | max DD % |",
        "|---:|---|---|---:|---:|---:|",
    ]
    for fold in folds:
        rows.append(
            f"| {fold['fold']} | {fold['oos_start'][:10]} | {fold['oos_end'][:10]} | "
            f"{_number(fold['sharpe'])} | {_number(fold.get('baseline_sharpe'))} | "
            f"{_number(fold['max_drawdown_pct'])} |"
        )
    return rows
