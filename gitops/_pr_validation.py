"""The validation section of a pull request body: the verdict's gates grouped by the bars they judge on, a
curated list of statistics with human labels, and the walk-forward folds.

The vocabulary is the verdict's own (``validation._verdict_markdown``): every gate and statistic names its
bars, ``holdout`` (after the search's last bar, never seen by it), ``walk-forward OOS`` (each fold's
out-of-sample bars, the search rerun on its in-sample bars) or ``search (in sample)`` (checks of the search
itself). Only the statistics listed here are shown, each with a label; a key a newer verdict adds stays in
``verdict.json`` until it gets one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

from gitops._markdown import (
    Block,
    fmt_count,
    fmt_date,
    fmt_sig,
    round_figures,
    table,
    text,
)

if TYPE_CHECKING:
    from tradeloop.documents import Gate, Proposal, Verdict

__all__ = [
    "BARS_ORDER",
    "BARS_TEXT",
    "GATE_LABELS",
    "decision_text",
    "gate_counts",
    "stepm_sentence",
    "verdict_blocks",
]

#: The bars a gate or statistic is judged on, as the verdict's markdown names them.
BARS_TEXT: Final = {"holdout": "holdout", "search": "search (in sample)", "walk-forward": "walk-forward OOS"}
BARS_ORDER: Final = ("holdout", "walk-forward", "search")
GATE_LABELS: Final = {
    "min_trades": "Trades",
    "effect_size": "Sharpe gain (effect size)",
    "holdout_sharpe_test": "Paired Sharpe test",
    "stepm_superior": "StepM: beats live after the search's other candidates",
    "risk_change_confidence": "Sharpe gain's lower confidence bound",
    "max_drawdown": "Max drawdown",
    "win_rate": "Win rate",
    "worst_daily_loss": "Worst daily loss",
    "deflated_sharpe": "Deflated Sharpe ratio (DSR)",
    "pbo": "Probability of backtest overfitting (PBO)",
    "fold_stability": "Fold stability",
    "catastrophic_fold": "Worst fold's drawdown",
    "walk_forward_gain": "Walk-forward gain over live",
    "spa_search": "SPA / data snooping of the search",
}
_OPS = {">=": "≥", "<=": "≤", ">": ">", "<": "<"}
_PREFIXED_UNITS = {"p-value": "p", "t": "t", "CV": "CV"}
_SILENT_UNITS = frozenset({"probability"})
# Lower priorities are cut first when the body is too long (see gitops._pr_body).
FOLDS_PRIORITY, GATE_DETAILS_PRIORITY, STATS_PRIORITY, GATES_PRIORITY = 10, 20, 50, 60

Row = tuple[str, str, str]


def gate_label(name: str) -> str:
    """The human label of gate ``name``; an unknown gate's name in words."""
    return GATE_LABELS.get(name, name.replace("_", " ").capitalize())


def gate_counts(verdict: Verdict) -> tuple[int, list[str]]:
    """The number of gating gates and the labels of those that failed."""
    gating = [gate for gate in verdict.gates if gate.gating]
    return len(gating), [gate_label(gate.name) for gate in gating if not gate.passed]


def decision_text(verdict: Verdict | None) -> str:
    """``✅ **pass**``, ``❌ **fail**`` or ``⏳ not run yet``."""
    if verdict is None:
        return "⏳ not run yet"
    return "✅ **pass**" if verdict.passed else "❌ **fail**"


def _outcome(verdict: Verdict) -> str:
    gating, failed = gate_counts(verdict)
    if failed:
        outcome = f"{len(failed)} of {gating} gating gates fail: {', '.join(failed)}."
    else:
        outcome = f"All {gating} gating gates pass."
    search_informs = any(
        gate.bars in ("search", "walk-forward") and not gate.gating and gate.name != "spa_search"
        for gate in verdict.gates
    )
    if search_informs:
        outcome += (
            " Judged on the holdout alone: without the search record, the search and walk-forward gates "
            "only inform."
        )
    return outcome


def verdict_blocks(proposal: Proposal, verdict: Verdict | None) -> list[Block]:
    """The validation section: decision, gates by bars, what each gate checks, statistics, folds."""
    if verdict is None:
        return [
            Block(
                [
                    "### Validation: ⏳ not run yet",
                    "",
                    "Add the label `validate` to this pull request to run the confirmatory validation "
                    "(holdout test, StepM, walk-forward, bootstrap, SPA, DSR, PBO); its verdict will appear "
                    "here.",
                ]
            )
        ]
    blocks = [_gates(verdict), _gate_details(verdict), _statistics(proposal, verdict)]
    folds = verdict.folds
    if folds:
        blocks.append(_folds(folds))
    return blocks


