"""The analyzer on synthetic warehouse histories (SQLite in tmp_path): planted problems are flagged."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from optimizer import (
    analyze_history,
    analyze_warehouse,
    bar_drift_flags,
    nightly_series,
    population_stability_index,
    schedule,
)
from warehouse import Warehouse

T0 = datetime(2026, 1, 1, 2, tzinfo=UTC)
LIVE = {"ema_cross": {"SP500": {"timeframe": "1d", "ema_fast": 12}}}


def store(
    warehouse: Warehouse,
    sharpe: np.ndarray,
    returns: np.ndarray,
    regimes: list[str | None],
    *,
    extra: bool = True,
) -> None:
    """One matrix run per night: the live set on 90d (what the analyzer reads) plus noise it must ignore."""
    records = []
    for night, (s, r, regime) in enumerate(zip(sharpe, returns, regimes, strict=True)):
        run_id = warehouse.start_run("matrix", git_sha="abc", run_id=f"run{night:03d}", started_at=T0)
        kpis = {"sharpe": float(s), "return_pct": float(r), "_param_set": "live"}
        if regime is not None:
            kpis["_regime"] = regime
        base = {
            "run_id": run_id, "strategy": "ema_cross", "symbol": "SP500", "timeframe": "1d", "params": {},
            "status": "ok", "created_at": T0 + timedelta(days=night),
        }  # fmt: skip
        records.append({**base, "cell_hash": f"live{night}", "window": "90d", "kpis": kpis})
        if extra:  # a neighbour, another window and a failed cell: none of them counts
            records.append(
                {
                    **base,
                    "cell_hash": f"n{night}",
                    "window": "90d",
                    "kpis": {**kpis, "sharpe": -9.0, "_param_set": "n01"},
                }
            )
            records.append(
                {**base, "cell_hash": f"w{night}", "window": "30d", "kpis": {**kpis, "sharpe": -9.0}}
            )
            records.append(
                {
                    **base,
                    "cell_hash": f"e{night}",
                    "window": "90d",
                    "kpis": {},
                    "status": "error",
                    "error": "boom",
                }
            )
    warehouse.add_backtest_results(records)


@pytest.fixture
def warehouse(tmp_path: Path) -> Warehouse:
    return Warehouse(f"sqlite:///{tmp_path / 'warehouse.db'}")


def steady(n: int = 30, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return 1.2 + 0.1 * rng.standard_normal(n), 3.0 + 0.5 * rng.standard_normal(n)


def analysis(warehouse: Warehouse):  # type: ignore[no-untyped-def]
    (only,) = analyze_warehouse(warehouse, LIVE)
    return only


def test_steady_history_raises_no_flag(warehouse: Warehouse) -> None:
    sharpe, returns = steady()
    store(warehouse, sharpe, returns, ["bull"] * 30)
    result = analysis(warehouse)
    assert result.flags == []
    assert len(result.nights) == 30 and result.nights["sharpe"].tolist() == pytest.approx(sharpe.tolist())


def test_planted_underperformance_is_flagged_with_figure_and_threshold(warehouse: Warehouse) -> None:
    sharpe, returns = steady()
    sharpe[-1], returns[-1] = -0.8, -9.0
    store(warehouse, sharpe, returns, ["bull"] * 30)
    flags = {flag.metric: flag for flag in analysis(warehouse).flags if flag.kind == "underperformance"}
    trailing = sharpe[-11:-1]
    expected = np.median(trailing) - max(0.5, 3 * 1.4826 * np.median(np.abs(trailing - np.median(trailing))))
    assert flags["sharpe"].figure == pytest.approx(-0.8)
    assert flags["sharpe"].threshold == pytest.approx(expected)
    assert flags["return_pct"].figure == pytest.approx(-9.0)
    assert "below the trailing baseline" in flags["sharpe"].message


def test_planted_return_drift_is_flagged_by_the_ks_test(warehouse: Warehouse) -> None:
    sharpe, returns = steady()
    returns[-5:] += 10.0  # the last five nights come from another distribution
    store(warehouse, sharpe, returns, ["bull"] * 30)
    (flag,) = [f for f in analysis(warehouse).flags if f.kind == "drift"]
    expected = stats.ks_2samp(returns[-5:], returns[-25:-5])
    assert flag.metric == "nightly_return_pct_ks_pvalue"
    assert flag.figure == pytest.approx(expected.pvalue) and flag.figure < flag.threshold == 0.01
    assert flag.figure == pytest.approx(2 / math.comb(25, 5))  # complete separation, exact two-sided


def test_planted_regime_change_is_flagged(warehouse: Warehouse) -> None:
    sharpe, returns = steady()
    store(warehouse, sharpe, returns, ["bull"] * 27 + ["sideways", "bull", "bear"])
    (flag,) = analysis(warehouse).flags
    assert (flag.kind, flag.figure, flag.threshold) == ("regime_change", pytest.approx(0.9), 0.5)
    assert "latest window is bear" in flag.message and "were bull in 90%" in flag.message


def test_regime_detections_are_used_when_records_carry_no_regime(warehouse: Warehouse) -> None:
    sharpe, returns = steady()
    store(warehouse, sharpe, returns, [None] * 30, extra=False)
    run_id = warehouse.start_run("regimes", git_sha="abc")
    warehouse.add_regime_detections(
        {
            "run_id": run_id,
            "symbol": "SP500",
            "timeframe": "1d",
            "window_start": T0 + timedelta(days=i),
            "window_end": T0 + timedelta(days=i + 30),
            "regime": "high_vol" if i == 11 else "sideways",
            "confidence": 0.8,
            "momentum_pct_per_day": 0.0,
            "volatility": 1.0,
        }
        for i in range(12)
    )
    (flag,) = analysis(warehouse).flags
    assert flag.kind == "regime_change" and "latest window is high_vol" in flag.message


def test_short_history_is_not_judged(warehouse: Warehouse) -> None:
    store(warehouse, np.array([1.0, 1.0, -5.0]), np.array([1.0, 1.0, -50.0]), ["bull", "bull", "bear"])
    assert analysis(warehouse).flags == []


def test_nightly_series_of_an_empty_history_is_empty() -> None:
    assert nightly_series(pd.DataFrame(), "90d").empty


def test_psi_matches_the_hand_computation() -> None:
    reference = np.arange(1.0, 11.0)  # median split at 5.5: expected shares 0.5 / 0.5
    recent = np.array([1.0, 2.0, 3.0, 9.0])  # actual shares 0.75 / 0.25
    expected = 0.25 * math.log(1.5) + (-0.25) * math.log(0.5)
    assert population_stability_index(recent, reference, bins=2) == pytest.approx(expected, rel=1e-12)
    assert population_stability_index(reference, reference, bins=5) == 0.0


def test_bar_drift_uses_ks_and_psi_on_per_bar_returns() -> None:
    rng = np.random.default_rng(0)
    same = pd.Series(0.01 * rng.standard_normal(1500))
    assert bar_drift_flags(same, 300) == []
    shifted = same.copy()
    shifted.iloc[-300:] = 0.03 * rng.standard_normal(300)  # volatility triples
    metrics = {flag.metric: flag for flag in bar_drift_flags(shifted, 300)}
    assert set(metrics) == {"bar_return_ks_pvalue", "bar_return_psi"}
    psi = population_stability_index(shifted.iloc[-300:], shifted.iloc[:-300], bins=10)
    assert metrics["bar_return_psi"].figure == pytest.approx(psi) and psi > 0.25


def test_schedule_takes_flagged_cells_and_cells_whose_cadence_is_due(warehouse: Warehouse) -> None:
    sharpe, returns = steady()
    sharpe[-1] = -3.0
    store(warehouse, sharpe, returns, ["bull"] * 30)
    flagged = analysis(warehouse)
    quiet = analyze_history(pd.DataFrame(), strategy="rsi_reversion", symbol="SP500", timeframe="1d")
    now = T0 + timedelta(days=40)
    recently = {("rsi_reversion", "SP500", "1d"): now - timedelta(hours=23), flagged.key: now}
    cells = schedule([flagged, quiet], "daily", recently, now)
    assert [(c.strategy, c.reasons) for c in cells] == [("ema_cross", ("underperformance",))]
    cells = schedule([flagged, quiet], "6h", recently, now)
    assert [(c.strategy, c.reasons) for c in cells] == [
        ("ema_cross", ("underperformance",)),
        ("rsi_reversion", ("scheduled",)),
    ]
    assert [c.reasons for c in schedule([quiet], "weekly", {}, now)] == [("scheduled",)]
