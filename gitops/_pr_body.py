"""The pull request body of a proposal, written to be read in 30 seconds.

From the top: what changes and the decision, the bars the decision rests on, the risk label and why, what the
reviewer can do; then the KPIs, the parameters, the validation (gates grouped by their bars, a curated list
of statistics, the folds), the rationale, the search, the artifacts and the rollback plan.

Every figure is rounded to 3 significant digits, counts (trades, bars, configurations) are whole numbers,
time stamps are dates, every row has a human label (no dictionary keys) and no local path is shown.

The body stays under GitHub's limit of 65,536 characters (:data:`MAX_BODY_CHARS`). When it would not,
rows are cut from the least important tables first (walk-forward folds, then search details, gate details,
per-regime KPIs, analyzer flags, statistics, gates), each cut marked in place, and a note says so; whole
rows only, so tables stay valid. The summary, what the reviewer can do, the artifacts, the rollback plan and
the hidden metadata comment always survive, the metadata comment last:
``<!-- tradeloop:metadata {"config_hash": ..., "proposal_hash": ..., "run_id": ...} -->``.
Later runs read it back with :func:`parse_pr_metadata`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gitops._markdown import (
    Block,
    cell,
    fit_blocks,
    fmt_count,
    fmt_date,
    fmt_delta,
    fmt_sig,
    fmt_value,
    round_figures,
    table,
    text,
)
from gitops._names import rollout_key
from gitops._pr_search import search_blocks
from gitops._pr_text import branch_name, commit_message, kpi_bars, risk_change, risk_label
from gitops._pr_validation import decision_text, gate_counts, verdict_blocks
from tradeloop.documents import EMPTY, thaw
from tradeloop.errors import ProposalError

if TYPE_CHECKING:
    from tradeloop.documents import Kpis, Proposal, Verdict

# branch_name, commit_message and risk_label live in gitops._pr_text and are re-exported here too.
__all__ = [
    "KPI_COLUMNS",
    "MAX_BODY_CHARS",
    "METADATA_MARKER",
    "branch_name",
    "commit_message",
    "parse_pr_metadata",
    "render_pr_body",
    "risk_label",
]

MAX_BODY_CHARS = 65_536
METADATA_MARKER = "tradeloop:metadata"
KPI_COLUMNS: tuple[tuple[str, str], ...] = (
    ("Sharpe (annualised)", "sharpe"),
    ("Return [%]", "return_pct"),
    ("Max DD [%]", "max_drawdown_pct"),
    ("Worst day [%]", "worst_day_pct"),
    ("Win rate [%]", "win_rate_pct"),
    ("Profit factor", "profit_factor"),
    ("Trades", "trades"),
)
_DATA_KEYS = ("source", "timeframe", "data_hash", "start", "end", "bars")
_COUNT_KPIS = frozenset({"trades", "bars"})
_METADATA = re.compile(r"<!-- " + re.escape(METADATA_MARKER) + r" (\{.*?\}) -->")
_MIN_HASH_CHARS = 16
_SHORT_HASH = 16
_FLAG_KINDS = {"underperformance": "Underperformance", "drift": "Drift", "regime_change": "Regime change"}
_FLAG_METRICS = {
    "sharpe": "Sharpe",
    "return_pct": "return [%]",
    "nightly_return_pct_ks_pvalue": "KS test p of the nightly returns",
    "nightly_return_pct_psi": "PSI of the nightly returns",
    "regime_modal_share": "share of the most frequent regime",
    "bar_return_ks_pvalue": "KS test p of the bar returns",
    "bar_return_psi": "PSI of the bar returns",
}
_BINDINGS = {"cap": "the cap", "bound": "the hard bound", "none": "nothing"}
# Lower priorities are cut first when the body is too long (the validation section's are in _pr_validation).
_REGIMES, _FLAGS, _PARAMS, _KPIS = 30, 40, 70, 80


def render_pr_body(
    proposal: Proposal,
    verdict: Verdict | None,
    *,
    run_url: str | None,
    report_url: str | None,
    base_branch: str,
    commit_sha: str | None,
    pr_number: int | None = None,
    metadata: Mapping[str, Any] | None = None,
    max_chars: int = MAX_BODY_CHARS,
) -> str:
    """The markdown body of the pull request for ``proposal`` (contract 2) and its ``verdict`` (contract 3).

    Parameters
    ----------
    proposal, verdict
        The proposal and its verdict (``None`` before validation ran).
    run_url, report_url
        Links to the workflow run and the report, when there are any (a URL, or a path relative to the
        body's file for the local forge).
    base_branch
        The branch the PR merges into (named in the rollback plan).
    commit_sha
        The merge commit to revert, when known; the rollback plan names it.
    pr_number
        The pull request's number, when known: the rollback plan says ``tradeloop rollback --pr N``, which
        finds the merge commit of #N through the forge.
    metadata
        Extra or overriding entries of the hidden metadata comment; by default it holds the proposal
        hash, the proposal's ``config_hash_after`` as ``config_hash``, and the run id.
    max_chars
        The size limit of the body (GitHub's is :data:`MAX_BODY_CHARS`).

    Raises
    ------
    tradeloop.errors.ProposalError
        The verdict is for another proposal (its ``proposal_hash`` differs).
    """
    hash_ = proposal.full_hash
    given = verdict.proposal_hash if verdict is not None else hash_
    if len(given) < _MIN_HASH_CHARS or not hash_.startswith(given):
        raise ProposalError(
            f"verdict.json: proposal_hash is {given!r} but the proposal's is {hash_!r}; "
            "validate this proposal before rendering its PR"
        )
    comment = _metadata_comment(
        {"proposal_hash": hash_, "config_hash": proposal.config_hash_after, "run_id": proposal.run_id}
        | validation_metadata(proposal)
        | dict(metadata or {})
    )
    blocks = [
        _summary(proposal, verdict, base_branch),
        *_actions(proposal, hash_),
        *_kpi_blocks(proposal, verdict),
        *_parameter_blocks(proposal),
        *verdict_blocks(proposal, verdict),
        *_rationale_blocks(proposal),
        *search_blocks(proposal),
        _artifacts(proposal, hash_, run_url, report_url),
        _rollback(proposal, base_branch, commit_sha, pr_number),
    ]
    budget = max_chars - len(comment) - 2
    fitted, cut = fit_blocks(blocks, budget - len(_truncation_note(max_chars).render()) - 2)
    if cut:
        fitted.append(_truncation_note(max_chars))
    body = "\n\n".join(block.render() for block in fitted)
    if len(body) > budget:  # only when the essential blocks alone are too long
        body = body[: max(budget - 2, 0)].rsplit("\n", 1)[0]
    return body + "\n\n" + comment + "\n"


def validation_metadata(proposal: Proposal) -> dict[str, Any]:
    """What ``tradeloop pr proposal`` needs to rebuild this proposal's evidence from the pull request.

    The bars (source, hash, window), the holdout boundary, the search settings and the search record's
    SHA-256 and size: with them confirmatory validation judges on the same holdout and recounts the same
    search, instead of one hypothesis on unknown bars.
    """
    data, record = proposal.data, proposal.search_record
    return {
        "data": {key: getattr(data, key) for key in _DATA_KEYS},
        "cadence": proposal.cadence,
        "holdout": None if proposal.holdout is None else proposal.holdout.to_json(),
        "search": {
            "settings": thaw(proposal.search.get("settings")),
            "record": None if record is None else record.to_json(),
        },
    }


def parse_pr_metadata(body: str | None) -> dict[str, Any] | None:
    """The hidden metadata of a PR body written by :func:`render_pr_body`, or None when it has none.

    The last metadata comment counts (a quoted older body above it is ignored); a malformed one gives None.
    """
    matches = _METADATA.findall(body or "")
    if not matches:
        return None
    try:
        data = json.loads(matches[-1])
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def _metadata_comment(data: Mapping[str, Any]) -> str:
    encoded = json.dumps(dict(data), sort_keys=True, separators=(", ", ": "), ensure_ascii=True, default=str)
    # Escaped angle brackets keep the JSON valid and make "-->" impossible inside the comment.
    encoded = encoded.replace("<", "\\u003c").replace(">", "\\u003e")
    return f"<!-- {METADATA_MARKER} {encoded} -->"


def _truncation_note(limit: int) -> Block:
    return Block(
        [
            f"> **Note:** this description was shortened to stay under the {limit:,}-character limit of a "
            "pull request body; the left-out rows are in the report and in `proposal.json` / `verdict.json`."
        ]
    )


def _pair(proposal: Proposal) -> str:
    return f"`{proposal.strategy}` on `{proposal.symbol}` ({proposal.timeframe})"


# -- the first screen: summary, bars, risk, actions ------------------------------------------------------


@dataclass(frozen=True)
class _Span:
    """A range of bars: first and last time stamp and the bar count."""

    start: Any
    end: Any
    bars: Any

    def __str__(self) -> str:
        return f"{fmt_date(self.start)} → {fmt_date(self.end)} ({fmt_count(self.bars)} bars)"


def _spans(proposal: Proposal, verdict: Verdict | None) -> tuple[_Span, _Span] | None:
    """The holdout and the search bars, from the verdict when it has them, else from the proposal."""
    held, searched = (verdict.holdout, verdict.search) if verdict is not None else (EMPTY, EMPTY)
    plan = proposal.holdout
    holdout = _Span(
        held.get("start") or (plan and plan.start), held.get("end") or (plan and plan.end),
        held.get("bars", plan and plan.bars),
    )  # fmt: skip
    search = _Span(
        searched.get("start") or (plan and plan.search_start),
        searched.get("end") or (plan and plan.search_end),
        searched.get("bars", plan and plan.search_bars),
    )
    if holdout.start is None or search.start is None:
        return None
    return holdout, search


def _summary(proposal: Proposal, verdict: Verdict | None, base: str) -> Block:
    if not proposal.proposed:
        line = f"**tradeloop** proposes **no change** for {_pair(proposal)}: {text(proposal.reason or '')}"
        return Block([line])
    count = len(proposal.changes)
    decision = decision_text(verdict)
    if verdict is not None:
        gating, failed = gate_counts(verdict)
        decision += f" ({gating - len(failed)} of {gating} gating gates pass)"
    line = (
        f"**tradeloop** proposes {count} parameter {'change' if count == 1 else 'changes'} for "
        f"{_pair(proposal)}, into `{cell(base)}`. Validation: {decision}. Risk: `{risk_label(proposal)}`."
    )
    return Block(
        [line, "", _evidence(proposal, verdict), "", _judged_on(proposal, verdict), "", _risk(proposal)]
    )


def _evidence(proposal: Proposal, verdict: Verdict | None) -> str:
    """The headline figures: on the holdout when validated, else on the proposal's own bars."""
    held = verdict.kpis if verdict is not None else {}
    before, after = held.get("baseline"), held.get("candidate")
    where = "On the holdout"
    if not before or not after:
        before, after = proposal.kpis_before.overall, proposal.kpis_after.overall
        where = f"On the {kpi_bars(proposal)} (in sample)" if proposal.holdout else "On the same bars"
    return (
        f"{where}, live → proposed: Sharpe {fmt_sig(before.get('sharpe'))} → {fmt_sig(after.get('sharpe'))} "
        f"({fmt_delta(before.get('sharpe'), after.get('sharpe'))}, annualised), max drawdown "
        f"{fmt_sig(before.get('max_drawdown_pct'))} % → {fmt_sig(after.get('max_drawdown_pct'))} %, "
        f"{fmt_count(before.get('trades'))} → {fmt_count(after.get('trades'))} trades."
    )


def _judged_on(proposal: Proposal, verdict: Verdict | None) -> str:
    spans = _spans(proposal, verdict)
    if spans is None:
        data = proposal.data
        window = _Span(data.start, data.end, data.bars)
        return f"**Judged on** the proposal's bars {window}: it recorded no holdout kept from the search."
    holdout, search = spans
    if verdict is None:
        return (
            f"**To be judged on** the holdout {holdout}, after the search's last bar; the search read only "
            f"{search}."
        )
    deciding = {gate.measured_on for gate in verdict.gates if gate.gating}
    folds = " and the walk-forward folds' out-of-sample bars" if "walk-forward" in deciding else ""
    checks = (
        "there, only its own overfitting is checked"
        if "search" in deciding
        else "its own overfitting checks only inform (no search record)"
    )
    return (
        f"**Judged on** bars the search never saw: the holdout {holdout}{folds}. The search read only "
        f"{search}; {checks}."
    )


def _risk(proposal: Proposal) -> str:
    return f"**Risk** {risk_change(proposal).explain()}."


def _actions(proposal: Proposal, hash_: str) -> list[Block]:
    if not proposal.proposed:
        return []
    key = rollout_key(proposal.strategy, proposal.symbol)
    return [
        Block(
            [
                "### What you can do",
                "",
                "- **Validate**: add the label `validate`; the confirmatory validation runs on this pull "
                "request and posts its verdict and the `tradeloop/validation` status.",
                "- **Hold**: add the label `do-not-merge`; tradeloop stops touching this pull request (no "
                "update, rebase or close).",
                f"- **Decline**: close it without merging; this proposal (`{hash_[:_SHORT_HASH]}`) is never "
                "proposed again. A different proposal for the pair may open a new pull request.",
                f"- **Merge**: the rollout of `{key}` starts at `COLD` (no capital yet) and is promoted "
                "COLD → WARM → LIMITED → FULL on live evidence only; the rollback plan is at the end.",
            ]
        )
    ]


# -- KPIs and parameters ----------------------------------------------------------------------------------


def _kpi_blocks(proposal: Proposal, verdict: Verdict | None) -> list[Block]:
    """Live vs proposed on the proposal's own bars and, with a verdict, on the holdout; then per regime."""
    before, after = proposal.kpis_before, proposal.kpis_after
    held = verdict.kpis if verdict is not None else {}
    sources = [(before.overall, after.overall)]
    header: tuple[str, ...] = ("KPI", "Live", "Proposed", "Δ")
    if held.get("baseline") and held.get("candidate"):
        sources.append((held["baseline"], held["candidate"]))
        header = ("KPI", "Search: live", "Proposed", "Δ", "Holdout: live", "Proposed", "Δ")
    rows = [
        [label, *(shown for side in sources for shown in _kpi_cells(key, *side))]
        for label, key in KPI_COLUMNS
        if any(key in side for pair in sources for side in pair)
    ]
    head, lines = table(header, "l" + "r" * (len(header) - 1), rows)
    intro = _kpi_intro(proposal, verdict, on_holdout=len(sources) > 1)
    blocks = [Block(["### KPIs: live → proposed", "", intro, "", *head], lines, priority=_KPIS, name="kpis")]
    regimes = sorted(set(before.regimes) | set(after.regimes))
    if regimes:
        blocks.append(_regime_block(regimes, before.regimes, after.regimes))
    return blocks


def _kpi_intro(proposal: Proposal, verdict: Verdict | None, *, on_holdout: bool) -> str:
    data = proposal.data
    where = f"the {kpi_bars(proposal)} (in sample)" if proposal.holdout else "the same bars"
    if on_holdout:
        where += " and on the holdout the search never saw"
    spans = _spans(proposal, verdict)
    ranges = (
        f"search bars {spans[1]}, holdout {spans[0]}"
        if spans
        else str(_Span(data.start, data.end, data.bars))
    )
    return (
        f"Live parameters and this proposal backtested on {where}: `{cell(data.source)}` "
        f"{cell(data.timeframe)}, data hash `{cell(data.data_hash)}`; {ranges}."
    )


def _kpi_cells(key: str, before: Kpis, after: Kpis) -> tuple[str, str, str]:
    old, new = before.get(key), after.get(key)
    if key in _COUNT_KPIS:
        delta = (
            f"{round(new) - round(old):+,}"
            if isinstance(old, int | float) and isinstance(new, int | float)
            else "n/a"
        )
        return fmt_count(old), fmt_count(new), delta
    return fmt_sig(old), fmt_sig(new), fmt_delta(old, new)


def _regime_block(regimes: Sequence[str], before: Mapping[str, Kpis], after: Mapping[str, Kpis]) -> Block:
    measured = {key for kpis in (*before.values(), *after.values()) for key in kpis}
    columns = [(label, key) for label, key in KPI_COLUMNS if key in measured]
    rows = [_regime_row(regime, before, after, columns) for regime in regimes]
    header = ("Regime", "Bars", *(label for label, _ in columns))
    head, lines = table(header, "lr" + "r" * len(columns), rows)
    note = "Per regime (live → proposed, Δ), on the bars of each regime:"
    return Block([note, "", *head], lines, priority=_REGIMES, name="regimes")


def _regime_row(
    regime: str, before: Mapping[str, Kpis], after: Mapping[str, Kpis], columns: Sequence[tuple[str, str]]
) -> list[str]:
    old, new = before.get(regime, {}), after.get(regime, {})
    cells = []
    for _, key in columns:
        if key not in old and key not in new:
            cells.append("—")
            continue
        was, now, delta = _kpi_cells(key, old, new)
        cells.append(f"{was} → {now} ({delta})")
    return [regime.replace("_", " "), fmt_count(new.get("bars", old.get("bars"))), *cells]


def _parameter_blocks(proposal: Proposal) -> list[Block]:
    changes = proposal.changes
    if not changes:
        return []
    rows = [
        (
            f"`{change.parameter}`",
            fmt_value(change.current),
            fmt_value(change.proposed),
            fmt_sig(change.delta_pct, sign=True),
            f"±{fmt_sig(change.cap_pct)}",
            change.bound,
            _BINDINGS.get(change.binding, change.binding),
            fmt_sig(change.expected_gain, sign=True),
        )
        for change in changes
    ]
    header = (
        "Parameter",
        "Current",
        "Proposed",
        "Δ [%]",
        "Cap [%]",
        "Hard bound",
        "Limited by",
        "Expected gain",
    )
    head, lines = table(header, "lrrrrllr", rows)
    where = f"`LIVE_PARAMS[{proposal.strategy!r}][{proposal.symbol!r}]` in `config/constants.py`"
    reasons = [f"- `{change.parameter}`: {text(round_figures(change.rationale), 500)}" for change in changes]
    return [
        Block([f"### Parameters: {where}", "", *head], lines, priority=_PARAMS, name="parameters"),
        Block(["Why each parameter moves:", ""], reasons, priority=_PARAMS - 1, name="reasons"),
    ]


# -- rationale ------------------------------------------------------------------------------------------


def _rationale_blocks(proposal: Proposal) -> list[Block]:
    rationale = proposal.rationale
    flags = [
        f"- **{_FLAG_KINDS.get(flag['kind'], str(flag['kind']).replace('_', ' ').capitalize())}**: "
        f"{_flag_metric(str(flag['metric']))} {fmt_sig(flag['figure'])} (threshold "
        f"{fmt_sig(flag['threshold'])}): {text(round_figures(str(flag['message'])), 500)}"
        for flag in rationale.flags
    ]
    head = ["### Rationale", "", text(round_figures(rationale.summary))]
    if flags:
        head += ["", "Analyzer flags:", ""]
    return [Block(head, flags, priority=_FLAGS, name="rationale")]


def _flag_metric(metric: str) -> str:
    return _FLAG_METRICS.get(metric, cell(metric).replace("_", " "))


# -- artifacts and rollback -------------------------------------------------------------------------------


def _artifacts(proposal: Proposal, hash_: str, run_url: str | None, report_url: str | None) -> Block:
    run = f"[workflow run]({text(run_url, 500)})" if run_url else "not available (run outside a workflow)"
    report = f"[report]({text(report_url, 500)})" if report_url else "not available"
    return Block(
        [
            "### Artifacts",
            "",
            f"- Workflow run: {run}",
            f"- Report: {report}",
            f"- Proposal: run `{cell(proposal.run_id)}`, code `{cell(proposal.git_sha)}`, "
            f"proposal hash `{hash_[:_SHORT_HASH]}`, config hash `{cell(proposal.config_hash_before)}` → "
            f"`{cell(proposal.config_hash_after)}`",
        ]
    )


def _rollback(proposal: Proposal, base: str, commit_sha: str | None, pr_number: int | None) -> Block:
    key = rollout_key(proposal.strategy, proposal.symbol)
    this = f"#{pr_number}" if pr_number is not None else "this pull request"
    if commit_sha:
        sha = cell(commit_sha)
        revert = [
            f"1. Revert `{sha}`, the merge commit of {this}, on `{cell(base)}`: "
            f"`tradeloop rollback --commit {sha}` opens the revert pull request (`--apply` commits it on "
            f"`{cell(base)}`); by hand, `git revert {sha}` (add `-m 1` when it is a merge commit).",
        ]
    elif pr_number is not None:
        revert = [
            f"1. Revert the merge commit of #{pr_number} on `{cell(base)}`: `tradeloop rollback --pr "
            f"{pr_number}` finds it through the forge and opens the revert pull request (`--apply` commits "
            f"it on `{cell(base)}`); by hand, `git revert` that commit (with `-m 1` for a merge commit).",
        ]
    else:
        revert = [
            f"1. Revert the merge commit of this pull request on `{cell(base)}`: `tradeloop rollback --pr` "
            "with this pull request's number finds it through the forge and opens the revert pull request "
            f"(`--apply` commits it on `{cell(base)}`).",
        ]
    flag = (
        f"2. To take capital off the new parameters at once, without a revert: in `feature_flags.json`, "
        f'set `rollouts["{key}"].stage` to `"COLD"`. This PR starts that rollout at `COLD` for config '
        f"hash `{cell(proposal.config_hash_after)}`; the revert brings back "
        f"`{cell(proposal.config_hash_before)}`."
    )
    return Block(["### Rollback plan", "", *revert, flag])
