"""Regime detector: accuracy on planted regimes, hysteresis, causality, validation and segments."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from backtest_matrix.data import generate_synthetic
from backtest_matrix.regimes import (
    REGIME_LABELS,
    RegimeConfig,
    classify_window,
    detect_regimes,
    hysteresis_nb,
    hysteresis_py,
)
from tradeloop.errors import DataError

# The generator's planted drifts (about ±0.2 %/day) are far below the noise of a 7-day momentum (about
# 1 %/day at its volatilities), so no momentum rule can recover its bull/bear labels. The accuracy test keeps
# the generator's planted regime path (its dwell times and transitions) and draws prices whose drift and
# volatility per regime are clear at the detector's default thresholds: (drift %/day, volatility %/day).
PLANTED = {"bull": (3.0, 1.5), "bear": (-3.0, 1.5), "sideways": (0.0, 1.0), "high_vol": (0.0, 10.0)}
PLANTED_VOLUME = {"bull": 1.0, "bear": 1.4, "sideways": 0.7, "high_vol": 2.5}


def _bars(close: np.ndarray, volume: np.ndarray, index: pd.DatetimeIndex) -> pd.DataFrame:
    return pd.DataFrame(
        {"open": close, "high": close, "low": close, "close": close, "volume": volume}, index=index
    )


def planted_series(seed: int = 7, days: float = 400) -> tuple[pd.DataFrame, pd.Series]:
    synthetic = generate_synthetic(timeframe="1h", days=days, seed=seed)
    names = synthetic.regimes.astype(str).to_numpy()
    rng = np.random.default_rng(seed)
    drift = np.array([PLANTED[n][0] for n in names]) / 100 / 24
    vol = np.array([PLANTED[n][1] for n in names]) / 100 / np.sqrt(24)
    close = 100 * np.exp(np.cumsum(drift + vol * rng.standard_normal(len(names))))
    volume = np.array([PLANTED_VOLUME[n] for n in names]) * np.exp(0.3 * rng.standard_normal(len(names)))
    return _bars(close, volume, synthetic.bars.index), synthetic.regimes


def hourly(close: np.ndarray, volume: np.ndarray | None = None) -> pd.DataFrame:
    index = pd.date_range("2024-01-01", periods=len(close), freq="1h", tz="UTC", name="timestamp")
    return _bars(close, np.ones(len(close)) if volume is None else volume, index)


def accuracy(labels: pd.Series, truth: pd.Series) -> float:
    labelled = labels.notna()
    return float((labels[labelled].astype(str) == truth[labelled].astype(str)).mean())


def test_labels_after_the_warm_up_cover_every_regime() -> None:
    bars, _ = planted_series()
    detection = detect_regimes(bars)
    assert detection.labels.iloc[: detection.windows.warmup].isna().all()
    assert detection.labels.iloc[detection.windows.warmup :].notna().all()
    assert set(detection.labels.dropna().unique()) == set(REGIME_LABELS)


# Accuracy over ten seeds, not one picked seed. The thresholds are the defaults (±1 %/day, 5 %/day) in both
# rows; only the windows differ. With the default 7-day momentum and 20-day volatility windows the labels lag
# every switch, and the 20-day volatility cannot follow the generator's high_vol visits (8 days on average):
# over seeds 0-9 the accuracy is 65-89 % (mean 79 %; high_vol bars 51 % right). With 3-day windows it is
# 85-96 % on every seed (mean 89 %), which is the issue's >= 80 % acceptance.
@pytest.mark.parametrize(
    ("config", "each_floor", "mean_floor"),
    [
        (RegimeConfig(momentum_days=3, volatility_days=3), 0.85, 0.88),
        (RegimeConfig(), 0.60, 0.77),
    ],
)
def test_accuracy_on_planted_regimes(config: RegimeConfig, each_floor: float, mean_floor: float) -> None:
    scores = []
    for seed in range(10):
        bars, truth = planted_series(seed=seed)
        scores.append(accuracy(detect_regimes(bars, config).labels, truth))
    assert min(scores) >= each_floor, scores
    assert float(np.mean(scores)) >= mean_floor, scores


def test_defaults_and_windows_in_days() -> None:
    bars, _ = planted_series(days=60)
    detection = detect_regimes(bars)
    assert detection.windows.bars_per_day == 24
    assert (detection.windows.momentum, detection.windows.volatility, detection.windows.volume) == (
        168,
        480,
        480,
    )
    assert detection.windows.warmup == 480
    assert detection.min_dwell_bars == 24
    assert isinstance(detection.labels.dtype, pd.CategoricalDtype)
    assert tuple(detection.labels.cat.categories) == REGIME_LABELS
    confidence = detection.confidence.iloc[480:]
    assert confidence.between(0, 1).all()
    assert detection.confidence.iloc[:480].isna().all()


def oscillating_series() -> pd.DataFrame:
    """Momentum that swings around the bull threshold (+1 %/day) every few hours, at low volatility."""
    bars = 30 * 24
    t = np.arange(bars)
    # A 7-day simple return of exactly 7 % (1 %/day) plus a 10-hour sine wiggle: the 7-day momentum swings
    # about ±0.05 %/day around +1 %/day and crosses it every few hours.
    log_close = np.log(1.07) / 7 * t / 24 + 0.003 * np.sin(2 * np.pi * t / 10)
    return hourly(100 * np.exp(log_close))


def test_hysteresis_prevents_flapping() -> None:
    bars = oscillating_series()
    config = RegimeConfig(volatility_days=2, volume_days=2)
    flapping = detect_regimes(bars, RegimeConfig(volatility_days=2, volume_days=2, min_dwell_bars=1))
    steady = detect_regimes(bars, config)  # one day of bars
    changes_raw = int((flapping.labels.dropna() != flapping.labels.dropna().shift()).sum()) - 1
    changes = int((steady.labels.dropna() != steady.labels.dropna().shift()).sum()) - 1
    assert set(flapping.labels.dropna().unique()) == {"bull", "sideways"}
    assert changes_raw >= 20
    assert changes <= 2
    assert flapping.labels.equals(flapping.raw_labels)
    assert (steady.features["volatility"].dropna() < config.high_vol_threshold).all()


def test_hysteresis_adopts_after_min_dwell() -> None:
    raw = np.array([-1, -1, 0, 2, 2, 0, 2, 2, 2, 1, 3, 3, 3], dtype=np.int8)
    expected = np.array([-1, -1, 0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 3], dtype=np.int8)
    np.testing.assert_array_equal(hysteresis_py(raw, 3), expected)
    np.testing.assert_array_equal(hysteresis_nb(raw, 3), expected)
    np.testing.assert_array_equal(hysteresis_py(raw, 1), raw)


@pytest.mark.parametrize("dwell", [1, 2, 5, 24])
def test_hysteresis_numba_matches_python(dwell: int) -> None:
    rng = np.random.default_rng(dwell)
    raw = rng.choice(np.array([-1, 0, 1, 2, 3], dtype=np.int8), size=5000, p=[0.02, 0.4, 0.2, 0.3, 0.08])
    raw[:10] = -1
    np.testing.assert_array_equal(hysteresis_nb(raw, dwell), hysteresis_py(raw, dwell))


@pytest.mark.parametrize("k", [600, 900, 1500])
def test_causal(k: int) -> None:
    bars, _ = planted_series(days=80)
    config = RegimeConfig(momentum_days=3, volatility_days=3, volume_days=3)
    base = detect_regimes(bars, config)
    changed = bars.copy()
    rng = np.random.default_rng(k)
    changed.iloc[k + 1 :, :] = changed.iloc[k + 1 :, :].to_numpy() * np.exp(rng.normal(0, 0.2, size=(1, 5)))
    changed.iloc[k + 1 :, 4] *= 7.0
    after = detect_regimes(changed, config)
    assert base.labels.iloc[: k + 1].equals(after.labels.iloc[: k + 1])
    assert base.raw_labels.iloc[: k + 1].equals(after.raw_labels.iloc[: k + 1])
    pd.testing.assert_series_equal(base.confidence.iloc[: k + 1], after.confidence.iloc[: k + 1])
    assert not base.confidence.iloc[k + 1 :].equals(after.confidence.iloc[k + 1 :])  # the perturbation bites


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"momentum_days": 0}, "momentum_days"),
        ({"volatility_days": -1.0}, "volatility_days"),
        ({"volume_days": float("nan")}, "volume_days"),
        ({"high_vol_threshold": 0.0}, "high_vol_threshold"),
        ({"bull_threshold_pct_per_day": -2.0}, "bull_threshold_pct_per_day"),
        ({"bear_threshold_pct_per_day": float("inf")}, "bear_threshold_pct_per_day"),
        ({"min_dwell_bars": 0}, "min_dwell_bars"),
        ({"min_dwell_bars": 2.5}, "min_dwell_bars"),
        ({"min_dwell_bars": True}, "min_dwell_bars"),
        ({"momentum_days": "7"}, "momentum_days"),
    ],
)
def test_invalid_config(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(DataError, match=field):
        RegimeConfig(**kwargs)  # type: ignore[arg-type]


def test_too_short_and_bad_bars() -> None:
    bars, _ = planted_series(days=10)
    with pytest.raises(DataError, match=r"warm-up"):
        detect_regimes(bars)
    daily = generate_synthetic(timeframe="1d", days=100, seed=1).bars
    with pytest.raises(DataError, match="volatility_days"):
        detect_regimes(daily, RegimeConfig(volatility_days=1))
    with pytest.raises(DataError, match="columns"):
        detect_regimes(bars.drop(columns="volume"))
    broken = bars.copy()
    broken.iloc[5, 3] = -1.0
    with pytest.raises(DataError, match="close"):
        detect_regimes(broken, RegimeConfig(momentum_days=1, volatility_days=1, volume_days=1))
    with pytest.raises(DataError, match="increasing"):
        detect_regimes(bars.iloc[::-1])
    with pytest.raises(DataError, match="spacing"):
        detect_regimes(bars.iloc[:1])
    with pytest.raises(DataError, match="RegimeConfig"):
        detect_regimes(bars, config={"momentum_days": 7})  # type: ignore[arg-type]


def test_segments_cover_index_exactly() -> None:
    bars, _ = planted_series(days=120)
    detection = detect_regimes(bars)
    segments = detection.segments()
    assert segments["bars"].sum() == len(bars)
    assert segments["start"].iloc[0] == bars.index[0]
    assert segments["end"].iloc[-1] == bars.index[-1]
    positions = bars.index.get_indexer(segments["start"])
    ends = bars.index.get_indexer(segments["end"])
    np.testing.assert_array_equal(positions[1:], ends[:-1] + 1)
    np.testing.assert_array_equal(ends - positions + 1, segments["bars"])
    assert pd.isna(segments["regime"].iloc[0]) and np.isnan(segments["mean_confidence"].iloc[0])
    assert segments["bars"].iloc[0] == detection.windows.warmup
    regimes = segments["regime"].iloc[1:].astype(str).to_numpy()
    assert (regimes[1:] != regimes[:-1]).all()
    rebuilt = np.repeat(segments["regime"].astype(object).to_numpy(), segments["bars"].to_numpy())
    expected = detection.labels.astype(object).to_numpy()
    assert [a if isinstance(a, str) else None for a in rebuilt] == [
        e if isinstance(e, str) else None for e in expected
    ]
    for row in segments.iloc[1:].itertuples():
        window = detection.confidence.loc[row.start : row.end]
        assert row.mean_confidence == pytest.approx(window.mean())


def test_classify_window() -> None:
    bars, _ = planted_series(days=200)
    detection = detect_regimes(bars)
    regime, confidence = classify_window(bars)
    labelled = detection.labels.dropna().astype(str)
    assert regime == labelled.value_counts().idxmax()
    assert 0 <= confidence <= 1
    last, last_confidence = classify_window(bars, method="last")
    assert last == detection.labels.iloc[-1]
    assert last_confidence == pytest.approx(detection.confidence.iloc[-1])
    with pytest.raises(DataError, match="method"):
        classify_window(bars, method="mean")  # type: ignore[arg-type]


def test_confidence_boosted_by_volume() -> None:
    bars, _ = planted_series(days=60)
    base = detect_regimes(bars)
    heavy = bars.copy()
    heavy.iloc[-1, 4] *= 3.0
    boosted = detect_regimes(heavy)
    assert boosted.labels.iloc[-1] == base.labels.iloc[-1]
    assert boosted.confidence.iloc[-1] >= base.confidence.iloc[-1]
    assert boosted.features["volume_strength"].iloc[-1] > base.features["volume_strength"].iloc[-1]
