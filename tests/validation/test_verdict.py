"""The verdict end to end on the optimizer's own proposals: a planted improvement passes, while the live
parameters, a position-size-only change and a change judged on unseen bars that do not back it fail."""

from __future__ import annotations

import copy
import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from backtest_matrix.engine import backtest
from gitops import load_constants, proposal_hash
from optimizer import ProposalOutcome
from tests.validation.proposals import (
    CAPITAL_USD,
    DAILY_LIVE,
    ENGINE,
    daily,
    planted,
    planted_bars,
    sp500,
    with_params_after,
)
from tradeloop._provenance import json_safe
from tradeloop.documents import Proposal
from tradeloop.errors import ProposalError, StrategyError, ValidationError
from validation import Thresholds, Verdict, split_at_holdout, validate_proposal, verdict_markdown

NOW = datetime(2024, 12, 2, tzinfo=UTC)
REPO_ROOT = Path(__file__).resolve().parents[2]
SKILL_GATES = ("effect_size", "holdout_sharpe_test", "stepm_superior")
SEED = 1


def _thresholds() -> Thresholds:
    constants = load_constants(REPO_ROOT / "config" / "constants.py")
    return Thresholds.from_constants(constants.guardrails, capital_usd=CAPITAL_USD)


def _validate(outcome: ProposalOutcome, document: dict[str, Any] | None = None, **options: Any) -> Verdict:
    bars = planted_bars() if outcome.proposal.symbol == "DEMO" else sp500()[0]
    proposal = outcome.proposal if document is None else Proposal.from_json(document)
    window = bars.loc[(bars.index >= proposal.data.start) & (bars.index <= proposal.data.end)]
    options.setdefault("search_record", outcome.record)
    return validate_proposal(proposal, window, _thresholds(), seed=SEED, reps=300, now=NOW, **options)


@pytest.fixture(scope="module")
def better() -> Verdict:
    return _validate(planted())


@pytest.fixture(scope="module")
def unchanged() -> Verdict:
    outcome = daily()
    document = outcome.proposal.to_json()
    return _validate(outcome, with_params_after(document, document["params_before"]))


@pytest.fixture(scope="module")
def size_only() -> Verdict:
    outcome = daily()
    document = outcome.proposal.to_json()
    after = {**document["params_before"], "trade_fraction": DAILY_LIVE["trade_fraction"] * 1.2}
    return _validate(outcome, with_params_after(document, after))


def _failed(verdict: Verdict) -> set[str]:
    return {gate.name for gate in verdict.gates if gate.gating and not gate.passed}


def test_the_optimizer_moves_the_planted_stale_bands_by_the_cap() -> None:
    document = planted().proposal.to_json()
    moves = {change["parameter"]: (change["current"], change["proposed"]) for change in document["changes"]}
    assert moves["overbought"] == (55.0, 66.0) and moves["oversold"] == (35.0, 28.0)
    assert document["holdout"]["fraction"] == 0.25 and document["holdout"]["bars"] == 6000
    assert document["search_record"]["configurations"] == len(planted().record or ())


def test_a_planted_improvement_passes_every_gate_on_bars_the_search_never_saw(better: Verdict) -> None:
    assert better.decision == "pass", better.summary
    assert all(gate.passed for gate in better.gates if gate.gating)
    holdout = planted().proposal.to_json()["holdout"]
    assert better.holdout["start"] == holdout["start"] == holdout["boundary"]
    assert better.holdout["bars"] == 6000 and better.search["bars"] == 18000
    assert better.p_values["holdout_sharpe"] < 0.001
    assert better.holdout["min_trl_bars"] < better.holdout["bars"]
    assert better.overfitting["n_trials_raw"] == len(planted().record or ())
    assert better.overfitting["n_trials"] <= better.overfitting["n_trials_sampled"] <= 2000


def test_the_effect_is_measured_on_the_holdout_alone(better: Verdict) -> None:
    bars = planted_bars()
    proposal = planted().proposal
    _, holdout = split_at_holdout(bars, proposal)
    for name, params in (("candidate", proposal.params_after), ("baseline", proposal.params_before)):
        run = backtest(holdout, "rsi_reversion", params, config=_engine())
        assert better.kpis[name]["sharpe"] == pytest.approx(run.kpis["sharpe"], rel=1e-12)
        assert better.kpis[name]["trades"] == run.kpis["trades"]


def _engine() -> Any:
    return type(ENGINE)(fee_bps=ENGINE.fee_bps, slippage_bps=ENGINE.slippage_bps, init_cash=CAPITAL_USD)


