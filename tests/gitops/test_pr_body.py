"""The PR body (golden files, the 30-second rules, truncation, metadata), the commit message, the branch
name and the risk label.

Two golden files: ``pr_body.md`` renders the hand-built documents of :mod:`tests.gitops.proposals` (gates
from validation's own code), ``pr_body_demo.md`` the real proposal and verdict ``tradeloop cycle`` wrote
for the demo pair. Regenerate them after an intended change of the layout with
``TRADELOOP_UPDATE_GOLDEN=1 .venv/bin/pytest tests/gitops/test_pr_body.py`` and review their diff.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
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
    validation_metadata,
)
from gitops._markdown import fmt_count, fmt_date, fmt_sig, round_figures
from gitops._names import SYMBOL, TIMEFRAME
from gitops._pr_validation import BARS_TEXT, stepm_sentence
from tests.gitops.proposals import (
    GOLDEN_DIR,
    demo_documents,
    make_proposal,
    realistic_proposal,
    realistic_verdict,
    reviewed_proposal,
    typed,
    typed_verdict,
)
from tradeloop.errors import ProposalError

LINKS: dict[str, Any] = {
    "run_url": "https://github.com/acme/trading-bot/actions/runs/7712345678",
    "report_url": "https://github.com/acme/trading-bot/actions/runs/7712345678/artifacts/4242",
}


def realistic_body(**overrides: Any) -> str:
    """The body ``pr open`` gives the hand-built proposal in a workflow, once its number (12) is known."""
    proposal = reviewed_proposal()
    arguments: dict[str, Any] = {**LINKS, "base_branch": "main", "commit_sha": None, "pr_number": 12}
    return render_pr_body(
        typed(proposal), typed_verdict(realistic_verdict(proposal)), **(arguments | overrides)
    )


def demo_body(**overrides: Any) -> str:
    """The body ``tradeloop cycle`` writes beside the demo pair's real documents (``pr-body.md``)."""
    proposal, verdict = demo_documents()
    arguments: dict[str, Any] = {"run_url": None, "report_url": "../../report/report.html",
                                 "base_branch": "main", "commit_sha": None}  # fmt: skip
    return render_pr_body(typed(proposal), typed_verdict(verdict), **(arguments | overrides))


BODIES = {"realistic": realistic_body, "demo": demo_body}


@pytest.mark.parametrize(("name", "golden"), [("realistic", "pr_body.md"), ("demo", "pr_body_demo.md")])
def test_the_bodies_match_their_golden_files(name: str, golden: str) -> None:
    body = BODIES[name]()
    path = GOLDEN_DIR / golden
    if os.environ.get("TRADELOOP_UPDATE_GOLDEN") == "1":
        path.write_text(body, encoding="utf-8")
    assert body == path.read_text(encoding="utf-8"), (
        "the PR body changed; if on purpose, rerun with TRADELOOP_UPDATE_GOLDEN=1 and review the diff"
    )


# The 30-second rules -----------------------------------------------------------------------------------


def visible(body: str) -> str:
    """What a reviewer sees: the body without its hidden metadata comment."""
    return body[: body.rindex("<!-- tradeloop:metadata")]


def document_keys(*documents: Any) -> set[str]:
    """Every snake_case key of the documents, at any depth, and every gate name."""
    found: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            found.update(key for key in value if "_" in key)
            for name, item in value.items():
                if name not in ("params_before", "params_after"):
                    walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    for document in documents:
        walk(document)
        found.update(gate["name"] for gate in document.get("gates", []) if "_" in gate["name"])
    return found