def _ordered_gates(verdict: Verdict) -> list[Gate]:
    """Gates grouped by their bars (holdout, walk-forward, search), the verdict's order within a group."""
    rank = {bars: index for index, bars in enumerate(BARS_ORDER)}
    return sorted(verdict.gates, key=lambda gate: rank.get(gate.measured_on, len(rank)))


def _gates(verdict: Verdict) -> Block:
    rows = [
        (
            BARS_TEXT.get(gate.measured_on, str(gate.bars)),
            gate_label(gate.name),
            _figure(gate.figure, gate.unit),
            f"{_OPS[gate.op]} {_figure(gate.threshold, gate.unit, named=False)}",
            ("✅ pass" if gate.passed else "❌ fail") + ("" if gate.gating else " (information)"),
        )
        for gate in _ordered_gates(verdict)
    ]
    head, lines = table(("Bars", "Gate", "Figure", "Threshold", "Result"), "llrrl", rows)
    intro = [f"### Validation: {decision_text(verdict)}", "", _outcome(verdict), "", *head]
    return Block(intro, lines, priority=GATES_PRIORITY, name="gates")


def _figure(value: Any, unit: str, *, named: bool = True) -> str:
    """A gate figure with its unit: ``130 trades``, ``p = 2.87e-7``, ``t = 5.41``, ``1.52 %``, ``0.0734``.

    A threshold (``named=False``) reads ``< 0.05``, not ``< p = 0.05``.
    """
    shown = fmt_count(value) if unit == "trades" else fmt_sig(value)
    if shown == "n/a" or not unit:
        return shown
    if unit in _PREFIXED_UNITS:
        if not named:
            return shown
        return f"{_PREFIXED_UNITS[unit]} = {shown}"
    return shown if unit in _SILENT_UNITS else f"{shown} {unit}"


def _gate_details(verdict: Verdict) -> Block:
    lines = [
        f"- **{gate_label(gate.name)}**: {text(round_figures(gate.detail), 400)}"
        for gate in _ordered_gates(verdict)
        if gate.detail
    ]
    return Block(
        ["<details><summary>What each gate checks</summary>", ""],
        lines,
        ["", "</details>"],
        priority=GATE_DETAILS_PRIORITY,
        name="gate details",
    )


# -- statistics ---------------------------------------------------------------------------------------------


def _statistics(proposal: Proposal, verdict: Verdict) -> Block:
    rows = [row for build in _STATISTICS for row in [build(proposal, verdict)] if row is not None]
    head, lines = table(("Statistic", "Bars", "Value"), "llr", rows)
    return Block(["Statistics:", "", *head], lines, priority=STATS_PRIORITY, name="statistics")


def _level(verdict: Verdict) -> str:
    level = verdict.cis.get("level")
    return f"{fmt_sig(level * 100)} %" if isinstance(level, int | float) else "the verdict's level of"


def _p_holdout(proposal: Proposal, verdict: Verdict) -> Row | None:
    p = verdict.p_values.get("holdout_sharpe")
    margin = verdict.holdout.get("margin")
    beyond = f" by more than {fmt_sig(margin)}" if margin is not None else ""
    label = f"Paired Sharpe test p: does the proposal beat live{beyond}? (one-sided, gating)"
    statistic = verdict.holdout.get("statistic")
    shown = fmt_sig(p) + (f" (z = {fmt_sig(statistic)})" if statistic is not None else "")
    return None if p is None else (label, "holdout", shown)


def _sharpe_gain(proposal: Proposal, verdict: Verdict) -> Row | None:
    effect, holdout = verdict.effect_size, verdict.holdout
    gain = holdout.get("sharpe_diff", effect.get("delta_sharpe"))
    if gain is None:
        return None
    se = f" (standard error {fmt_sig(holdout['se'])})" if holdout.get("se") is not None else ""
    before, after = effect.get("baseline_sharpe"), effect.get("candidate_sharpe")
    span = f"; {fmt_sig(before)} → {fmt_sig(after)}" if before is not None and after is not None else ""
    return ("Sharpe gain, annualised (live → proposed)", "holdout", f"{fmt_sig(gain, sign=True)}{se}{span}")


