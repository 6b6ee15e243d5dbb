"""``ENSEMBLE_WEIGHTS``, ``ENSEMBLE_METHOD`` and the regimes of ``REGIME_LOADOUTS``: ``tradeloop state check``
refuses every bad value with the file, the key path, the value and the fix, and a reader refuses it with the
same words."""

from __future__ import annotations

import json
from pathlib import Path
from typing import get_args

import pytest
from typer.testing import CliRunner

from backtest_matrix.regimes import REGIME_LABELS
from gitops import ENSEMBLE_METHODS, parse_constants, weights_in_force
from gitops._names import REGIMES
from optimizer import EnsembleMethod
from tests.gitops.conftest import SHIPPED_CONSTANTS
from tests.gitops.constants_text import without_donchian
from tradeloop.cli import app

runner = CliRunner()
SHIPPED = without_donchian(SHIPPED_CONSTANTS.read_text())  # SP500 with two live strategies
#: A third live strategy on SP500, so that weights within the shipped 5-40 % bounds can sum to 1.
DONCHIAN = '"donchian_breakout": {"SP500": {"timeframe": "1d"}},\n    "ema_cross": {'


def edited(*replacements: tuple[str, str]) -> str:
    text = SHIPPED
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text


def weights(value: str) -> tuple[str, str]:
    return "ENSEMBLE_WEIGHTS: Final = {}", f"ENSEMBLE_WEIGHTS: Final = {value}"


LIVE_THREE = ('    "ema_cross": {\n        "NASDAQ"', "    " + DONCHIAN + '\n        "NASDAQ"')

DEFECTS = {
    "unknown method": (
        [('ENSEMBLE_METHOD: Final = "max_sharpe"', 'ENSEMBLE_METHOD: Final = "kelly"')],
        "config/constants.py: ENSEMBLE_METHOD is 'kelly', a method tradeloop does not know; use one of "
        "'max_sharpe', 'risk_parity', 'equal'",
    ),
    "weights not summing to 1": (
        [
            LIVE_THREE,
            weights('{"SP500": {"donchian_breakout": 0.3, "ema_cross": 0.3, "rsi_reversion": 0.3}}'),
        ],
        "config/constants.py: ENSEMBLE_WEIGHTS.SP500 sums to 0.9, not 1 (within 1e-06); scale the weights "
        "{'donchian_breakout': 0.3, 'ema_cross': 0.3, 'rsi_reversion': 0.3} so that they sum to 1",
    ),
    "weight above its bound": (
        [
            LIVE_THREE,
            weights('{"SP500": {"donchian_breakout": 0.1, "ema_cross": 0.45, "rsi_reversion": 0.45}}'),
        ],
        "config/constants.py: ENSEMBLE_WEIGHTS.SP500.ema_cross = 0.45 is outside [ENSEMBLE_MIN_WEIGHT, "
        "ENSEMBLE_MAX_WEIGHT] = [0.05, 0.4]; move it inside the bounds (and keep the sum at 1)",
    ),
    "weight of a strategy not live on the symbol": (
        [weights('{"SP500": {"donchian_breakout": 0.5, "ema_cross": 0.5}}')],
        "config/constants.py: ENSEMBLE_WEIGHTS.SP500 = {'donchian_breakout': 0.5, 'ema_cross': 0.5} must "
        "name exactly the live strategies of SP500 (ema_cross, rsi_reversion): donchian_breakout not live on "
        "SP500; rsi_reversion missing; add or remove weights to match LIVE_PARAMS",
    ),
    "weights of a symbol with one live strategy": (
        [weights('{"NASDAQ": {"ema_cross": 1.0}}')],
        "config/constants.py: ENSEMBLE_WEIGHTS.NASDAQ = {'ema_cross': 1.0}, but NASDAQ has 1 live strategy "
        "in LIVE_PARAMS; weights are for a symbol with several live strategies: remove the entry",
    ),
    "a weight that is no share": (
        [weights('{"SP500": {"ema_cross": "half", "rsi_reversion": 0.5}}')],
        "config/constants.py: ENSEMBLE_WEIGHTS.SP500.ema_cross must be a share in [0, 1], got 'half'",
    ),
    "loadout for an unknown regime": (
        [("REGIME_LOADOUTS: Final = {}", 'REGIME_LOADOUTS: Final = {"ema_cross": {"SP500": {"trend": {}}}}')],
        "config/constants.py: REGIME_LOADOUTS.ema_cross.SP500.trend: 'trend' is not a regime the detector "
        "gives; use one of 'bull', 'bear', 'sideways', 'high_vol', or remove the loadout",
    ),
    "loadout for a pair that is not live": (
        [
            (
                "REGIME_LOADOUTS: Final = {}",
                'REGIME_LOADOUTS: Final = {"rsi_reversion": {"NASDAQ": {"bull": {}}}}',
            )
        ],
        "config/constants.py: REGIME_LOADOUTS.rsi_reversion.NASDAQ has no LIVE_PARAMS.rsi_reversion.NASDAQ "
        "entry; add the live parameters or remove the loadout",
    ),
    "bounds that cross": (
        [("ENSEMBLE_MIN_WEIGHT: Final[float] = 0.05", "ENSEMBLE_MIN_WEIGHT: Final[float] = 0.5")],
        "config/constants.py: ENSEMBLE_MIN_WEIGHT = 0.5 is above ENSEMBLE_MAX_WEIGHT = 0.4; lower the "
        "minimum or raise the maximum",
    ),
}