def documents(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    if name == "demo":
        return demo_documents()
    proposal = reviewed_proposal()
    return proposal, realistic_verdict(proposal)


@pytest.mark.parametrize("name", sorted(BODIES))
def test_no_row_shows_a_raw_key(name: str) -> None:
    proposal, verdict = documents(name)
    shown = visible(BODIES[name]())
    parameters = set(proposal["params_before"]) | set(proposal["params_after"])
    keys = document_keys(proposal, verdict) - parameters
    assert {"search_trials", "pbo_prob_oos_loss", "n_trials_sampled", "min_trl_power"} - keys <= {
        "search_trials"
    }
    leaked = sorted(key for key in keys | {"search_trials"} if re.search(rf"(?<![\w/]){key}(?!\w)", shown))
    assert leaked == []


@pytest.mark.parametrize("name", sorted(BODIES))
def test_dates_are_dates_no_iso_time_stamps(name: str) -> None:
    shown = visible(BODIES[name]())
    assert re.search(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}", shown) is None
    assert "+00:00" not in shown


@pytest.mark.parametrize("name", sorted(BODIES))
def test_no_local_path_or_storage_url(name: str) -> None:
    proposal, _ = documents(name)
    shown = visible(BODIES[name]())
    assert proposal["search"]["storage"].startswith("sqlite:////")  # a local path was there to leak
    assert "| Study storage | local SQLite study |" in shown
    for leak in ("sqlite:", "/tmp/", "/home/", ".tradeloop/", proposal["search_record"]["path"]):
        assert leak not in shown, leak


@pytest.mark.parametrize("name", sorted(BODIES))
def test_counts_are_whole_numbers(name: str) -> None:
    shown = visible(BODIES[name]())
    counted = re.findall(
        r"(?<![\w.])(\d[\d.,]*(?:e[+-]?\d+)?) (?:bars|trades|configurations|resamples)\b", shown
    )
    assert counted, "the body names counts"
    assert [count for count in counted if not re.fullmatch(r"[\d,]+", count)] == []
    exact = {
        "demo": "| Trades | 1,004 | 394 | -610 | 333 | 130 | -203 |",
        "realistic": "| Trades | 104 | 97 | -7 | 64 | 61 | -3 |",
    }
    assert exact[name] in shown  # counts are never rounded like figures
    trades = next(line for line in shown.splitlines() if line.startswith("| Trades |"))
    assert all(re.fullmatch(r"[+-]?[\d,]+", value.strip()) for value in trades.split("|")[2:-1]), trades


def significant_digits(number: str) -> int:
    mantissa = number.lstrip("+-").split("e")[0].replace(",", "")
    digits = mantissa.replace(".", "").lstrip("0")
    return len(digits)


@pytest.mark.parametrize("name", sorted(BODIES))
def test_figures_have_at_most_three_significant_digits(name: str) -> None:
    shown = visible(BODIES[name]())
    shown = re.sub(r"`[^`]*`", "", shown)  # hashes, run ids, study names, parameter names
    shown = re.sub(r"\d{4}-\d{2}-\d{2}", "", shown)
    parameter_rows = [line for line in shown.splitlines() if line.startswith("| ") and "| ±" in line]
    for line in parameter_rows:  # a parameter's value is what gets written to config/constants.py: exact
        shown = shown.replace(line, "")
    decimals = re.findall(r"(?<![\w.])[+-]?\d[\d,]*\.\d+(?:e[+-]?\d+)?|(?<![\w.])[+-]?\d+e[+-]?\d+", shown)
    assert decimals, "the body shows figures"
    assert [figure for figure in decimals if significant_digits(figure) > 3] == []


def test_gate_figures_are_rounded() -> None:
    shown = realistic_body()
    assert (
        "| holdout | Sharpe gain's lower confidence bound | 0.0734 annualised Sharpe "
        "| > 0 annualised Sharpe |" in shown
    )
    assert "0.0734444" not in shown and "2.2448509" not in shown
    assert (
        "| holdout | StepM: beats live after the search's other candidates | t = 2.90 | > 2.24 | ✅ pass |"
        in shown
    )


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (0.0734444, "0.0734"),
        (7.060989, "7.06"),
        (12.904769, "12.9"),
        (2.87248660927397e-07, "2.87e-7"),
        (0.9999605, "1.00"),
        (9.996, "10.0"),
        (0.5, "0.5"),
        (-0.8000000000000007, "-0.8"),
        (12345.6, "12,300"),
        (0.0, "0"),
        (None, "n/a"),
        (float("nan"), "n/a"),
        (float("inf"), "∞"),
    ],
)
def test_figures_round_to_three_significant_digits(value: object, shown: str) -> None:
    assert fmt_sig(value) == shown


def test_counts_dates_and_free_text_figures() -> None:
    assert (fmt_count(1004.0), fmt_count(2263), fmt_count(None)) == ("1,004", "2,263", "n/a")
    assert fmt_date("2024-09-30T18:00:00+00:00") == "2024-09-30" == fmt_date("2024-09-30")
    assert round_figures("search best 76.1562, cap ±1.2, v1.2.3, 2024-09-30") == (
        "search best 76.2, cap ±1.2, v1.2.3, 2024-09-30"
    )


