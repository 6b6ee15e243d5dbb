"""The matrix definition: the shipped file parses; every mistake names its key and value before any work."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from backtest_matrix.matrix import (
    DEFAULT_MATRIX_PATH,
    MatrixSpec,
    NeighbourhoodSpec,
    WindowSpec,
    load_matrix_spec,
    parse_matrix_spec,
)
from gitops import load_constants
from tradeloop.errors import SettingsError

REPO = Path(__file__).resolve().parents[2]
SOURCE = "backtest_matrix/matrix.yaml"

GOOD = """\
symbols:
  SP500: sp500
  NASDAQ: nasdaq
  BTC: synthetic
  DEMO: reverting
strategies:
  ema_cross: [SP500, BTC]
timeframes: [1h, 1d]
windows: [30d, 90d, full]
neighbourhood: {samples: 4, seed: 3}
"""


def live_params() -> Any:
    return load_constants(REPO / "config" / "constants.py").live_params


def error_of(text: str, **kwargs: Any) -> str:
    with pytest.raises(SettingsError) as caught:
        parse_matrix_spec(text, source=SOURCE, **kwargs)
    return str(caught.value)


# -- the shipped file ------------------------------------------------------------------------------------


def test_shipped_file_parses_with_shipped_live_params() -> None:
    assert DEFAULT_MATRIX_PATH == REPO / "backtest_matrix" / "matrix.yaml"
    live = live_params()
    spec = load_matrix_spec(DEFAULT_MATRIX_PATH, live_params=live)
    assert isinstance(spec, MatrixSpec)
    assert spec.sources == {"SP500": "sp500", "NASDAQ": "nasdaq", "BTC": "synthetic", "DEMO": "reverting"}
    assert spec.windows == (
        WindowSpec("30d", 30),
        WindowSpec("90d", 90),
        WindowSpec("365d", 365),
        WindowSpec("full", None),
    )
    assert spec.neighbourhood == NeighbourhoodSpec(samples=8, seed=7)
    for strategy, per_symbol in live.items():
        for symbol, params in per_symbol.items():
            assert spec.is_live(strategy, symbol)
            assert symbol in spec.strategies[strategy]
            for name, value in params.items():
                if name != "timeframe":
                    assert spec.base_params[strategy][symbol][name] == value
    cells = list(spec.cells())
    pairs = [(strategy, symbol) for strategy, symbols in spec.strategies.items() for symbol in symbols]
    assert len(cells) == sum(len(spec.pair_timeframes(*pair)) for pair in pairs) * 4
    assert {cell.source for cell in cells} == {"sp500", "nasdaq", "synthetic", "reverting"}
    # The demo pair is live but not listed: it runs at its own 15m bars only, never resampled to 1d.
    assert spec.pair_timeframes("rsi_reversion", "DEMO") == ("15m",)
    assert spec.pair_timeframes("ema_cross", "SP500") == ("1d",)


def test_shipped_file_parses_without_live_params() -> None:
    spec = load_matrix_spec()
    assert not spec.live
    assert spec.base_params["ema_cross"]["SP500"]["ema_fast"] == 12.0  # the strategy default


def test_small_file_parses_and_canonicalises_timeframes() -> None:
    spec = parse_matrix_spec(GOOD.replace("[1h, 1d]", "[60m, 1d]"))
    assert spec.timeframes == ("1h", "1d")
    assert spec.strategies == {"ema_cross": ("SP500", "BTC")}
    assert spec.neighbourhood == NeighbourhoodSpec(4, 3)


def test_live_pairs_join_the_matrix_and_their_params_win() -> None:
    live = {"rsi_reversion": {"NASDAQ": {"timeframe": "1d", "rsi_period": 21}}}
    text = GOOD + "parameters:\n  rsi_reversion: {rsi_period: 10}\n"
    spec = parse_matrix_spec(text, live_params=live)
    assert spec.strategies["rsi_reversion"] == ("NASDAQ",)
    assert spec.base_params["rsi_reversion"]["NASDAQ"]["rsi_period"] == 21.0
    assert spec.live == {("rsi_reversion", "NASDAQ")}


def test_parameter_overrides_apply_to_pairs_that_are_not_live() -> None:
    spec = parse_matrix_spec(GOOD + "parameters:\n  ema_cross: {ema_fast: 9, ema_slow: 40}\n")
    assert spec.base_params["ema_cross"]["BTC"]["ema_fast"] == 9.0
    assert spec.base_params["ema_cross"]["BTC"]["ema_slow"] == 40.0


# -- every mistake names the key and the value ----------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("[30d, 90d, full]", "[30d, -5d, full]", ["windows[1]", "'-5d'", "30d or 'full'"]),
        ("[30d, 90d, full]", "[abc]", ["windows[0]", "'abc'"]),
        ("[30d, 90d, full]", "[30d, 0d]", ["windows[1]", "'0d'"]),
        ("[30d, 90d, full]", "[30, full]", ["windows[0]", "30"]),
        ("[30d, 90d, full]", "[30d, 30d]", ["windows[1]", "repeats", "'30d'"]),
        ("[30d, 90d, full]", "30d", ["windows", "'30d'"]),
        (
            "ema_cross: [SP500, BTC]",
            "ema_crss: [SP500]",
            ["strategies.ema_crss", "Did you mean 'ema_cross'?"],
        ),
        ("ema_cross: [SP500, BTC]", "ema_cross: [SP50]", ["strategies.ema_cross[0]", "'SP50'", "'SP500'"]),
        ("ema_cross: [SP500, BTC]", "ema_cross: SP500", ["strategies.ema_cross", "'SP500'"]),
        ("ema_cross: [SP500, BTC]", "ema_cross: []", ["strategies.ema_cross", "[]"]),
        ("[1h, 1d]", "[1h, 1M]", ["timeframes[1]", "'1M'"]),
        ("[1h, 1d]", "[1h, 60m]", ["timeframes[1]", "'60m'", "repeats"]),
        ("[1h, 1d]", "[1h, 5]", ["timeframes[1]", "5"]),
        ("BTC: synthetic", "BTC: synthetc", ["symbols.BTC", "'synthetc'", "Did you mean 'synthetic'?"]),
        ("BTC: synthetic", "BTC: 7", ["symbols.BTC", "7"]),
        ("{samples: 4, seed: 3}", "{samples: -1, seed: 3}", ["neighbourhood.samples", "-1"]),
        ("{samples: 4, seed: 3}", "{samples: 4, seed: 1.5}", ["neighbourhood.seed", "1.5"]),
        ("{samples: 4, seed: 3}", "{samples: true}", ["neighbourhood.samples", "True"]),
        ("{samples: 4, seed: 3}", "{sample: 4}", ["neighbourhood", "'sample'", "Did you mean 'samples'?"]),
        ("neighbourhood:", "neighborhood:", ["unknown key 'neighborhood'", "Did you mean 'neighbourhood'?"]),
    ],
)
def test_bad_value_names_key_and_value(old: str, new: str, expected: list[str]) -> None:
    assert old in GOOD
    message = error_of(GOOD.replace(old, new))
    assert message.startswith(f"{SOURCE}: ")
    for part in expected:
        assert part in message, message


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ("{ema_fast: 500}", ["parameters.ema_cross.ema_fast = 500 is outside [2, 200]"]),
        ("{ema_fast: 12.5}", ["parameters.ema_cross.ema_fast = 12.5", "integer"]),
        ("{ema_fast: fast}", ["parameters.ema_cross.ema_fast = 'fast'"]),
        ("{ema_fats: 10}", ["parameters.ema_cross.ema_fats", "Did you mean 'ema_fast'?"]),
        (
            "{ema_fast: 30, ema_slow: 20}",
            ["parameters.ema_cross", "ema_fast (30) must be below ema_slow (20)"],
        ),
    ],
)
def test_bad_parameter_override(params: str, expected: list[str]) -> None:
    message = error_of(GOOD + f"parameters:\n  ema_cross: {params}\n")
    for part in expected:
        assert part in message, message


def test_parameter_override_of_unknown_strategy() -> None:
    message = error_of(GOOD + "parameters:\n  ema_crss: {ema_fast: 10}\n")
    assert "parameters.ema_crss" in message and "Did you mean 'ema_cross'?" in message


def test_missing_and_wrongly_typed_top_level() -> None:
    assert "'windows' is missing" in error_of(GOOD.replace("windows: [30d, 90d, full]\n", ""))
    assert "is empty" in error_of("")
    assert "the top level must be a mapping" in error_of("- a\n- b\n")
    assert "symbols keys must be strings" in error_of(GOOD.replace("BTC: synthetic", "1: synthetic"))


def test_live_params_problems_are_reported() -> None:
    bad_bounds = {"ema_cross": {"SP500": {"timeframe": "1d", "ema_fast": 500}}}
    message = error_of(GOOD, live_params=bad_bounds)
    assert "live_params.ema_cross.SP500" in message and "500" in message and "[2, 200]" in message
    no_source = {"ema_cross": {"ETH": {"timeframe": "1d"}}}
    assert "live_params.ema_cross.ETH" in error_of(GOOD, live_params=no_source)
    unknown = {"ema_crss": {"SP500": {"timeframe": "1d"}}}
    assert "Did you mean 'ema_cross'?" in error_of(GOOD, live_params=unknown)


def test_unreadable_yaml_names_file_and_line() -> None:
    message = error_of(GOOD.replace("timeframes: [1h, 1d]", "timeframes: [1h, 1d"))
    assert message.startswith(f"{SOURCE}:") and "not valid YAML" in message
    assert any(f"{SOURCE}:{line}:" in message for line in range(8, 11)), message
    duplicate = error_of(GOOD + "windows: [full]\n")
    assert f"{SOURCE}:11:" in duplicate and "duplicate key 'windows'" in duplicate


def test_missing_file_is_a_settings_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="cannot read"):
        load_matrix_spec(tmp_path / "nope.yaml")


# -- nothing happens before validation ------------------------------------------------------------------


def test_parsing_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "matrix.yaml"
    path.write_text(GOOD)
    before = path.stat().st_mtime_ns
    monkeypatch.chdir(tmp_path)
    load_matrix_spec(path, live_params=live_params())
    with pytest.raises(SettingsError):
        parse_matrix_spec(GOOD.replace("[30d, 90d, full]", "[-5d]"))
    assert [p.name for p in tmp_path.iterdir()] == ["matrix.yaml"]
    assert path.stat().st_mtime_ns == before


def test_spec_is_immutable() -> None:
    spec = parse_matrix_spec(GOOD)
    with pytest.raises(AttributeError):
        spec.timeframes = ()  # type: ignore[misc]
    with pytest.raises(TypeError):
        spec.sources["ETH"] = "synthetic"  # type: ignore[index]
