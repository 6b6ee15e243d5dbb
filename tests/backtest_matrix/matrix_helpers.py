"""Helpers for the matrix run tests: a repository with chosen live parameters and small matrix files."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from gitops import load_constants, save_constants
from tradeloop import Provenance

REPO = Path(__file__).resolve().parents[2]

#: 3 (strategy, symbol) pairs x 2 windows x 3 parameter sets = 18 cells; synthetic and real S&P 500 bars.
SMALL_MATRIX = """\
symbols:
  SP500: sp500
  BTC: synthetic
strategies:
  ema_cross: [SP500, BTC]
  rsi_reversion: [BTC]
timeframes: [1d]
windows: [90d, full]
neighbourhood: {samples: 2, seed: 5}
"""

#: 4 strategies x 2 symbols x 3 windows x 4 parameter sets = 96 cells, for the kill test.
KILL_MATRIX = """\
symbols:
  SP500: sp500
  BTC: synthetic
strategies:
  ema_cross: [SP500, BTC]
  rsi_reversion: [SP500, BTC]
  donchian_breakout: [SP500, BTC]
  mtf_ema: [SP500, BTC]
timeframes: [1d]
windows: [90d, 365d, full]
neighbourhood: {samples: 3, seed: 11}
"""

LIVE_BTC = {"ema_cross": {"BTC": {"timeframe": "1d", "ema_fast": 10, "ema_slow": 30, "stop_loss_pct": 3.0}}}


def make_repo(root: Path, live_params: dict[str, Any] | None = None) -> Path:
    """A repository directory whose ``config/constants.py`` is the shipped one with ``live_params``."""
    constants = load_constants(REPO / "config" / "constants.py")
    changed = dataclasses.replace(constants, live_params=LIVE_BTC if live_params is None else live_params)
    path = root / "config" / "constants.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    save_constants(path, changed, Provenance(run_id="test", git_sha="nogit"))
    return root


def write_matrix(root: Path, text: str, name: str = "matrix.yaml") -> Path:
    path = root / name
    path.write_text(text, encoding="utf-8")
    return path
