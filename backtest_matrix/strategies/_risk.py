"""Risk parameters every strategy shares: stops, take-profit tiers, trailing stop and position size.

They are appended to each strategy's own parameters, in ``backtest_matrix.engine._layout.RISK_NAMES``
order. A percentage of 0 switches that exit off.
"""

from __future__ import annotations

from backtest_matrix.strategies._base import Param

__all__ = ["RISK_PARAMS"]

RISK_PARAMS: tuple[Param, ...] = (
    Param("stop_loss_pct", "float", 0.0, 50.0, 0.0, doc="Stop-loss distance from the entry fill, in %."),
    Param("exit_tp0_pct", "float", 0.0, 200.0, 0.0, doc="First take-profit distance, in %."),
    Param(
        "exit_tp0_fraction",
        "float",
        0.01,
        1.0,
        1.0,
        decimals=3,
        doc="Share of the initial position closed at tier 0.",
    ),
    Param("exit_tp1_pct", "float", 0.0, 200.0, 0.0, doc="Second take-profit distance, in % (above tier 0)."),
    Param(
        "exit_tp1_fraction",
        "float",
        0.01,
        1.0,
        1.0,
        decimals=3,
        doc="Share of the initial position closed at tier 1.",
    ),
    Param("exit_tp2_pct", "float", 0.0, 200.0, 0.0, doc="Third take-profit distance, in %."),
    Param(
        "exit_tp2_fraction",
        "float",
        0.01,
        1.0,
        1.0,
        decimals=3,
        doc="Share of the initial position closed at tier 2.",
    ),
    Param("exit_trailing_stop_pct", "float", 0.0, 50.0, 0.0, doc="Trailing stop below the best price, in %."),
    Param(
        "trade_fraction",
        "float",
        0.01,
        1.0,
        1.0,
        decimals=3,
        doc="Share of equity put into each new position.",
    ),
)
