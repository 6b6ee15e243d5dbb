"""Property tests: whatever the search returns and whatever the history, the guardrails hold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from optimizer import AppliedChange, ChangeBudget, bound_proposal, clip_parameters, round_towards, step_cap

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
NAMES = ("alpha", "beta", "gamma", "delta", "eps")
INTS = frozenset({"beta", "delta"})
finite = st.floats(allow_nan=False, allow_infinity=False, min_value=-1e6, max_value=1e6)


@st.composite
def spaces(draw: st.DrawFn) -> tuple[dict[str, tuple[float, float]], dict[str, float], dict[str, float]]:
    bounds: dict[str, tuple[float, float]] = {}
    current: dict[str, float] = {}
    best: dict[str, float] = {}
    for name in NAMES:
        if name in INTS:
            low = draw(st.integers(-50, 50))
            high = draw(st.integers(low, low + 500))
            value = float(draw(st.integers(low, high)))
            bounds[name] = (float(low), float(high))
        else:
            low = draw(st.floats(-1e3, 1e3))
            high = low + draw(st.floats(0, 1e3))
            value = (
                draw(st.one_of(st.just(0.0), st.just(low), st.floats(low, high)))
                if low <= 0 <= high
                else (draw(st.floats(low, high)))
            )
            bounds[name] = (low, high)
        current[name] = value
        if draw(st.booleans()):
            best[name] = draw(finite)
    return bounds, current, best


histories = st.lists(
    st.builds(
        AppliedChange,
        strategy=st.sampled_from(["s", "other"]),
        symbol=st.sampled_from(["X", "Y"]),
        applied_at=st.integers(-400 * 60, 60).map(lambda minutes: NOW + timedelta(minutes=minutes)),
        parameters=st.lists(st.sampled_from(NAMES), min_size=1, max_size=3, unique=True).map(tuple),
    ),
    max_size=8,
)


@settings(max_examples=400, deadline=None)
@given(
    space=spaces(),
    history=histories,
    gains=st.dictionaries(st.sampled_from(NAMES), st.floats(-5, 5, allow_nan=False)),
    max_delta=st.floats(0, 1),
    max_knobs=st.integers(0, 5),
    cooldown=st.integers(0, 48),
    budget=st.integers(0, 10),
    window=st.integers(1, 400),
)
def test_no_output_breaks_a_guardrail(
    space: tuple[dict[str, tuple[float, float]], dict[str, float], dict[str, float]],
    history: list[AppliedChange],
    gains: dict[str, float],
    max_delta: float,
    max_knobs: int,
    cooldown: int,
    budget: int,
    window: int,
) -> None:
    bounds, current, best = space
    proposal = bound_proposal(
        current, best, strategy="s", symbol="X", hard_bounds=bounds, int_params=INTS, max_delta=max_delta,
        max_knobs=max_knobs, expected_gain=gains, history=history, now=NOW, cooldown_hours=cooldown,
        change_budget=ChangeBudget(budget, window),
    )  # fmt: skip
    after = proposal.params_after
    changed = sorted(name for name in NAMES if after[name] != current[name])
    assert sorted(change.parameter for change in proposal.changes) == changed
    own = [h for h in history if (h.strategy, h.symbol) == ("s", "X")]
    for name in NAMES:
        low, high = bounds[name]
        assert low <= after[name] <= high
        assert abs(after[name] - current[name]) <= step_cap(current[name], low, high, max_delta)
        if name in INTS:
            assert after[name].is_integer()
    assert len(changed) <= max_knobs
    used = sum(len(h.parameters) for h in own if h.applied_at > NOW - timedelta(hours=window))
    assert used + len(changed) <= max(budget, used)
    if changed:
        assert proposal.status == "proposed"
        assert all(h.applied_at <= NOW - timedelta(hours=cooldown) for h in own)
        assert all(gains[name] > 0 for name in changed)
    else:
        assert proposal.status == "no_change" and proposal.reason


@settings(max_examples=200, deadline=None)
@given(space=spaces(), max_delta=st.floats(0, 1))
def test_unblocked_proposal_takes_the_largest_gains_first(
    space: tuple[dict[str, tuple[float, float]], dict[str, float], dict[str, float]], max_delta: float
) -> None:
    bounds, current, best = space
    gains = {name: float(i + 1) for i, name in enumerate(NAMES)}
    proposal = bound_proposal(
        current, best, strategy="s", symbol="X", hard_bounds=bounds, int_params=INTS, max_delta=max_delta,
        max_knobs=2, expected_gain=gains, now=NOW, cooldown_hours=6, change_budget=ChangeBudget(6, 168),
    )  # fmt: skip
    chosen = [change.parameter for change in proposal.changes]
    assert chosen == sorted(chosen, key=lambda name: -gains[name])
    skipped_better = [
        name
        for name in NAMES
        if gains[name] > min((gains[c] for c in chosen), default=0) and name not in chosen
    ]
    # a better-gaining parameter is left out only when the guardrails keep it where it is
    for name in skipped_better:
        probe = bound_proposal(
            current, best, strategy="s", symbol="X", hard_bounds=bounds, int_params=INTS, max_delta=max_delta,
            max_knobs=5, expected_gain=gains, now=NOW, cooldown_hours=6, change_budget=ChangeBudget(6, 168),
        )  # fmt: skip
        assert name not in {change.parameter for change in probe.changes}


@given(
    current=st.floats(0.01, 100.0),
    best=st.floats(0.0, 200.0),
    places=st.integers(0, 4),
)
def test_a_proposed_float_has_its_parameters_precision_and_stays_within_the_cap(
    current: float, best: float, places: int
) -> None:
    clipped = clip_parameters(
        {"x": current}, {"x": best}, hard_bounds={"x": (0.0, 200.0)}, max_delta=0.2, decimals={"x": places}
    )["x"]
    # On the parameter's grid, or not moved at all (a live value off the grid with no step towards best).
    assert clipped.proposed == round(clipped.proposed, places) or clipped.proposed == current
    assert abs(clipped.proposed - current) <= clipped.cap + 1e-12
    assert (
        min(current, best) - 1e-12 <= clipped.proposed <= max(current, best) + 1e-12
        or clipped.proposed == current
    )


def test_rounding_goes_towards_the_live_value_and_ignores_float_noise() -> None:
    assert round_towards(0.1 * 1.2, 0.1, 3) == 0.12  # not 0.12000000000000001, not 0.119
    assert round_towards(4.037018021955038, 3.5, 2) == 4.03
    assert round_towards(4.037018021955038, 5.0, 2) == 4.04
    assert round_towards(4.8, 4.0, 2) == 4.8  # 4.8 * 100 is 479.99999999999994


def test_the_optimizer_proposes_values_written_at_their_declared_precision() -> None:
    from backtest_matrix.strategies import get_strategy

    space = {param.name: param for param in get_strategy("rsi_reversion").space()}
    assert space["trade_fraction"].precision == 3 and space["oversold"].precision == 2
    assert space["rsi_period"].precision == 0