def test_the_first_screen_says_what_the_decision_rests_on() -> None:
    shown = realistic_body()
    lines = shown.splitlines()
    assert lines[0] == (
        "**tradeloop** proposes 2 parameter changes for `ema_cross` on `SP500` (1d), into `main`. "
        "Validation: ✅ **pass** (13 of 13 gating gates pass). Risk: `risk:medium`."
    )
    assert lines[2].startswith("On the holdout, live → proposed: Sharpe 0.412 → 0.664 (+0.251, annualised)")
    assert lines[4] == (
        "**Judged on** bars the search never saw: the holdout 2016-09-30 → 2018-12-31 (566 bars) and the "
        "walk-forward folds' out-of-sample bars. The search read only 2010-01-04 → 2016-09-29 (1,697 bars); "
        "there, only its own overfitting is checked."
    )


def gate_rows(body: str) -> list[list[str]]:
    start = body.index("| Bars | Gate | Figure | Threshold | Result |")
    rows = []
    for line in body[start:].splitlines()[2:]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.split("|")[1:-1]])
    return rows


@pytest.mark.parametrize("name", sorted(BODIES))
def test_gates_are_grouped_by_the_bars_they_judge_on(name: str) -> None:
    _, verdict = documents(name)
    rows = gate_rows(BODIES[name]())
    assert len(rows) == len(verdict["gates"])
    groups = [row[0] for row in rows]
    assert groups == sorted(groups, key=["holdout", "walk-forward OOS", "search (in sample)"].index)
    assert set(groups) == {"holdout", "walk-forward OOS", "search (in sample)"}
    assert validation_bars_text() == BARS_TEXT  # the verdict's own vocabulary


def validation_bars_text() -> dict[str, str]:
    from validation._verdict_markdown import _BARS_TEXT

    return dict(_BARS_TEXT)


def test_without_a_search_record_the_search_gates_only_inform() -> None:
    proposal = reviewed_proposal()
    verdict = realistic_verdict(proposal)
    for gate in verdict["gates"]:
        gate["gating"] = gate["gating"] and gate["bars"] == "holdout"
    shown = render_pr_body(
        typed(proposal), typed_verdict(verdict), **LINKS, base_branch="main", commit_sha=None
    )
    assert "the holdout 2016-09-30 → 2018-12-31 (566 bars). The search read only" in shown
    assert "its own overfitting checks only inform (no search record)" in shown
    assert "Judged on the holdout alone" in shown


def test_stepm_says_whether_the_proposal_is_superior_and_how_many_others_are() -> None:
    shown = realistic_body()
    assert (
        "| StepM superior set (family-wise error controlled) | holdout | the proposal is in it "
        "(t 2.90 > critical 2.24); so are 2 of the search's other candidates |"
    ) in shown
    proposal, verdict = demo_documents()
    assert "so are 14 of the search's other candidates" in demo_body()
    # The proposal among the candidates (index 0) is not counted among the others; out of the set it says so.
    own = {**proposal, "candidates": [{"params": proposal["params_after"], "objective": 1.0}]}
    verdict = {**verdict, "gates": [{**g, "passed": False} if g["name"] == "stepm_superior" else g
                                    for g in verdict["gates"]]}  # fmt: skip
    sentence = stepm_sentence(typed(own), typed_verdict(verdict))
    assert sentence == (
        "the proposal is not in it (t 5.41 ≤ critical 2.24); so are 13 of the search's other candidates"
    )
    assert stepm_sentence(typed(own), typed_verdict({**verdict, "stepm_superior": [0]})) is not None
    assert "none of the search's other candidates is" in str(
        stepm_sentence(typed(own), typed_verdict({**verdict, "stepm_superior": [0]}))
    )


def test_the_what_you_can_do_section() -> None:
    shown = realistic_body()
    section = shown[shown.index("### What you can do") : shown.index("### KPIs")]
    assert "add the label `validate`; the confirmatory validation runs on this pull request" in section
    assert "add the label `do-not-merge`; tradeloop stops touching this pull request" in section
    assert "close it without merging; this proposal (`008c82a3b9251336`) is never proposed again" in section
    assert "the rollout of `ema_cross/SP500` starts at `COLD`" in section
    assert shown.index("### What you can do") < shown.index("### KPIs")  # on the first screen


def test_the_report_and_the_run_are_linked() -> None:
    assert f"- Report: [report]({LINKS['report_url']})" in realistic_body()
    assert f"- Workflow run: [workflow run]({LINKS['run_url']})" in realistic_body()
    assert "- Report: [report](../../report/report.html)" in demo_body()
    assert "- Report: not available" in realistic_body(report_url=None)
    assert "- Report: not available" in realistic_body(report_url="")


def rollback_section(body: str) -> str:
    return visible(body)[body.index("### Rollback plan") :]