def _interval(name: str, label: str) -> Callable[[Proposal, Verdict], Row | None]:
    def build(proposal: Proposal, verdict: Verdict) -> Row | None:
        cis = verdict.cis
        bounds = cis.get(name)
        if not isinstance(bounds, list | tuple) or len(bounds) != 2:
            return None
        reps = f", {fmt_count(cis['reps'])} resamples" if cis.get("reps") else ""
        shown = f"[{fmt_sig(bounds[0])}, {fmt_sig(bounds[1])}]"
        return (f"{label}: {_level(verdict)} bootstrap interval{reps}", "holdout", shown)

    return build


def _p_ledoit_wolf(proposal: Proposal, verdict: Verdict) -> Row | None:
    p = verdict.p_values.get("ledoit_wolf")
    return (
        None
        if p is None
        else ("Ledoit–Wolf test p of equal Sharpe ratios (two-sided)", "holdout", fmt_sig(p))
    )


def _stepm(proposal: Proposal, verdict: Verdict) -> Row | None:
    sentence = stepm_sentence(proposal, verdict)
    return (
        None
        if sentence is None
        else ("StepM superior set (family-wise error controlled)", "holdout", sentence)
    )


def _min_track_record(proposal: Proposal, verdict: Verdict) -> Row | None:
    over, holdout = verdict.overfitting, verdict.holdout
    if "min_trl_bars" not in over:
        return None
    power = over.get("min_trl_power")
    at = f" at {fmt_sig(power * 100)} % power" if isinstance(power, int | float) else ""
    needed = over["min_trl_bars"]
    if needed is None or not math.isfinite(needed):
        shown = "none reaches significance: no gain beyond the margin"
    else:
        shown = fmt_count(math.ceil(needed))
        if holdout.get("bars") is not None:
            shown += f" (the holdout has {fmt_count(holdout['bars'])})"
    return (f"Holdout bars the paired test needs{at} (minimum track record)", "holdout", shown)


def _looks(proposal: Proposal, verdict: Verdict) -> Row | None:
    holdout = verdict.holdout
    if holdout.get("earlier_looks") is None:
        return None
    looks = holdout["earlier_looks"]
    shown = "none: the first look" if looks == 0 else fmt_count(looks)
    if looks and holdout.get("alpha") is not None:
        shown += f" (each halves the level: tested at α = {holdout['alpha']:.4g})"
    return ("Earlier validations of this pair that looked at these holdout bars", "holdout", shown)


def _overfitting_figure(key: str, label: str, bars: str) -> Callable[[Proposal, Verdict], Row | None]:
    def build(proposal: Proposal, verdict: Verdict) -> Row | None:
        over = verdict.overfitting
        return None if key not in over else (label, bars, fmt_sig(over[key]))

    return build


def _trials(proposal: Proposal, verdict: Verdict) -> Row | None:
    over = verdict.overfitting
    if over.get("n_trials_raw") is None:
        return None
    parts = [
        f"{fmt_count(over[key])} {what}"
        for key, what in (("n_trials_feasible", "met the hard constraints"), ("n_trials_sampled", "sampled"))
        if over.get(key) is not None
    ]
    detail = f" ({'; '.join(parts)})" if parts else ""
    return ("Configurations the search tried", "search (in sample)", fmt_count(over["n_trials_raw"]) + detail)


def _effective_trials(proposal: Proposal, verdict: Verdict) -> Row | None:
    over = verdict.overfitting
    if over.get("n_trials") is None:
        return None
    return ("Independent trials N the DSR deflates by", "search (in sample)", fmt_count(over["n_trials"]))


def _counted(proposal: Proposal, verdict: Verdict) -> Row | None:
    counted = verdict.search.get("counted")
    return None if not counted else ("How N was counted", "search (in sample)", round_figures(str(counted)))


def _spa(proposal: Proposal, verdict: Verdict) -> Row | None:
    p = verdict.p_values
    names = ("spa_lower", "spa_consistent", "spa_upper")
    if all(p.get(name) is None for name in names) and p.get("reality_check") is None:
        return None
    shown = " / ".join(fmt_sig(p.get(name)) for name in names)
    return (
        "SPA p of the search's best candidates (lower / consistent / upper); White's Reality Check p",
        "search (in sample)",
        f"{shown}; {fmt_sig(p.get('reality_check'))}",
    )


def _walk_forward(proposal: Proposal, verdict: Verdict) -> Row | None:
    walk = verdict.walk_forward
    if walk.get("gain") is None:
        return None
    return ("Re-optimised minus live Sharpe, stitched OOS, annualised", "walk-forward OOS",
            fmt_sig(walk["gain"], sign=True))  # fmt: skip