@pytest.mark.parametrize("defect", list(DEFECTS))
def test_state_check_and_a_reader_refuse_the_defect(state_repo: Path, defect: str) -> None:
    replacements, message = DEFECTS[defect]
    (state_repo / "config" / "constants.py").write_text(edited(*replacements))
    result = runner.invoke(app, ["--repo", str(state_repo), "--json", "state", "check"])
    assert result.exit_code == 1, result.output
    errors = json.loads(result.stdout)["errors"]
    assert any(error.startswith(message) for error in errors), errors
    result = runner.invoke(app, ["--repo", str(state_repo), "state", "show"])
    assert result.exit_code == 2
    assert " ".join(result.stderr.split()).startswith(f"error: {message}"), result.stderr


def test_bounded_weights_of_three_live_strategies_are_read(state_repo: Path) -> None:
    text = edited(
        LIVE_THREE, weights('{"SP500": {"donchian_breakout": 0.2, "ema_cross": 0.4, "rsi_reversion": 0.4}}')
    )
    (state_repo / "config" / "constants.py").write_text(text)
    result = runner.invoke(app, ["--repo", str(state_repo), "--json", "state", "check"])
    assert result.exit_code == 0, result.stdout
    constants = parse_constants(text)
    assert weights_in_force(constants, "SP500") == {
        "donchian_breakout": 0.2,
        "ema_cross": 0.4,
        "rsi_reversion": 0.4,
    }
    assert weights_in_force(constants, "NASDAQ") == {"ema_cross": 1.0}


def test_a_symbol_without_weights_trades_its_strategies_at_equal_weight() -> None:
    shipped = parse_constants(SHIPPED)
    assert weights_in_force(shipped, "SP500") == {"ema_cross": 0.5, "rsi_reversion": 0.5}


def test_the_new_constants_keep_the_shipped_config_hash() -> None:
    without = "\n".join(
        line for line in SHIPPED.splitlines() if not line.startswith(("ENSEMBLE_", "REGIME_SWITCH_"))
    )
    assert parse_constants(without).config_hash == parse_constants(SHIPPED).config_hash


def test_gitops_names_the_detector_s_regimes_and_the_optimizer_s_methods() -> None:
    assert REGIMES == REGIME_LABELS
    assert get_args(EnsembleMethod) == ENSEMBLE_METHODS