def test_the_rollback_plan_names_the_merge_commit_without_a_placeholder() -> None:
    with_number = rollback_section(realistic_body())
    assert "Revert the merge commit of #12 on `main`: `tradeloop rollback --pr 12`" in with_number
    sha = "3f9c2b1d8e7a6f5c4b3a29181716151413121110"
    with_sha = rollback_section(realistic_body(commit_sha=sha))
    assert (
        f"Revert `{sha}`, the merge commit of #12, on `main`: `tradeloop rollback --commit {sha}`" in with_sha
    )
    before_opening = rollback_section(realistic_body(pr_number=None))
    assert "`tradeloop rollback --pr` with this pull request's number" in before_opening
    for section in (with_number, with_sha, before_opening):
        assert re.search(r"<[a-z-]+>", section) is None, section
        assert '`rollouts["ema_cross/SP500"].stage` to `"COLD"`' in section


def test_without_a_verdict_the_body_asks_for_the_validate_label() -> None:
    proposal = reviewed_proposal()
    body = render_pr_body(
        typed(proposal), None, run_url=None, report_url=None, base_branch="main", commit_sha=None
    )
    assert "### Validation: ⏳ not run yet" in body
    assert "Add the label `validate`" in body
    assert "- Workflow run: not available" in body
    assert "**To be judged on** the holdout 2016-09-30 → 2018-12-31 (566 bars)" in body
    assert "On the 1,697 search bars (in sample), live → proposed: Sharpe 0.48 → 0.61" in body


def test_a_proposal_without_a_holdout_says_so() -> None:
    body = render_pr_body(typed(realistic_proposal()), None, **LINKS, base_branch="main", commit_sha=None)
    assert (
        "**Judged on** the proposal's bars 2010-01-04 → 2018-12-31 (2,263 bars): it recorded no holdout"
        in body
    )


def test_a_verdict_of_another_proposal_is_refused() -> None:
    proposal = realistic_proposal()
    verdict = realistic_verdict(make_proposal("ema_cross", "SP500", {"ema_fast": 14.0}))
    with pytest.raises(ProposalError, match=r"verdict.json: proposal_hash is '.*' but the proposal's is"):
        render_pr_body(
            typed(proposal),
            typed_verdict(verdict),
            run_url=None,
            report_url=None,
            base_branch="main",
            commit_sha=None,
        )


def test_the_body_says_how_the_dsr_counted_its_trials() -> None:
    counted = "N = 7 clusters of correlated configurations in a uniform sample of 2,000 of the 9,120 that met"
    proposal = reviewed_proposal()
    verdict = realistic_verdict(proposal)
    verdict["search"]["counted"] = counted
    body = render_pr_body(
        typed(proposal), typed_verdict(verdict), **LINKS, base_branch="main", commit_sha=None
    )
    assert f"| How N was counted | search (in sample) | {counted} |" in body


# Metadata ----------------------------------------------------------------------------------------------


def test_metadata_round_trips_and_is_the_last_line() -> None:
    proposal = reviewed_proposal()
    body = realistic_body()
    assert body.rstrip("\n").splitlines()[-1].startswith("<!-- tradeloop:metadata {")
    assert parse_pr_metadata(body) == {
        "proposal_hash": proposal_hash(proposal),
        "config_hash": proposal["config_hash_after"],
        "run_id": proposal["run_id"],
        **validation_metadata(typed(proposal)),
    }


def test_the_metadata_names_the_bars_the_holdout_and_the_search_record() -> None:
    proposal = reviewed_proposal()
    metadata = parse_pr_metadata(
        render_pr_body(typed(proposal), None, **LINKS, base_branch="main", commit_sha=None)
    )
    assert metadata is not None
    assert metadata["holdout"]["boundary"] == "2016-09-30T00:00:00+00:00"
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
    proposal = reviewed_proposal()
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
    body = render_pr_body(
        typed(proposal),
        typed_verdict(verdict),
        **LINKS,
        base_branch="main",
        commit_sha=None,
        pr_number=12,
        max_chars=limit,
    )
    assert len(body) <= limit
    check_markdown(body)
    assert f"shortened to stay under the {limit:,}-character limit" in body
    assert "### Rollback plan" in body and "`tradeloop rollback --pr 12`" in body
    assert "### What you can do" in body
    assert body.splitlines()[0].startswith("**tradeloop** proposes 2 parameter changes")
    assert body.rstrip("\n").splitlines()[-1].startswith("<!-- tradeloop:metadata")
    assert parse_pr_metadata(body) == {
        "proposal_hash": proposal_hash(proposal),
        "config_hash": proposal["config_hash_after"],
        "run_id": proposal["run_id"],
        **validation_metadata(typed(proposal)),
    }


