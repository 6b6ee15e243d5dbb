"""``tradeloop regime detect | history`` through typer's CliRunner, on a real SQLite warehouse."""

from __future__ import annotations

import json
from typing import Any

from typer.testing import CliRunner

from backtest_matrix import load_bars
from backtest_matrix.regimes import REGIME_LABELS, detect_regimes
from tradeloop.cli import app

runner = CliRunner()
SYNTHETIC = ["--data", "synthetic", "--timeframe", "1h", "--days", "90", "--data-seed", "3"]


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def detect_json(*extra: str) -> dict[str, Any]:
    code, out, err = invoke("--json", "regime", "detect", *SYNTHETIC, *extra)
    assert code == 0, err
    payload: dict[str, Any] = json.loads(out)
    return payload


def test_detect_json_matches_the_detector() -> None:
    payload = detect_json("--recent", "3")
    bars = load_bars("synthetic", timeframe="1h", days=90, seed=3).bars
    detection = detect_regimes(bars)
    assert payload["regime"] == detection.labels.iloc[-1] and payload["regime"] in REGIME_LABELS
    assert payload["confidence"] == detection.confidence.iloc[-1] and 0 <= payload["confidence"] <= 1
    assert payload["features"] == {
        "momentum_pct_per_day": detection.features["momentum"].iloc[-1],
        "volatility_pct_per_day": detection.features["volatility"].iloc[-1],
        "volume_strength": detection.features["volume_strength"].iloc[-1],
    }
    assert payload["symbol"] == "SYNTHETIC" and payload["timeframe"] == "1h" and payload["bars"] == len(bars)
    assert payload["as_of"] == bars.index[-1].isoformat() and payload["min_dwell_bars"] == 24
    segments = detection.segments().dropna(subset=["regime"])
    assert payload["segments_total"] == len(segments) and len(payload["segments"]) == 3
    last = payload["segments"][-1]
    assert last["end"] == bars.index[-1].isoformat() and last["regime"] == payload["regime"]
    assert last["bars"] == segments["bars"].iloc[-1]
    assert payload["stored"] is None and payload["run_id"] is None


def test_store_then_history_round_trip() -> None:
    first = detect_json("--store", "--symbol", "BTC")
    assert first["stored"] == first["segments_total"] > 0 and first["run_id"]
    again = detect_json("--store", "--symbol", "BTC")
    assert again["stored"] == 0  # the same segments are not stored twice
    code, out, err = invoke("--json", "regime", "history", "--symbol", "BTC")
    assert code == 0, err
    rows = json.loads(out)["detections"]
    assert len(rows) == first["segments_total"]
    tail = [(r["window_start"], r["window_end"], r["regime"]) for r in rows[-len(first["segments"]) :]]
    assert tail == [(s["start"], s["end"], s["regime"]) for s in first["segments"]]
    assert {r["run_id"] for r in rows} == {first["run_id"]} and {r["timeframe"] for r in rows} == {"1h"}
    stored = rows[-1]
    segment = first["segments"][-1]
    assert stored["confidence"] == segment["confidence"]
    assert stored["momentum_pct_per_day"] == segment["momentum_pct_per_day"]
    assert stored["volatility_pct_per_day"] == segment["volatility_pct_per_day"]


def test_history_of_all_symbols_and_limits() -> None:
    detect_json("--store", "--symbol", "BTC")
    detect_json("--store", "--symbol", "ETH")
    code, out, _ = invoke("--json", "regime", "history", "--limit", "2")
    assert code == 0
    rows = json.loads(out)["detections"]
    assert [r["symbol"] for r in rows] == ["BTC", "BTC", "ETH", "ETH"]
    code, out, _ = invoke("regime", "history", "--symbol", "ETH")
    assert code == 0 and "ETH" in out and "regime history" in out


def test_empty_history_and_text_output() -> None:
    code, out, _ = invoke("regime", "history")
    assert code == 0 and "no regime detections stored" in out
    code, out, _ = invoke("regime", "detect", *SYNTHETIC, "--store")
    assert code == 0 and "confidence" in out and "recent segments" in out and "stored " in out


def test_a_bad_source_is_one_line_and_exit_2() -> None:
    code, _, err = invoke("regime", "detect", "--data", "sp5000")
    assert code == 2 and err.startswith("error: ") and "sp5000" in err