def test_the_live_parameters_proposed_again_fail_every_skill_gate(unchanged: Verdict) -> None:
    assert unchanged.decision == "fail"
    assert set(SKILL_GATES) <= _failed(unchanged)
    assert unchanged.p_values["holdout_sharpe"] == 1.0 and unchanged.holdout["test"] == "no difference"
    assert unchanged.effect_size["delta_sharpe"] == 0.0


def test_a_position_size_only_change_fails_every_skill_gate(size_only: Verdict) -> None:
    """trade_fraction 0.05 -> 0.06 on real S&P 500 bars: more return, the same Sharpe; no skill."""
    assert size_only.decision == "fail"
    assert set(SKILL_GATES) <= _failed(size_only)
    assert abs(size_only.effect_size["delta_sharpe"]) < 0.01
    assert size_only.p_values["holdout_sharpe"] > 0.5
    assert size_only.kpis["candidate"]["return_pct"] != size_only.kpis["baseline"]["return_pct"]


def test_without_a_search_record_the_verdict_is_the_holdout_alone_and_says_so() -> None:
    alone = _validate(planted(), search_record=None)
    assert alone.decision == "pass" and "holdout alone" in alone.summary
    assert alone.overfitting["dsr"] is None and alone.overfitting["n_trials"] is None
    gates = {gate.name: gate for gate in alone.gates}
    assert not gates["deflated_sharpe"].gating and not gates["pbo"].gating
    assert "no search record" in alone.search["counted"] and "holdout alone" in verdict_markdown(alone)


def test_the_search_record_counts_the_whole_search(better: Verdict) -> None:
    record = planted().record
    assert record is not None
    over = better.overfitting
    assert over["n_trials_raw"] == len(record) == sum(record.stage_counts.values())
    assert over["n_trials_feasible"] == int(record.feasible.sum())
    ppy = record.bars["periods_per_year"]
    feasible_sharpes = record.per_bar_sharpes[record.feasible]
    assert over["sharpe_variance"] == pytest.approx(float(np.var(feasible_sharpes, ddof=1)) * ppy)
    assert over["selected_sharpe"] == pytest.approx(
        float(np.nanmax(record.sharpe[record.feasible])), rel=1e-9
    )
    assert f"of {len(record):,} tried" in better.search["counted"]


def test_verdict_json_follows_contract_3(better: Verdict) -> None:
    document = json.loads(json.dumps(json_safe(better.to_json()), allow_nan=False))
    assert document["schema_version"] == 1 and document["kind"] == "tradeloop.verdict"
    assert document["proposal_hash"] == planted().proposal.proposal_hash
    assert document["created_at"] == NOW.isoformat(timespec="seconds")
    gate_keys = {"name", "figure", "threshold", "op", "unit", "passed", "gating", "detail", "bars"}
    assert all(set(gate) == gate_keys for gate in document["gates"])
    assert {"holdout_sharpe", "ledoit_wolf", "spa_consistent", "reality_check"} <= set(document["p_values"])
    assert {"psr", "dsr", "pbo", "min_trl_bars", "n_trials", "n_trials_raw"} <= set(document["overfitting"])
    assert isinstance(document["overfitting"]["n_trials"], int)
    fold_keys = {"fold", "oos_start", "oos_end", "sharpe", "baseline_sharpe", "max_drawdown_pct", "params"}
    assert len(document["folds"]) == 5 and all(fold_keys <= set(fold) for fold in document["folds"])
    assert document["cpcv"]["splits"] == 15 and document["cpcv"]["paths"] == 5


def test_p_values_are_ordered_and_reality_check_is_the_upper_one(better: Verdict, unchanged: Verdict) -> None:
    for verdict in (better, unchanged):
        p = verdict.p_values
        assert p["spa_lower"] <= p["spa_consistent"] <= p["spa_upper"] == p["reality_check"]


def test_the_markdown_says_what_each_statistic_tests_and_on_which_bars(better: Verdict) -> None:
    markdown = verdict_markdown(better)
    assert "**Decision: PASS**" in markdown
    for gate in better.gates:
        assert f"| `{gate.name}` |" in markdown
    texts = ("H0: candidate Sharpe − live Sharpe ≤ 0.05", "one-sided, 95%", "search (in sample)",
             "never seen by the search", "80% power", "clusters of correlated configurations")  # fmt: skip
    for text in texts:
        assert text in markdown


def test_the_walk_forward_reruns_the_search_on_each_fold(better: Verdict) -> None:
    walk = better.walk_forward
    assert walk["folds"] == 5 and walk["changed_folds"] >= 4
    assert walk["gain"] > 1.0
    for fold in better.folds:
        assert datetime.fromisoformat(fold["is_end"]) < datetime.fromisoformat(fold["oos_start"])
        assert fold["sharpe"] > fold["baseline_sharpe"]


