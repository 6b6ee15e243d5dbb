"""The PR body (golden file, truncation, metadata), the commit message, the branch name and the risk label.

Regenerate the golden file after an intended change of the layout with
``TRADELOOP_UPDATE_GOLDEN=1 .venv/bin/pytest tests/gitops/test_pr_body.py`` and review its diff.
"""

from __future__ import annotations

import copy
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gitops import (
    MAX_BODY_CHARS,
    branch_name,
    commit_message,
    parse_pr_metadata,
    proposal_hash,
    render_pr_body,
    risk_label,
    validation_metadata,
)
from gitops._names import SYMBOL, TIMEFRAME
from tests.gitops.proposals import make_proposal, realistic_proposal, realistic_verdict
from tradeloop.errors import ProposalError

GOLDEN = Path(__file__).parent / "golden" / "pr_body.md"
LINKS: dict[str, Any] = {
    "run_url": "https://github.com/acme/trading-bot/actions/runs/7712345678",
    "report_url": "https://github.com/acme/trading-bot/actions/runs/7712345678/artifacts/report.html",
}


def realistic_body(**overrides: Any) -> str:
    proposal = realistic_proposal()
    arguments: dict[str, Any] = {**LINKS, "base_branch": "main", "commit_sha": None}
    return render_pr_body(proposal, realistic_verdict(proposal), **(arguments | overrides))


