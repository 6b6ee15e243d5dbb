"""Regime loadouts: a guardrailed parameter set per regime, in the shape of REGIME_LOADOUTS."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from backtest_matrix import load_bars
from backtest_matrix.engine import backtest, periods_per_year
from backtest_matrix.regimes import detect_regimes
from backtest_matrix.strategies import get_strategy
from gitops import load_constants, parse_constants, render_constants
from optimizer import REGIME_NAMES, loadout_candidates, loadouts_structure, masked_kpis, regime_kpis, step_cap
from optimizer import regime_loadouts as compute_loadouts

LIVE = {"ema_fast": 12.0, "ema_slow": 26.0, "exit_tp0_pct": 4.0, "stop_loss_pct": 2.0, "trade_fraction": 0.1}


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    return load_bars("sp500").bars.iloc[-2500:]


@pytest.fixture(scope="module")
def loadouts(bars: pd.DataFrame):  # type: ignore[no-untyped-def]
    return compute_loadouts(bars, "ema_cross", LIVE, samples=24, seed=3, min_bars=60)


def test_every_regime_gets_a_parameter_set_within_the_guardrails(loadouts) -> None:  # type: ignore[no-untyped-def]
    space = {p.name: p for p in get_strategy("ema_cross").space()}
    assert set(loadouts) == set(REGIME_NAMES)
    for loadout in loadouts.values():
        params = loadout.params
        assert set(params) == set(LIVE)
        changed = [name for name in LIVE if params[name] != LIVE[name]]
        assert len(changed) <= 3
        for name, value in params.items():
            low, high = space[name].low, space[name].high
            assert low <= value <= high
            assert abs(value - LIVE[name]) <= step_cap(LIVE[name], low, high, 0.2)
        assert params["ema_fast"] < params["ema_slow"] and float(params["ema_fast"]).is_integer()
    assert any(loadout.source == "optimised" for loadout in loadouts.values())


def test_the_chosen_set_has_the_best_regime_sharpe_among_the_candidates(bars: pd.DataFrame, loadouts) -> None:  # type: ignore[no-untyped-def]
    labels = detect_regimes(bars).labels
    per_year = periods_per_year(pd.DatetimeIndex(bars.index).as_unit("ns").asi8)
    candidates = loadout_candidates("ema_cross", LIVE, max_delta=0.2, max_knobs=3, samples=24, seed=3)
    for regime, loadout in loadouts.items():
        if loadout.bars < 60:
            assert loadout.params == LIVE and loadout.source.startswith("live values")
            continue
        mask = (labels.astype(object) == regime).to_numpy()
        sharpes = [
            masked_kpis(backtest(bars, "ema_cross", c).returns.to_numpy()[mask], per_year)["sharpe"]
            for c in candidates
        ]
        assert loadout.sharpe == pytest.approx(np.nanmax(sharpes), rel=1e-12)
        assert loadout.live_sharpe == pytest.approx(sharpes[0], rel=1e-12)


def test_structure_is_accepted_as_REGIME_LOADOUTS_by_gitops(loadouts, repo_root: Path) -> None:  # type: ignore[no-untyped-def]
    structure = loadouts_structure("ema_cross", "SP500", loadouts, {"ema_fast", "ema_slow"})
    assert list(structure) == ["ema_cross"] and list(structure["ema_cross"]) == ["SP500"]
    assert isinstance(structure["ema_cross"]["SP500"]["bull"]["ema_fast"], int)
    constants = load_constants(repo_root / "config" / "constants.py")
    updated = dataclasses.replace(constants, regime_loadouts=structure)
    reread = parse_constants(render_constants(updated))
    assert reread.constants()["REGIME_LOADOUTS"] == structure


def test_masked_kpis_match_the_formulas() -> None:
    returns = np.array([0.01, -0.02, 0.03, 0.0])
    kpis = masked_kpis(returns, 252.0)
    growth = np.cumprod(1 + returns)
    assert kpis["return_pct"] == pytest.approx((growth[-1] - 1) * 100)
    assert kpis["sharpe"] == pytest.approx(returns.mean() / returns.std(ddof=1) * np.sqrt(252))
    assert kpis["max_drawdown_pct"] == pytest.approx((1 - growth[1] / growth[0]) * 100)
    labels = pd.Series(["bull", "bear", "bull", None])
    by_regime = regime_kpis(pd.Series(returns), labels, 252.0)
    assert set(by_regime) == {"bull", "bear"} and by_regime["bull"]["bars"] == 2
    assert by_regime["bull"]["return_pct"] == pytest.approx((1.01 * 1.03 - 1) * 100)