def _walk_folds(proposal: Proposal, verdict: Verdict) -> Row | None:
    walk = verdict.walk_forward
    if walk.get("folds") is None:
        return None
    changed = walk.get("changed_folds")
    moved = f"{fmt_count(changed)} of {fmt_count(walk['folds'])}" if changed is not None else "n/a"
    efficiency = f"; efficiency {fmt_sig(walk['efficiency'])}" if walk.get("efficiency") is not None else ""
    return ("Folds whose re-optimisation moved the parameters", "walk-forward OOS", moved + efficiency)


_STATISTICS: Sequence[Callable[[Proposal, Verdict], Row | None]] = (
    _p_holdout,
    _sharpe_gain,
    _interval("sharpe_diff", "Sharpe gain, annualised"),
    _interval("mean_return_diff_pct", "Mean return gain per bar [%]"),
    _p_ledoit_wolf,
    _stepm,
    _min_track_record,
    _looks,
    _overfitting_figure("psr", "Probabilistic Sharpe ratio: P(true Sharpe > 0)", "holdout"),
    _overfitting_figure("dsr", "Deflated Sharpe ratio (DSR)", "search (in sample)"),
    _effective_trials,
    _counted,
    _trials,
    _overfitting_figure(
        "expected_max_sharpe", "Best Sharpe of N tries by luck, annualised", "search (in sample)"
    ),
    _overfitting_figure(
        "selected_sharpe", "Sharpe of the search's selection, annualised", "search (in sample)"
    ),
    _overfitting_figure("pbo", "Probability of backtest overfitting (PBO)", "search (in sample)"),
    _overfitting_figure(
        "pbo_prob_oos_loss", "PBO: probability of an out-of-sample loss", "search (in sample)"
    ),
    _spa,
    _walk_forward,
    _walk_folds,
)


def stepm_sentence(proposal: Proposal, verdict: Verdict) -> str | None:
    """Whether the proposal is in StepM's superior set, and how many of the search's other candidates are.

    ``stepm_superior`` lists indices into ``proposal.candidates``; the proposal's own parameters count only
    through the ``stepm_superior`` gate (or their index, when they are among the candidates).
    """
    superior = verdict.stepm_superior if "stepm_superior" not in verdict.absent else None
    gate = next((g for g in verdict.gates if g.name == "stepm_superior"), None)
    if superior is None and gate is None:
        return None
    own = _own_index(proposal)
    others = len([index for index in superior or [] if index != own])
    inside = gate.passed if gate is not None else own in (superior or ())
    versus = ""
    if gate is not None and gate.figure is not None:
        op = ">" if inside else "≤"
        versus = f" (t {fmt_sig(gate.figure)} {op} critical {fmt_sig(gate.threshold)})"
    head = f"the proposal is {'in it' if inside else 'not in it'}{versus}"
    if others == 0:
        return f"{head}; none of the search's other candidates is"
    return f"{head}; so {'are' if others > 1 else 'is'} {fmt_count(others)} of the search's other candidates"


def _own_index(proposal: Proposal) -> int | None:
    """The index of ``params_after`` among ``proposal.candidates``, or None."""
    after = proposal.params_after
    for index, candidate in enumerate(proposal.candidates):
        params = candidate.params
        if after and all(_same(params.get(name), value) for name, value in after.items()):
            return index
    return None


def _same(left: Any, right: Any) -> bool:
    if not isinstance(left, int | float) or not isinstance(right, int | float):
        return False
    return math.isclose(float(left), float(right), rel_tol=1e-9, abs_tol=1e-12)


# -- folds ------------------------------------------------------------------------------------------------


def _folds(folds: Sequence[Mapping[str, Any]]) -> Block:
    rows = [
        (
            fmt_count(fold["fold"]),
            f"{fmt_date(fold.get('is_start', '?'))} → {fmt_date(fold.get('is_end', '?'))}",
            f"{fmt_date(fold.get('oos_start', '?'))} → {fmt_date(fold.get('oos_end', '?'))}",
            fmt_sig(fold.get("sharpe")),
            fmt_sig(fold.get("baseline_sharpe")),
            fmt_sig(fold.get("max_drawdown_pct")),
        )
        for fold in folds
    ]
    header = ("Fold", "In sample", "Out of sample", "Re-optimised Sharpe", "Live Sharpe", "Max DD [%]")
    head, lines = table(header, "rllrrr", rows)
    summary = (
        f"<details><summary>Walk-forward folds ({len(folds)}): the search rerun on each fold's in-sample "
        "bars, traded out of sample beside the live parameters</summary>"
    )
    return Block([summary, "", *head], lines, ["", "</details>"], priority=FOLDS_PRIORITY, name="folds")
