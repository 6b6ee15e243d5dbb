"""The pull request body of a proposal: KPI tables, parameters, verdict, rationale, links, rollback plan.

The body stays under GitHub's limit of 65,536 characters (:data:`MAX_BODY_CHARS`). When it would not,
rows are cut from the least important tables first (walk-forward folds, then search details, per-regime
KPIs, analyzer flags, statistics, gates), each cut marked in place, and a note says so; whole rows only,
so tables stay valid. The summary, the rollback plan and the hidden metadata comment always survive, the
metadata comment last:
``<!-- tradeloop:metadata {"config_hash": ..., "proposal_hash": ..., "run_id": ...} -->``.
Later runs read it back with :func:`parse_pr_metadata`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from gitops._documents import proposal_hash
from gitops._markdown import Block, cell, fit_blocks, fmt_delta, fmt_number, fmt_value, table, text
from gitops._names import rollout_key
from gitops._pr_text import branch_name, commit_message, risk_label
from tradeloop.errors import ProposalError

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
    ("Sharpe", "sharpe"),
    ("Return [%]", "return_pct"),
    ("Max DD [%]", "max_drawdown_pct"),
    ("Win rate [%]", "win_rate_pct"),
    ("Profit factor", "profit_factor"),
    ("Trades", "trades"),
)
_METADATA = re.compile(r"<!-- " + re.escape(METADATA_MARKER) + r" (\{.*?\}) -->")
_MIN_HASH_CHARS = 16
_OPS = {">=": "≥", "<=": "≤", ">": ">", "<": "<"}
_P_VALUE_NAMES = {
    "holdout_sharpe": "paired Sharpe test on the holdout (one-sided, gating)",
    "ledoit_wolf": "Ledoit–Wolf Sharpe difference on the holdout (two-sided)",
    "spa_lower": "SPA (lower) of the search, in sample",
    "spa_consistent": "SPA (consistent) of the search, in sample",
    "spa_upper": "SPA (upper) of the search, in sample",
    "reality_check": "White's Reality Check of the search, in sample",
}
_CI_NAMES = {"sharpe_diff": "Sharpe difference", "mean_return_diff_pct": "Mean return difference [%]"}
_OVERFITTING_NAMES = {
    "psr": "Probabilistic Sharpe Ratio (PSR)",
    "dsr": "Deflated Sharpe Ratio (DSR)",
    "pbo": "Probability of backtest overfitting (PBO)",
    "min_trl_bars": "Holdout bars the paired test needs at 80 % power",
    "n_trials": "Effective trials N of the DSR (clusters of tried configurations)",
    "n_trials_raw": "Configurations the search tried",
}
# Lower priorities are cut first when the body is too long.
_FOLDS, _SEARCH, _REGIMES, _FLAGS, _STATS, _GATES, _PARAMS, _KPIS = 10, 15, 30, 40, 50, 60, 70, 80


def render_pr_body(
    proposal: Mapping[str, Any],
    verdict: Mapping[str, Any] | None,
    *,
    run_url: str | None,
    report_url: str | None,
    base_branch: str,
    commit_sha: str | None,
    metadata: Mapping[str, Any] | None = None,
    max_chars: int = MAX_BODY_CHARS,
) -> str:
    """The markdown body of the pull request for ``proposal`` (contract 2) and its ``verdict`` (contract 3).

    Parameters
    ----------
    proposal, verdict
        Checked documents (:func:`gitops.load_proposal`, :func:`gitops.load_verdict`); ``verdict`` is
        ``None`` before validation ran.
    run_url, report_url
        Links to the workflow run and the report, when there are any.
    base_branch
        The branch the PR merges into (named in the rollback plan).
    commit_sha
        The commit to revert, when known; otherwise the plan gives the command for the merge commit.
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
    hash_ = proposal_hash(proposal)
    given = str(verdict.get("proposal_hash", "")) if verdict is not None else hash_
    if len(given) < _MIN_HASH_CHARS or not hash_.startswith(given):
        raise ProposalError(
            f"verdict.json: proposal_hash is {given!r} but the proposal's is {hash_!r}; "
            "validate this proposal before rendering its PR"
        )
    comment = _metadata_comment(
        {"proposal_hash": hash_, "config_hash": proposal["config_hash_after"], "run_id": proposal["run_id"]}
        | validation_metadata(proposal)
        | dict(metadata or {})
    )
    blocks = [
        _summary(proposal, verdict, base_branch),
        *_kpi_blocks(proposal),
        *_parameter_blocks(proposal),
        *_verdict_blocks(verdict),
        *_rationale_blocks(proposal),
        *_search_blocks(proposal),
        _artifacts(proposal, hash_, run_url, report_url),
        _rollback(proposal, base_branch, commit_sha),
    ]
    budget = max_chars - len(comment) - 2
    fitted, cut = fit_blocks(blocks, budget - len(_truncation_note(max_chars).render()) - 2)
    if cut:
        fitted.append(_truncation_note(max_chars))
    body = "\n\n".join(block.render() for block in fitted)
    if len(body) > budget:  # only when the essential blocks alone are too long
        body = body[: max(budget - 2, 0)].rsplit("\n", 1)[0]
    return body + "\n\n" + comment + "\n"


