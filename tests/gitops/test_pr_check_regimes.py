"""``tradeloop pr check`` on regime loadouts and ensemble weights, end to end on the GitHub stand-in.

The base branch is set up by a maintainer's commit (the weights of SP500's three live strategies, a loadout);
each pull request is a real commit pushed to the stand-in and judged through the CLI.
"""

from __future__ import annotations

import pytest

from tests.github_standin import GitHubEnv, git
from tests.gitops.test_pr_check import check, open_pr

CONSTANTS = "config/constants.py"
NO_WEIGHTS = "ENSEMBLE_WEIGHTS: Final = {}"
NO_LOADOUTS = "REGIME_LOADOUTS: Final = {}"


def the_violation(gh: GitHubEnv, number: int) -> str:
    """``pr check``'s one violation of pull request ``number`` (it must fail with exactly one)."""
    code, report = check(gh, number)
    assert code == 1, report
    [violation] = report["violations"]
    return str(violation)


def weights(donchian: float, ema: float, rsi: float) -> str:
    shares = f'"donchian_breakout": {donchian}, "ema_cross": {ema}, "rsi_reversion": {rsi}'
    return f'ENSEMBLE_WEIGHTS: Final = {{"SP500": {{{shares}}}}}'


def loadout(**params: float) -> str:
    inner = ", ".join(f'"{name}": {value}' for name, value in params.items())
    return f'REGIME_LOADOUTS: Final = {{"ema_cross": {{"SP500": {{"bull": {{{inner}}}}}}}}}'


@pytest.fixture
def gh(github_env: GitHubEnv, monkeypatch: pytest.MonkeyPatch) -> GitHubEnv:
    for key, value in github_env.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("TRADELOOP_GITHUB_TOKEN", raising=False)
    return github_env


def set_base(env: GitHubEnv, *replacements: tuple[str, str]) -> str:
    """A maintainer's commit on main with ``replacements``; returns the new base text."""
    text = env.bare.file_at("main", CONSTANTS) or ""
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    if replacements:
        env.bare.human_commit("main", {CONSTANTS: text}, "Maintainer: the base of this scenario")
        git("fetch", "--quiet", "origin", cwd=env.clone)
    return text


def pr_with(env: GitHubEnv, base: str, branch: str, *replacements: tuple[str, str]) -> int:
    text = base
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    return open_pr(env, branch, {CONSTANTS: text})


def test_ensemble_weights_move_at_most_the_turnover_cap(gh: GitHubEnv) -> None:
    base = set_base(
        gh,
        (NO_WEIGHTS, weights(0.2, 0.4, 0.4)),
        ("ENSEMBLE_MAX_TURNOVER: Final[float] = 0.2", "ENSEMBLE_MAX_TURNOVER: Final[float] = 0.1"),
    )
    within = pr_with(gh, base, "tradeloop/ensemble/SP500", (weights(0.2, 0.4, 0.4), weights(0.3, 0.35, 0.35)))
    code, report = check(gh, within)
    assert code == 0, report["violations"]
    past = pr_with(gh, base, "tradeloop/ensemble/SP500-big", (weights(0.2, 0.4, 0.4), weights(0.4, 0.3, 0.3)))
    code, report = check(gh, past)
    assert code == 1
    assert report["violations"] == [
        "config/constants.py: ENSEMBLE_WEIGHTS.SP500 moves 0.2 of SP500's capital (donchian_breakout 0.2, "
        "ema_cross 0.4, rsi_reversion 0.4 → donchian_breakout 0.4, ema_cross 0.3, rsi_reversion 0.3), past "
        "ENSEMBLE_MAX_TURNOVER = 0.1; move at most 0.1 per cycle (a step along the way to the target)"
    ]


def test_weights_that_break_their_bounds_are_refused_at_the_head(gh: GitHubEnv) -> None:
    base = set_base(gh, (NO_WEIGHTS, weights(0.2, 0.4, 0.4)))
    number = pr_with(gh, base, "tradeloop/ensemble/SP500", (weights(0.2, 0.4, 0.4), weights(0.1, 0.45, 0.45)))
    code, report = check(gh, number)
    assert code == 1
    joined = "\n".join(report["violations"])
    assert (
        "ENSEMBLE_WEIGHTS.SP500.ema_cross = 0.45 is outside [ENSEMBLE_MIN_WEIGHT, ENSEMBLE_MAX_WEIGHT]"
        in joined
    )


