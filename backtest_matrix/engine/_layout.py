"""Column layouts shared by the kernels and their wrappers: run config, risk parameters, KPIs, trades."""

from __future__ import annotations

__all__ = [
    "CFG_DIRECTION",
    "CFG_FEE",
    "CFG_FILL",
    "CFG_INIT_CASH",
    "CFG_MIN_RESERVE",
    "CFG_PERIODS_PER_YEAR",
    "CFG_SLIPPAGE",
    "CFG_YEARS",
    "EXIT_REASONS",
    "FILL_CLOSE",
    "FILL_NEXT_OPEN",
    "KPI_NAMES",
    "N_CFG",
    "N_KPIS",
    "N_RISK",
    "N_TRADE_FIELDS",
    "RISK_NAMES",
    "TRADE_FIELDS",
]

# Run configuration (one float64 vector per run, shared by all combinations).
CFG_FILL = 0  # FILL_NEXT_OPEN or FILL_CLOSE
CFG_FEE = 1  # fee rate per side (bps / 1e4)
CFG_SLIPPAGE = 2  # slippage rate per side (bps / 1e4)
CFG_DIRECTION = 3  # 0: long only, 1: long and short
CFG_INIT_CASH = 4
CFG_MIN_RESERVE = 5  # fraction of equity always kept in cash
CFG_PERIODS_PER_YEAR = 6  # bars per year, for annualising Sharpe and Sortino
CFG_YEARS = 7  # (last - first timestamp) in years of 365.25 days, for the CAGR
N_CFG = 8


FILL_NEXT_OPEN = 0.0
FILL_CLOSE = 1.0

# Risk parameters, appended to every strategy's own parameters (percentages are in %, 0 = off).
RISK_NAMES = (
    "stop_loss_pct",
    "exit_tp0_pct",
    "exit_tp0_fraction",
    "exit_tp1_pct",
    "exit_tp1_fraction",
    "exit_tp2_pct",
    "exit_tp2_fraction",
    "exit_trailing_stop_pct",
    "trade_fraction",
)
N_RISK = len(RISK_NAMES)

KPI_NAMES = (
    "return_pct",
    "cagr_pct",
    "sharpe",
    "sortino",
    "calmar",
    "max_drawdown_pct",
    "win_rate_pct",
    "profit_factor",
    "trades",
    "avg_win_pct",
    "avg_loss_pct",
    "expectancy_pct",
    "exposure_pct",
    "max_consecutive_wins",
    "max_consecutive_losses",
    "worst_day_pct",
)
N_KPIS = len(KPI_NAMES)

TRADE_FIELDS = (
    "entry_bar",
    "exit_bar",
    "side",
    "entry_price",
    "exit_price",
    "size",
    "pnl",
    "return_pct",
    "fees",
    "reason",
    "exit_fills",
)
N_TRADE_FIELDS = len(TRADE_FIELDS)

# Exit reasons, by code (the ``reason`` trade field).
EXIT_REASONS = (
    "signal",
    "stop_loss",
    "take_profit_0",
    "take_profit_1",
    "take_profit_2",
    "trailing_stop",
    "open",
)