def test_same_seed_same_verdict(unchanged: Verdict) -> None:
    outcome = daily()
    document = outcome.proposal.to_json()
    again = _validate(outcome, with_params_after(document, document["params_before"]))
    assert json.dumps(json_safe(again.to_json())) == json.dumps(json_safe(unchanged.to_json()))


def _mutated(path: str, value: Any) -> dict[str, Any]:
    proposal = copy.deepcopy(planted().proposal.to_json())
    *parents, key = path.split(".")
    target: Any = proposal
    for parent in parents:
        target = target[int(parent)] if parent.isdigit() else target[parent]
    if value is KeyError:
        del target[key]
    else:
        target[key] = value
    return proposal


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        ("schema_version", 2, "schema_version must be 1, got 2"),
        ("kind", "tradeloop.verdict", "kind must be 'tradeloop.proposal'"),
        ("data.data_hash", KeyError, "data.data_hash is missing"),
        ("proposal_hash", "", 'proposal_hash must be .*, got ""'),
        ("candidates.0.params", None, "candidates.0.params must be an object, got null"),
        ("search.n_effective_trials", 0, "search.n_effective_trials must be >= 1, got 0"),
        ("guardrails.max_delta", 1.5, r"guardrails.max_delta must be in \(0, 1\], got 1.5"),
        ("holdout.boundary", "soon", 'holdout.boundary must be an ISO-8601 time .*, got "soon"'),
        ("search_record.sha256", None, "search_record.sha256 must be a string, got null"),
    ],
)
def test_a_proposal_breaking_its_contract_is_an_error_naming_the_field(
    path: str, value: Any, message: str
) -> None:
    """The one parser of contract 2 (what validation used to check on its own is in the schema now)."""
    with pytest.raises(ProposalError, match=message) as error:
        Proposal.from_json(_mutated(path, value), "out/proposal.json")
    assert str(error.value).startswith("out/proposal.json: ")


def _validatable(document: dict[str, Any]) -> Verdict:
    proposal = Proposal.from_json(document, "out/proposal.json")
    return validate_proposal(proposal, planted_bars(), _thresholds(), search_record=planted().record, now=NOW)


def test_a_proposal_with_nothing_to_judge_is_refused_before_any_backtest() -> None:
    withheld = planted().proposal.withheld("declined before")
    with pytest.raises(ValidationError, match=r"^proposal.json: status is 'no_change' .*nothing to validate"):
        validate_proposal(withheld, planted_bars(), _thresholds(), now=NOW)
    without_holdout = _mutated("holdout", KeyError)
    with pytest.raises(ValidationError, match=r"^out/proposal.json: holdout.boundary is missing .*re-run"):
        _validatable(without_holdout)


def test_a_parameter_of_the_wrong_kind_is_named() -> None:
    document = _mutated("params_after.rsi_period", "nine")
    document["changes"] = [c for c in document["changes"] if c["parameter"] != "rsi_period"]
    document["proposal_hash"] = proposal_hash(document)
    with pytest.raises(
        StrategyError, match="proposal params_after: rsi_period must be an integer, got 'nine'"
    ):
        _validatable(document)


def test_parameters_outside_their_bounds_are_named() -> None:
    document = planted().proposal.to_json()
    proposal = with_params_after(document, {**document["params_after"], "oversold": 99.0})
    with pytest.raises(StrategyError, match="proposal params_after: oversold must be within"):
        _validate(planted(), proposal)


def test_a_search_record_of_other_bars_is_refused() -> None:
    with pytest.raises(ValidationError, match="the record belongs to another search"):
        _validate(planted(), search_record=daily().record)


def test_stepm_membership_is_its_t_above_the_last_critical_value(better: Verdict, unchanged: Verdict) -> None:
    for verdict in (better, unchanged):
        gate = {g.name: g for g in verdict.gates}["stepm_superior"]
        assert gate.figure is not None and math.isfinite(gate.threshold)
        assert gate.passed == (gate.figure > gate.threshold)
    assert {g.name: g for g in better.gates}["stepm_superior"].passed


def test_the_bootstrap_uses_bootstrap_replications_unless_told_otherwise() -> None:
    outcome = daily()
    document = with_params_after(outcome.proposal.to_json(), outcome.proposal.to_json()["params_before"])
    bars = sp500()[0]
    window = bars.loc[(bars.index >= document["data"]["start"]) & (bars.index <= document["data"]["end"])]
    verdict = validate_proposal(
        Proposal.from_json(document), window, _thresholds(), search_record=outcome.record, now=NOW
    )
    assert verdict.cis["reps"] == _thresholds().bootstrap_replications == 2000