def test_weights_and_parameters_in_one_pr_are_refused(gh: GitHubEnv) -> None:
    base = set_base(gh, (NO_WEIGHTS, weights(0.2, 0.4, 0.4)))
    number = pr_with(
        gh,
        base,
        "mixed",
        (weights(0.2, 0.4, 0.4), weights(0.3, 0.35, 0.35)),
        ('"ema_fast": 12,', '"ema_fast": 13,'),
    )
    code, report = check(gh, number)
    assert code == 1
    assert (
        "config/constants.py: ENSEMBLE_WEIGHTS changes together with the parameters of ema_cross/SP500; an "
        "auto-PR changes ensemble weights alone: split it into one pull request per purpose"
    ) in report["violations"]


def test_a_loadout_and_a_live_change_of_the_same_pair_are_refused(gh: GitHubEnv) -> None:
    base = set_base(gh)
    number = pr_with(
        gh, base, "mixed", (NO_LOADOUTS, loadout(ema_fast=13)), ('"ema_fast": 12,', '"ema_fast": 13,')
    )
    code, report = check(gh, number)
    assert code == 1
    assert (
        "config/constants.py: LIVE_PARAMS.ema_cross.SP500 and REGIME_LOADOUTS.ema_cross.SP500 both change; "
        "an auto-PR changes the live parameters or the loadouts of a pair, not both: split it into two pull "
        "requests on separate branches"
    ) in report["violations"]


def test_a_loadout_moves_at_most_the_cap_from_the_set_it_replaces(gh: GitHubEnv) -> None:
    # Live stop 2.0; the bull loadout already holds 2.4. From 2.4, 2.8 is within 20 % (from live it is 40 %).
    base = set_base(gh, (NO_LOADOUTS, loadout(stop_loss_pct=2.4)))
    within = pr_with(
        gh,
        base,
        "tradeloop/loadouts/ema_cross/SP500",
        (loadout(stop_loss_pct=2.4), loadout(stop_loss_pct=2.8)),
    )
    code, report = check(gh, within)
    assert code == 0, report["violations"]
    # 1.9 is 5 % from live but 20.8 % from the loadout it replaces.
    past = pr_with(
        gh,
        base,
        "tradeloop/loadouts/ema_cross/SP500-far",
        (loadout(stop_loss_pct=2.4), loadout(stop_loss_pct=1.9)),
    )
    violation = the_violation(gh, past)
    assert violation.startswith(
        "config/constants.py: REGIME_LOADOUTS.ema_cross.SP500.bull.stop_loss_pct moves 2.4 → 1.9 (20.8%), "
        "past its per-cycle cap of 20%"
    ), violation


def test_a_first_loadout_is_capped_from_the_live_set(gh: GitHubEnv) -> None:
    base = set_base(gh)
    number = pr_with(
        gh, base, "tradeloop/loadouts/ema_cross/SP500", (NO_LOADOUTS, loadout(stop_loss_pct=2.8))
    )
    violation = the_violation(gh, number)
    assert violation.startswith(
        "config/constants.py: REGIME_LOADOUTS.ema_cross.SP500.bull.stop_loss_pct moves 2 → 2.8 (40.0%), "
        "past its per-cycle cap of 20%"
    ), violation


def test_removing_a_loadout_value_is_a_move_back_to_the_live_value(gh: GitHubEnv) -> None:
    # The bull loadout holds stop 2.8 over a live 2.0: dropping it returns bull to 2.0 at once, 28.6 %.
    base = set_base(gh, (NO_LOADOUTS, loadout(stop_loss_pct=2.8)))
    number = pr_with(
        gh, base, "tradeloop/loadouts/ema_cross/SP500", (loadout(stop_loss_pct=2.8), NO_LOADOUTS)
    )
    violation = the_violation(gh, number)
    assert violation.startswith(
        "config/constants.py: REGIME_LOADOUTS.ema_cross.SP500.bull.stop_loss_pct moves 2.8 → 2 (28.6%), "
        "past its per-cycle cap of 20%"
    ), violation
