"""The consumer contract's regime part: the regime in force with its confidence, a pending switch, the
loadout in force and the ensemble weight, from ``tradeloop regime detect --store`` on the real SP500 bars and
read through ``tradeloop deploy plan``."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from backtest_matrix.regimes import REGIME_LABELS
from deployment import regime_state
from tests.deployment.conftest import DeployRepo, git

LOADOUT = 'REGIME_LOADOUTS: Final = {"ema_cross": {"SP500": {"sideways": {"stop_loss_pct": 2.2}}}}'


def segments(*rows: tuple[str, str, str, float]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"window_start": pd.Timestamp(start, tz="UTC"), "window_end": pd.Timestamp(end, tz="UTC"),
             "regime": regime, "confidence": confidence}
            for start, end, regime, confidence in rows
        ]
    )  # fmt: skip


def state(frame: pd.DataFrame):  # type: ignore[no-untyped-def]
    return regime_state(frame, "1d", min_confidence=0.5, min_dwell_bars=3)


def test_a_confident_regime_that_lasts_takes_over() -> None:
    found = state(
        segments(("2024-01-01", "2024-01-20", "bull", 0.8), ("2024-01-21", "2024-01-25", "bear", 0.6))
    )
    assert found is not None
    assert (found.regime, found.detected, found.pending) == ("bear", "bear", None)
    assert found.since == datetime(2024, 1, 21, tzinfo=UTC)


@pytest.mark.parametrize(
    ("end", "confidence", "why"),
    [("2024-01-22", 0.9, "too short"), ("2024-01-30", 0.4, "not confident enough")],
)
def test_an_unconfirmed_switch_is_pending_and_the_old_regime_stays(
    end: str, confidence: float, why: str
) -> None:
    found = state(
        segments(("2024-01-01", "2024-01-20", "bull", 0.8), ("2024-01-21", end, "bear", confidence))
    )
    assert found is not None, why
    assert (found.regime, found.detected) == ("bull", "bear")
    assert found.pending is not None
    assert (found.pending.regime, found.pending.bars_needed, found.pending.min_confidence) == ("bear", 3, 0.5)


def test_a_brief_excursion_leaves_the_regime_in_force_with_its_start() -> None:
    found = state(
        segments(
            ("2024-01-01", "2024-01-20", "bull", 0.8),
            ("2024-01-21", "2024-01-21", "bear", 0.9),
            ("2024-01-22", "2024-01-30", "bull", 0.7),
        )
    )
    assert found is not None
    assert (found.regime, found.pending, found.since) == ("bull", None, datetime(2024, 1, 1, tzinfo=UTC))


def test_nothing_stored_is_no_regime() -> None:
    assert state(pd.DataFrame(columns=["window_start", "window_end", "regime", "confidence"])) is None


def _with_loadout(target: DeployRepo) -> None:
    constants = target.repo / "config" / "constants.py"
    constants.write_text(constants.read_text().replace("REGIME_LOADOUTS: Final = {}", LOADOUT))
    git(target.repo, "commit", "-q", "-am", "A sideways loadout for ema_cross/SP500")


def _store(target: DeployRepo, *source: str) -> None:
    result = target.cli("regime", "detect", *source, "--store")
    assert result.exit_code == 0, result.output


def test_the_plan_names_the_regime_its_loadout_and_the_weight(deploy_repo: DeployRepo) -> None:
    _with_loadout(deploy_repo)
    _store(deploy_repo, "--data", "sp500", "--days", "400")
    plan = {
        f"{p['strategy']}/{p['symbol']}": p
        for p in deploy_repo.cli("deploy", "plan", json_output=True)["pairs"]
    }
    ema = plan["ema_cross/SP500"]
    assert ema["regime"]["regime"] == "sideways" and ema["regime"]["pending"] is None
    assert 0.5 <= ema["regime"]["confidence"] <= 1.0
    assert (ema["loadout_regime"], ema["loadout"], ema["ensemble_weight"]) == (
        "sideways",
        {"stop_loss_pct": 2.2},
        pytest.approx(1 / 3),
    )
    rsi = plan["rsi_reversion/SP500"]
    assert (rsi["regime"]["regime"], rsi["loadout_regime"], rsi["ensemble_weight"]) == (
        "sideways",
        None,
        pytest.approx(1 / 3),
    )
    assert plan["ema_cross/NASDAQ"]["regime"] is None and plan["ema_cross/NASDAQ"]["ensemble_weight"] == 1.0
    text = deploy_repo.cli("deploy", "plan").stdout
    assert "ensemble weight 0.333; regime sideways" in text and "loadout in force: stop_loss_pct=2.2" in text


def test_a_short_switch_at_the_end_is_pending(deploy_repo: DeployRepo) -> None:
    # Seeded synthetic daily bars stored as SP500: the detector's last segment is one bar of bear at 0.49.
    _store(deploy_repo, "--data", "synthetic", "--timeframe", "1d", "--days", "300", "--data-seed", "1",
           "--symbol", "SP500")  # fmt: skip
    pairs = deploy_repo.cli("deploy", "plan", json_output=True)["pairs"]
    ema = next(p for p in pairs if (p["strategy"], p["symbol"]) == ("ema_cross", "SP500"))
    regime = ema["regime"]
    assert regime["detected"] == "bear" and regime["regime"] != "bear"
    assert regime["pending"] == {
        "regime": "bear", "confidence": pytest.approx(0.49, abs=0.005), "bars": 1, "bars_needed": 3,
        "min_confidence": 0.5,
    }  # fmt: skip
    text = deploy_repo.cli("deploy", "plan").stdout
    assert "switch to bear pending (confidence 0.49, needs 0.5; 1 of 3 bars)" in text


def test_the_refresh_step_stores_every_live_symbol_s_regime_for_the_plan(deploy_repo: DeployRepo) -> None:
    result = deploy_repo.cli("regime", "refresh", json_output=True)
    refreshed = {(row["symbol"], row["timeframe"]): row for row in result["regimes"]}
    assert set(refreshed) == {("DEMO", "15m"), ("NASDAQ", "1d"), ("SP500", "1d")}
    assert all(row["stored"] > 0 and row["regime"] in REGIME_LABELS for row in refreshed.values())
    again = deploy_repo.cli("regime", "refresh", json_output=True)
    assert [row["stored"] for row in again["regimes"]] == [0, 0, 0]
    plan = deploy_repo.cli("deploy", "plan", json_output=True)
    for pair in plan["pairs"]:
        regime = pair["regime"]
        assert (
            regime is not None
            and regime["detected"] == refreshed[pair["symbol"], pair["timeframe"]]["regime"]
        )