def test_folds_are_cut_before_the_gates_and_the_kpis() -> None:
    proposal, verdict = huge_documents()
    body = render_pr_body(
        typed(proposal), typed_verdict(verdict), **LINKS, base_branch="main", commit_sha=None
    )
    assert "| Sharpe (annualised) | 0.48 | 0.61 | +0.13 |" in body
    assert "| `ema_fast` | 12 | 13 |" in body
    assert body.count("| holdout | Trades | 61 trades |") == 20  # every gate row survives
    assert "| 3999 |" not in body  # the last folds were cut
    assert re.search(r"_… \d+ rows left out._", body)


@pytest.mark.parametrize("name", sorted(BODIES))
def test_a_body_under_the_limit_is_not_cut(name: str) -> None:
    body = BODIES[name]()
    assert "shortened" not in body and "left out" not in body
    check_markdown(body)


# Commit message, branch name, risk label --------------------------------------------------------------


def test_the_commit_message_summarises_the_proposal() -> None:
    proposal = reviewed_proposal()
    message = commit_message(typed(proposal))
    lines = message.splitlines()
    assert lines[0] == "tradeloop: ema_cross/SP500 1d: ema_fast 12->13, stop_loss_pct 2->2.4"
    assert lines[1] == ""
    assert "- ema_fast: 12 -> 13 (+8.33 %, cap 20 %, bound [2, 200], limited by none)" in lines
    assert "- stop_loss_pct: 2 -> 2.4 (+20 %, cap 20 %, bound [0, 50], limited by cap)" in lines
    assert (
        "Sharpe 0.48 -> 0.61, return 35.2 % -> 44.1 %, max drawdown 7.9 % -> 7.1 % on the same 1,697 "
        "search bars." in lines
    )
    assert f"Tradeloop-Proposal-Hash: {proposal_hash(proposal)}" in lines
    assert lines[-1] == f"Tradeloop-Run-Id: {proposal['run_id']}"


def test_a_long_subject_is_shortened_to_72_characters() -> None:
    proposal = make_proposal(
        "rsi_reversion",
        "SP500",
        {"rsi_period": 16.0, "oversold": 33.0, "overbought": 66.0, "stop_loss_pct": 3.3, "exit_tp0_pct": 5.0},
        max_delta=0.2,
    )
    subject = commit_message(typed(proposal)).splitlines()[0]
    assert len(subject) <= 72
    assert re.fullmatch(r"tradeloop: rsi_reversion/SP500 1d: .* and \d more", subject), subject
    proposal["symbol"] = "S" * 80
    proposal["proposal_hash"] = proposal_hash(proposal)
    assert len(commit_message(typed(proposal)).splitlines()[0]) <= 72


def test_branch_name_of_the_realistic_proposal() -> None:
    proposal = realistic_proposal()
    name = branch_name(proposal["strategy"], proposal["symbol"], proposal["timeframe"])
    assert name == "tradeloop/opt/ema_cross-SP500-1d"


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
@settings(max_examples=40, deadline=None)
@given(
    strategy=st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True),
    symbol=st.one_of(st.from_regex(SYMBOL, fullmatch=True), st.text(min_size=1, max_size=12)),
    timeframe=st.from_regex(TIMEFRAME, fullmatch=True),
)
def test_branch_names_are_valid_git_refs(strategy: str, symbol: str, timeframe: str) -> None:
    name = branch_name(strategy, symbol, timeframe)
    assert name.startswith(f"tradeloop/opt/{strategy}-")
    result = subprocess.run(["git", "check-ref-format", "--branch", name], capture_output=True, check=False)
    assert result.returncode == 0, name
    assert "/" not in name.removeprefix("tradeloop/opt/")


def test_the_body_counts_earlier_looks_at_the_holdout() -> None:
    label = "| Earlier validations of this pair that looked at these holdout bars | holdout |"
    assert f"{label} none: the first look |" in realistic_body()
    proposal = reviewed_proposal()
    verdict = realistic_verdict(proposal)
    verdict["holdout"]["earlier_looks"] = 3
    assert f"{label} 3 |" in render_pr_body(
        typed(proposal), typed_verdict(verdict), **LINKS, base_branch="main", commit_sha=None
    )
    verdict["holdout"]["earlier_looks"] = None
    assert label not in render_pr_body(
        typed(proposal), typed_verdict(verdict), **LINKS, base_branch="main", commit_sha=None
    )
