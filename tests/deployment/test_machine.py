"""The promotion state machine's properties, with Hypothesis: no skipped stage, no share above its stage's,
no promotion without evidence, no promotion on inconclusive data; the deadline and failed analyses fail."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from deployment import Check, decide
from gitops import DEPLOY_STAGES
from gitops._deploy_rules import STAGE_RULES

FRACTIONS = {"COLD": 0.0, "WARM": 0.0, "LIMITED": 0.1, "FULL": 1.0}
THRESHOLD = 3
OUTCOMES = ("pass", "fail", "inconclusive", "error")


def _check(name: str, outcome: str) -> Check:
    return Check(name, outcome, 1.0, 1.0, ">=")  # type: ignore[arg-type]


# One analysis: for every check of the stage, an outcome or None (the check is missing).
# Half the analyses pass every check, so that promotions happen and are checked too.
analysis = st.one_of(
    st.just(["pass"] * 9),
    st.lists(st.sampled_from((*OUTCOMES, None, "pass", "pass")), min_size=9, max_size=9),
)


def _checks(stage: str, drawn: list[Any]) -> list[Check]:
    return [
        _check(rule.name, outcome)
        for rule, outcome in zip(STAGE_RULES[stage], drawn, strict=False)
        if outcome
    ]


@given(st.lists(analysis, min_size=1, max_size=40))
def test_a_rollout_advances_one_stage_at_a_time_on_full_evidence_only(analyses: list[list[Any]]) -> None:
    stage, phase, fraction, failed = "COLD", "progressing", 0.0, 0
    promotions = 0
    for drawn in analyses:
        checks = _checks(stage, drawn)
        verdict = decide(stage, phase, fraction, checks, failed_before=failed, failure_threshold=THRESHOLD,
                         fractions=FRACTIONS)  # fmt: skip
        before = DEPLOY_STAGES.index(stage)
        after = DEPLOY_STAGES.index(verdict.stage)
        assert after in (before, before + 1), "a stage is never skipped and never goes back"
        assert verdict.canary_fraction <= FRACTIONS[verdict.stage], "no share above the stage's"
        if verdict.decision == "promote":
            names = {check.name for check in checks}
            assert phase == "progressing"
            assert names >= {rule.name for rule in STAGE_RULES[stage]}, "no promotion without every check"
            assert all(check.outcome == "pass" for check in checks), "no promotion on inconclusive data"
            assert after == before + 1 and verdict.canary_fraction == FRACTIONS[verdict.stage]
        else:
            assert after == before
        if any(c.name == "deadline" and c.outcome == "fail" for c in checks) and phase == "progressing":
            assert verdict.decision == "fail", "a passed deadline fails the rollout"
        if verdict.decision == "fail":
            assert verdict.phase == "failed" and verdict.canary_fraction == 0.0
        if phase != "progressing":
            assert verdict.decision == "hold" and (verdict.stage, verdict.phase) == (stage, phase)
        assert verdict.failed_checks >= failed
        stage, phase, fraction, failed = (
            verdict.stage,
            verdict.phase,
            verdict.canary_fraction,
            verdict.failed_checks,
        )
        if verdict.decision == "promote":
            failed = 0  # a new stage counts its own failed analyses
            promotions += 1
        if stage == "FULL":
            assert phase == "succeeded" and fraction == 1.0
            break
    assert promotions <= len(DEPLOY_STAGES) - 1


@given(st.sampled_from(("COLD", "WARM", "LIMITED")), st.integers(min_value=0, max_value=5))
def test_no_data_is_a_failed_analysis_and_enough_of_them_fail_the_rollout(
    stage: str, failed_before: int
) -> None:
    checks = [_check(rule.name, "fail" if rule.name == "data" else "pass") for rule in STAGE_RULES[stage]]
    verdict = decide(stage, "progressing", FRACTIONS[stage], checks, failed_before=failed_before,
                     failure_threshold=THRESHOLD, fractions=FRACTIONS)  # fmt: skip
    assert verdict.outcome == "fail" and verdict.failed_checks == failed_before + 1
    assert verdict.decision == ("fail" if failed_before + 1 >= THRESHOLD else "hold")


@given(st.sampled_from(("COLD", "WARM", "LIMITED")))
def test_no_checks_at_all_never_promote(stage: str) -> None:
    verdict = decide(stage, "progressing", FRACTIONS[stage], [], failed_before=0, failure_threshold=THRESHOLD,
                     fractions=FRACTIONS)  # fmt: skip
    assert verdict.decision == "hold" and verdict.outcome == "error" and verdict.failed_checks == 1


def test_inconclusive_holds_and_names_what_it_waits_for() -> None:
    checks = [
        _check(rule.name, "inconclusive" if rule.name == "trades" else "pass") for rule in STAGE_RULES["WARM"]
    ]
    verdict = decide("WARM", "progressing", 0.0, checks, failed_before=1, failure_threshold=THRESHOLD,
                     fractions=FRACTIONS)  # fmt: skip
    assert (verdict.decision, verdict.outcome, verdict.failed_checks) == ("hold", "inconclusive", 1)
    assert verdict.waiting_for == ("trades",)
    assert "waiting for trades" in verdict.reason