def test_the_realistic_body_matches_the_golden_file() -> None:
    body = realistic_body()
    if os.environ.get("TRADELOOP_UPDATE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(body, encoding="utf-8")
    assert body == GOLDEN.read_text(encoding="utf-8"), (
        "the PR body changed; if on purpose, rerun with TRADELOOP_UPDATE_GOLDEN=1 and review the diff"
    )


def test_the_body_has_every_section_with_units_and_figures() -> None:
    body = realistic_body(commit_sha="3f9c2b1d8e7a6f5c4b3a29181716151413121110")
    for heading in (
        "### KPIs before → after",
        "### Parameters",
        "### Validation: ✅ **pass**",
        "### Rationale",
        "### Artifacts",
        "### Rollback plan",
    ):
        assert heading in body
    for label in ("Sharpe", "Return [%]", "Max DD [%]", "Win rate [%]", "Profit factor", "Trades"):
        assert f"| {label} |" in body
    assert "| `stop_loss_pct` | 2 | 2.4 | +20.00 | ±20 | [0, 50] | cap | 0.02 |" in body
    assert "| max_pbo | 0.21 | ≤ 0.5 | ✅ pass | CSCV with 16 blocks |" in body
    assert "| Deflated Sharpe Ratio (DSR) | 0.962 |" in body
    assert "| Sharpe difference, 95 % CI | [0.021, 0.244] |" in body
    assert "(threshold 0.5): 90-day Sharpe 0.31 is below the 0.50 target" in body
    assert "   git revert 3f9c2b1d8e7a6f5c4b3a29181716151413121110\n" in body
    assert '`rollouts["ema_cross/SP500"].stage` to `"COLD"`' in body
    assert LINKS["run_url"] in body and LINKS["report_url"] in body


def test_without_a_verdict_the_body_asks_for_the_validate_label() -> None:
    proposal = realistic_proposal()
    body = render_pr_body(proposal, None, run_url=None, report_url=None, base_branch="main", commit_sha=None)
    assert "### Validation: ⏳ not run yet" in body
    assert "Add the label `validate`" in body
    assert "- Workflow run: not available" in body


def test_a_verdict_of_another_proposal_is_refused() -> None:
    proposal = realistic_proposal()
    verdict = realistic_verdict(make_proposal("ema_cross", "SP500", {"ema_fast": 14.0}))
    with pytest.raises(ProposalError, match=r"verdict.json: proposal_hash is '.*' but the proposal's is"):
        render_pr_body(proposal, verdict, run_url=None, report_url=None, base_branch="main", commit_sha=None)


# Metadata ----------------------------------------------------------------------------------------------


def test_metadata_round_trips_and_is_the_last_line() -> None:
    proposal = realistic_proposal()
    body = realistic_body()
    assert body.rstrip("\n").splitlines()[-1].startswith("<!-- tradeloop:metadata {")
    assert parse_pr_metadata(body) == {
        "proposal_hash": proposal_hash(proposal),
        "config_hash": proposal["config_hash_after"],
        "run_id": proposal["run_id"],
        **validation_metadata(proposal),
    }


def test_the_metadata_names_the_bars_the_holdout_and_the_search_record() -> None:
    proposal = {
        **realistic_proposal(),
        "holdout": {"boundary": "2017-01-03T00:00:00+00:00", "fraction": 0.25},
        "search": {"settings": {"cadence": "daily", "trials": 40, "seed": 3}},
        "search_record": {"path": "proposal.search_record.json.gz", "sha256": "ab" * 32, "configurations": 9},
    }
    metadata = parse_pr_metadata(render_pr_body(proposal, None, **LINKS, base_branch="main", commit_sha=None))
    assert metadata is not None
    assert metadata["holdout"]["boundary"] == "2017-01-03T00:00:00+00:00"
    assert metadata["search"] == {
        "settings": proposal["search"]["settings"],
        "record": proposal["search_record"],
    }
    assert metadata["data"]["data_hash"] == proposal["data"]["data_hash"]


def test_metadata_survives_hostile_values_and_only_the_last_comment_counts() -> None:
    extra = {"config_hash": "abc", "note": '--> <!-- tradeloop:metadata {"x": 1} -->', "pr": 12}
    body = realistic_body(metadata=extra)
    assert body.count("-->") == 1
    metadata = parse_pr_metadata('<!-- tradeloop:metadata {"old": true} -->\n\n' + body)
    assert metadata is not None
    assert metadata["note"] == extra["note"] and metadata["config_hash"] == "abc" and metadata["pr"] == 12


@pytest.mark.parametrize(
    "body",
    [
        None,
        "",
        "no metadata here",
        "<!-- tradeloop:metadata {not json} -->",
        "<!-- tradeloop:metadata [1, 2] -->",
    ],
)
def test_bodies_without_valid_metadata_give_none(body: str | None) -> None:
    assert parse_pr_metadata(body) is None


# Truncation --------------------------------------------------------------------------------------------


def huge_documents() -> tuple[dict[str, Any], dict[str, Any]]:
    proposal = realistic_proposal()
    for side in ("kpis_before", "kpis_after"):
        proposal[side]["regimes"] = {
            f"regime_{index:04d}": {
                "bars": index,
                "sharpe": 0.1 * (index % 7),
                "return_pct": 1.5,
                "trades": index,
            }
            for index in range(1500)
        }
    proposal["rationale"]["flags"] = [
        {"kind": "drift", "metric": f"m{index} | pipe", "figure": 1.0, "threshold": 0.5, "message": "x" * 400}
        for index in range(400)
    ]
    proposal["proposal_hash"] = proposal_hash(proposal)
    verdict = realistic_verdict(proposal, n_folds=4000)
    verdict["gates"] *= 20
    return proposal, verdict


def check_markdown(body: str) -> None:
    """Tables keep header, separator and whole rows; details and code fences are closed."""
    lines = body.splitlines()
    index = 0
    while index < len(lines):
        if lines[index].startswith("|"):
            start = index
            while index < len(lines) and lines[index].startswith("|"):
                index += 1
            rows = lines[start:index]
            assert len(rows) >= 2 and re.fullmatch(r"\|(:?-+:?\|)+", rows[1]), rows[:2]
            width = len(re.split(r"(?<!\\)\|", rows[0]))
            assert all(len(re.split(r"(?<!\\)\|", row)) == width for row in rows), "a cut table row"
            assert index == len(lines) or not lines[index].strip(), "a line glued to a table"
        index += 1
    assert body.count("<details>") == body.count("</details>")
    assert body.count("```") % 2 == 0


@pytest.mark.parametrize("limit", [MAX_BODY_CHARS, 20_000, 6_000])
def test_a_huge_body_is_cut_to_the_limit_keeping_tables_valid_and_the_metadata(limit: int) -> None:
    proposal, verdict = huge_documents()
    body = render_pr_body(proposal, verdict, **LINKS, base_branch="main", commit_sha=None, max_chars=limit)
    assert len(body) <= limit
    check_markdown(body)
    assert f"shortened to stay under the {limit:,}-character limit" in body
    assert "### Rollback plan" in body and "git revert -m 1 <merge-commit-sha>" in body
    assert body.splitlines()[0].startswith("**tradeloop** proposes 2 parameter changes")
    assert body.rstrip("\n").splitlines()[-1].startswith("<!-- tradeloop:metadata")
    assert parse_pr_metadata(body) == {
        "proposal_hash": proposal_hash(proposal),
        "config_hash": proposal["config_hash_after"],
        "run_id": proposal["run_id"],
        **validation_metadata(proposal),
    }


def test_folds_are_cut_before_the_gates_and_the_kpis() -> None:
    proposal, verdict = huge_documents()
    body = render_pr_body(proposal, verdict, **LINKS, base_branch="main", commit_sha=None)
    assert "| Sharpe | 0.48 | 0.61 | +0.13 |" in body
    assert "| `ema_fast` | 12 | 13 |" in body
    gate_rows = body.count("| min_trades | 97 trades |")
    assert gate_rows == 20  # every gate row survives
    assert "| 3999 |" not in body  # the last folds were cut
    assert re.search(r"_… \d+ rows left out._", body)


def test_a_body_under_the_limit_is_not_cut() -> None:
    body = realistic_body()
    assert "shortened" not in body and "left out" not in body
    check_markdown(body)


# Commit message, branch name, risk label --------------------------------------------------------------


def test_the_commit_message_summarises_the_proposal() -> None:
    proposal = realistic_proposal()
    message = commit_message(proposal)
    lines = message.splitlines()
    assert lines[0] == "tradeloop: ema_cross/SP500 1d: ema_fast 12->13, stop_loss_pct 2->2.4"
    assert lines[1] == ""
    assert "- ema_fast: 12 -> 13 (+8.33 %, cap 20 %, bound [2, 200], limited by none)" in lines
    assert "- stop_loss_pct: 2 -> 2.4 (+20.00 %, cap 20 %, bound [0, 50], limited by cap)" in lines
    assert f"Tradeloop-Proposal-Hash: {proposal_hash(proposal)}" in lines
    assert lines[-1] == f"Tradeloop-Run-Id: {proposal['run_id']}"


def test_a_long_subject_is_shortened_to_72_characters() -> None:
    proposal = make_proposal(
        "rsi_reversion",
        "SP500",
        {"rsi_period": 16.0, "oversold": 33.0, "overbought": 66.0, "stop_loss_pct": 3.3, "exit_tp0_pct": 5.0},
        max_delta=0.2,
    )
    subject = commit_message(proposal).splitlines()[0]
    assert len(subject) <= 72
    assert re.fullmatch(r"tradeloop: rsi_reversion/SP500 1d: .* and \d more", subject), subject
    proposal["symbol"] = "S" * 80
    assert len(commit_message(proposal).splitlines()[0]) <= 72


def test_branch_name_of_the_realistic_proposal() -> None:
    assert branch_name(realistic_proposal()) == "tradeloop/opt/ema_cross-SP500-1d"


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
@settings(max_examples=40, deadline=None)
@given(
    strategy=st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True),
    symbol=st.one_of(st.from_regex(SYMBOL, fullmatch=True), st.text(min_size=1, max_size=12)),
    timeframe=st.from_regex(TIMEFRAME, fullmatch=True),
)
def test_branch_names_are_valid_git_refs(strategy: str, symbol: str, timeframe: str) -> None:
    name = branch_name({"strategy": strategy, "symbol": symbol, "timeframe": timeframe})
    assert name.startswith(f"tradeloop/opt/{strategy}-")
    result = subprocess.run(["git", "check-ref-format", "--branch", name], capture_output=True, check=False)
    assert result.returncode == 0, name
    assert "/" not in name.removeprefix("tradeloop/opt/")


@pytest.mark.parametrize(
    ("deltas", "label"),
    [
        ([], "risk:low"),
        ([4.9], "risk:low"),
        ([-5.0], "risk:low"),
        ([5.1], "risk:medium"),
        ([1.0, -1.0], "risk:medium"),
        ([15.0], "risk:medium"),
        ([-15.5], "risk:high"),
        ([1.0, 1.0, 1.0], "risk:high"),
    ],
)
def test_risk_label_by_the_size_of_the_change(deltas: list[float], label: str) -> None:
    proposal = copy.deepcopy(realistic_proposal())
    proposal["changes"] = [{"delta_pct": delta} for delta in deltas]
    assert risk_label(proposal) == label


def test_the_body_says_how_the_dsr_counted_its_trials() -> None:
    proposal = realistic_proposal()
    counted = "N = 7 clusters of correlated configurations in a uniform sample of 2,000 of the 9,120 that met"
    verdict = {**realistic_verdict(proposal), "search": {"counted": counted}}
    body = render_pr_body(proposal, verdict, **LINKS, base_branch="main", commit_sha=None)
    assert f"| How the DSR's N was counted | {counted} |" in body