def validation_metadata(proposal: Mapping[str, Any]) -> dict[str, Any]:
    """What ``tradeloop pr proposal`` needs to rebuild this proposal's evidence from the pull request.

    The bars (source, hash, window), the holdout boundary, the search settings and the search record's
    SHA-256 and size: with them confirmatory validation judges on the same holdout and recounts the same
    search, instead of one hypothesis on unknown bars.
    """
    data = proposal.get("data") or {}
    search = proposal.get("search") or {}
    return {
        "data": {key: data.get(key) for key in ("source", "timeframe", "data_hash", "start", "end", "bars")},
        "cadence": proposal.get("cadence"),
        "holdout": proposal.get("holdout"),
        "search": {"settings": search.get("settings"), "record": proposal.get("search_record")},
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


def _pair(proposal: Mapping[str, Any]) -> str:
    return f"`{proposal['strategy']}` on `{proposal['symbol']}` ({proposal['timeframe']})"


def _decision(verdict: Mapping[str, Any] | None) -> str:
    if verdict is None:
        return "⏳ not run yet"
    return "✅ **pass**" if verdict["decision"] == "pass" else "❌ **fail**"


def _summary(proposal: Mapping[str, Any], verdict: Mapping[str, Any] | None, base: str) -> Block:
    before = proposal["kpis_before"]["overall"]
    after = proposal["kpis_after"]["overall"]
    bars = proposal["data"]["bars"]
    if proposal["status"] == "no_change":
        line = f"**tradeloop** proposes **no change** for {_pair(proposal)}: {text(proposal['reason'] or '')}"
        return Block([line])
    count = len(proposal["changes"])
    line = (
        f"**tradeloop** proposes {count} parameter {'change' if count == 1 else 'changes'} for "
        f"{_pair(proposal)}, into `{cell(base)}`: Sharpe {fmt_number(before.get('sharpe'))} → "
        f"{fmt_number(after.get('sharpe'))} ({fmt_delta(before.get('sharpe'), after.get('sharpe'))}) on the "
        f"same {fmt_number(bars)} bars. Validation: {_decision(verdict)}. Risk: `{risk_label(proposal)}`."
    )
    return Block([line])


def _kpi_blocks(proposal: Mapping[str, Any]) -> list[Block]:
    data = proposal["data"]
    before, after = proposal["kpis_before"], proposal["kpis_after"]
    intro = (
        f"Live parameters and this proposal backtested on the same bars: `{cell(data['source'])}` "
        f"{cell(data['timeframe'])}, {_when(data['start'])} → {_when(data['end'])} "
        f"({fmt_number(data['bars'])} bars, data hash `{cell(data['data_hash'])}`)."
    )
    rows = [
        (
            label,
            fmt_number(before["overall"].get(key)),
            fmt_number(after["overall"].get(key)),
            fmt_delta(before["overall"].get(key), after["overall"].get(key)),
        )
        for label, key in KPI_COLUMNS
    ]
    head, lines = table(("KPI", "Before", "After", "Δ"), "lrrr", rows)
    blocks = [Block(["### KPIs before → after", "", intro, "", *head], lines, priority=_KPIS, name="kpis")]
    regimes = sorted(set(before["regimes"]) | set(after["regimes"]))
    if regimes:
        measured = {key for kpis in (*before["regimes"].values(), *after["regimes"].values()) for key in kpis}
        columns = [(label, key) for label, key in KPI_COLUMNS if key in measured]
        regime_rows = [
            _regime_row(regime, before["regimes"], after["regimes"], columns) for regime in regimes
        ]
        header = ("Regime", "Bars", *(label for label, _ in columns))
        head, lines = table(header, "lr" + "r" * len(columns), regime_rows)
        note = "Per regime (before → after, Δ), on the bars of each regime:"
        blocks.append(Block([note, "", *head], lines, priority=_REGIMES, name="regimes"))
    return blocks


def _when(value: object) -> str:
    """An ISO time as a date when it is midnight UTC (daily bars), else as given."""
    shown = cell(value)
    return shown.removesuffix("T00:00:00+00:00").removesuffix("T00:00:00Z")


def _regime_row(
    regime: str, before: Mapping[str, Any], after: Mapping[str, Any], columns: Sequence[tuple[str, str]]
) -> list[str]:
    old, new = before.get(regime, {}), after.get(regime, {})
    bars = new.get("bars", old.get("bars"))
    cells = [
        f"{fmt_number(old.get(key))} → {fmt_number(new.get(key))} ({fmt_delta(old.get(key), new.get(key))})"
        if key in old or key in new
        else "—"
        for _, key in columns
    ]
    return [regime, fmt_number(bars), *cells]


def _parameter_blocks(proposal: Mapping[str, Any]) -> list[Block]:
    changes = proposal["changes"]
    if not changes:
        return []
    rows = [
        (
            f"`{change['parameter']}`",
            fmt_value(change["current"]),
            fmt_value(change["proposed"]),
            f"{change['delta_pct']:+.2f}",
            f"±{fmt_value(change['cap_pct'])}",
            change["bound"],
            change["binding"],
            fmt_value(change["expected_gain"]),
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
    where = f"`LIVE_PARAMS[{proposal['strategy']!r}][{proposal['symbol']!r}]` in `config/constants.py`"
    reasons = [f"- `{change['parameter']}`: {text(change['rationale'], 500)}" for change in changes]
    return [
        Block([f"### Parameters: {where}", "", *head], lines, priority=_PARAMS, name="parameters"),
        Block(["Why each parameter moves:", ""], reasons, priority=_PARAMS - 1, name="reasons"),
    ]


def _verdict_blocks(verdict: Mapping[str, Any] | None) -> list[Block]:
    if verdict is None:
        return [
            Block(
                [
                    "### Validation: ⏳ not run yet",
                    "",
                    "Add the label `validate` to this pull request to run the confirmatory validation "
                    "(walk-forward, block bootstrap, SPA, DSR, PBO); its verdict will appear here.",
                ]
            )
        ]
    gate_rows = [
        (
            gate["name"],
            _figure(gate["figure"], gate["unit"]),
            f"{_OPS[gate['op']]} {_figure(gate['threshold'], gate['unit'])}",
            ("✅ pass" if gate["passed"] else "❌ fail") + ("" if gate["gating"] else " (informational)"),
            gate["detail"],
        )
        for gate in verdict["gates"]
    ]
    head, lines = table(("Gate", "Figure", "Threshold", "Result", "Detail"), "lrrll", gate_rows)
    blocks = [
        Block(
            [f"### Validation: {_decision(verdict)}", "", text(verdict["summary"]), "", *head],
            lines,
            priority=_GATES,
            name="gates",
        ),
        _statistics(verdict),
    ]
    folds = verdict.get("folds") or []
    if folds:
        fold_rows = [
            (
                fold["fold"],
                f"{fold.get('is_start', '?')} → {fold.get('is_end', '?')}",
                f"{fold.get('oos_start', '?')} → {fold.get('oos_end', '?')}",
                fmt_number(fold.get("sharpe")),
                fmt_number(fold.get("max_drawdown_pct")),
            )
            for fold in folds
        ]
        head, lines = table(
            ("Fold", "In sample", "Out of sample", "OOS Sharpe", "OOS Max DD [%]"), "rllrr", fold_rows
        )
        summary = f"<details><summary>Walk-forward folds ({len(folds)})</summary>"
        blocks.append(Block([summary, "", *head], lines, ["", "</details>"], priority=_FOLDS, name="folds"))
    return blocks


def _figure(value: Any, unit: str) -> str:
    shown = fmt_value(value)
    return f"{shown} {unit}".strip() if unit and shown != "n/a" else shown


def _statistics(verdict: Mapping[str, Any]) -> Block:
    level = verdict["cis"]["level"]
    rows: list[tuple[str, str]] = [
        (f"p-value: {_P_VALUE_NAMES.get(name, name)}", fmt_value(value))
        for name, value in verdict["p_values"].items()
    ]
    rows += [
        (
            f"{_CI_NAMES.get(name, name)}, {fmt_value(level * 100)} % CI",
            f"[{fmt_number(bounds[0], 3)}, {fmt_number(bounds[1], 3)}]" if bounds else "n/a",
        )
        for name, bounds in verdict["cis"].items()
        if name != "level" and (bounds is None or isinstance(bounds, list | tuple))  # not block_length, reps
    ]
    effect = verdict["effect_size"]
    rows.append(
        (
            "Effect size: Δ Sharpe (candidate − baseline)",
            f"{fmt_delta(effect.get('baseline_sharpe'), effect.get('candidate_sharpe'), 3)} "
            f"({fmt_number(effect.get('baseline_sharpe'), 3)} → "
            f"{fmt_number(effect.get('candidate_sharpe'), 3)})",
        )
    )
    rows += [
        (_OVERFITTING_NAMES.get(name, name), fmt_value(value))
        for name, value in verdict["overfitting"].items()
    ]
    superior = verdict.get("stepm_superior")
    if superior is not None:
        shown = ", ".join(str(index) for index in superior) or "none"
        rows.append(("StepM: candidates superior to the live parameters", shown))
    counted = (verdict.get("search") or {}).get("counted")
    if counted:
        rows.append(("How the DSR's N was counted", text(str(counted), 300)))
    head, lines = table(("Statistic", "Value"), "lr", rows)
    return Block(["Statistics:", "", *head], lines, priority=_STATS, name="statistics")


def _rationale_blocks(proposal: Mapping[str, Any]) -> list[Block]:
    rationale = proposal["rationale"]
    flags = [
        f"- **{flag['kind']}** · `{cell(flag['metric'])}` = {fmt_value(flag['figure'])} "
        f"(threshold {fmt_value(flag['threshold'])}): {text(flag['message'], 500)}"
        for flag in rationale["flags"]
    ]
    head = ["### Rationale", "", text(rationale["summary"])]
    if flags:
        head += ["", "Analyzer flags:", ""]
    return [Block(head, flags, priority=_FLAGS, name="rationale")]


def _search_blocks(proposal: Mapping[str, Any]) -> list[Block]:
    search = proposal.get("search")
    if not isinstance(search, Mapping) or not search:
        return []
    rows = [(name.replace("_", " "), f"`{value}`") for name, value in search.items()]
    guardrails = proposal.get("guardrails")
    if isinstance(guardrails, Mapping):
        rows += [
            (f"guardrail: {name}", f"`{json.dumps(value, sort_keys=True)}`")
            for name, value in guardrails.items()
        ]
    head, lines = table(("Search", "Value"), "ll", rows)
    return [
        Block(
            ["<details><summary>Search and guardrails</summary>", "", *head],
            lines,
            ["", "</details>"],
            priority=_SEARCH,
            name="search",
        )
    ]


def _artifacts(proposal: Mapping[str, Any], hash_: str, run_url: str | None, report_url: str | None) -> Block:
    return Block(
        [
            "### Artifacts",
            "",
            f"- Workflow run: {text(run_url, 500) if run_url else 'not available (run outside a workflow)'}",
            f"- Report: {text(report_url, 500) if report_url else 'not available'}",
            f"- Proposal: run `{cell(proposal['run_id'])}`, code `{cell(proposal['git_sha'])}`, "
            f"proposal hash `{hash_[:16]}`, config hash `{cell(proposal['config_hash_before'])}` → "
            f"`{cell(proposal['config_hash_after'])}`",
        ]
    )


def _rollback(proposal: Mapping[str, Any], base: str, commit_sha: str | None) -> Block:
    key = rollout_key(proposal["strategy"], proposal["symbol"])
    if commit_sha:
        revert = [
            f"1. Revert this change on `{cell(base)}`:",
            "",
            "   ```sh",
            f"   git revert {cell(commit_sha)}",
            "   ```",
            "",
            f"   or let tradeloop open the revert PR: `tradeloop rollback --commit {cell(commit_sha)}`.",
        ]
    else:
        revert = [
            f"1. Revert the merge commit of this PR on `{cell(base)}` (the commit is known once merged):",
            "",
            "   ```sh",
            f"   git switch {cell(base)} && git pull",
            "   git revert -m 1 <merge-commit-sha>   # a squash or rebase merge: git revert <commit-sha>",
            "   ```",
            "",
            "   or let tradeloop open the revert PR: `tradeloop rollback --commit <merge-commit-sha>`.",
        ]
    flag = (
        f"2. To take capital off the new parameters at once, without a revert: in `feature_flags.json`, "
        f'set `rollouts["{key}"].stage` to `"COLD"`. This PR starts that rollout at `COLD` for config '
        f"hash `{cell(proposal['config_hash_after'])}`; the revert brings back "
        f"`{cell(proposal['config_hash_before'])}`."
    )
    return Block(["### Rollback plan", "", *revert, flag])
