"""Live parameters and optimizer guardrails of the trading bot.

Written only by tradeloop's ``gitops`` package and changed through pull requests. tradeloop reads this
file with ``ast`` and never runs it, so it holds only literal assignments; ``tradeloop state check``
validates it.
"""

# Written by tradeloop (gitops.save_constants); change it through a pull request.
# run id:     20261121T235657Z-9379bc70
# git sha:    b34d27775a764e867527509134bb5d3fc44e4a84-dirty
# written at: 2026-11-21T23:56:58+00:00

from __future__ import annotations

from typing import Final

# File format
# -----------

# The layout version of this file.
SCHEMA_VERSION: Final = 1

# Who wrote this file: the tradeloop run, the git sha of its code, and when (UTC).
PROVENANCE: Final = {
    "run_id": "20261121T235657Z-9379bc70",
    "git_sha": "b34d27775a764e867527509134bb5d3fc44e4a84-dirty",
    "written_at": "2026-11-21T23:56:58+00:00",
}

# Optimizer guardrails: the bounds every proposal respects
# --------------------------------------------------------

# Largest fractional change of one parameter per optimizer cycle (0.2 = +/-20%).
OPTIMIZER_MAX_DELTA: Final[float] = 0.2

# Hours after an applied change before the same strategy/symbol may get a new proposal.
OPTIMIZER_COOLDOWN_HOURS: Final[int] = 6

# Most parameters one proposal may change.
OPTIMIZER_MAX_KNOBS: Final[int] = 3

# Most parameter changes applied per strategy/symbol within OPTIMIZER_BUDGET_WINDOW_HOURS.
OPTIMIZER_CHANGE_BUDGET: Final[int] = 6

# Rolling window, in hours, over which OPTIMIZER_CHANGE_BUDGET is counted.
OPTIMIZER_BUDGET_WINDOW_HOURS: Final[int] = 168

# Validation gates: what a candidate must clear before a pull request is opened
# -----------------------------------------------------------------------------

# Fewest trades a backtest needs before its KPIs count.
MIN_TRADES: Final[int] = 30

# Confidence level of bootstrap intervals and of the significance tests.
CONFIDENCE_LEVEL: Final[float] = 0.95

# Mean block length (bars) of the stationary block bootstrap; keeps autocorrelation.
BOOTSTRAP_BLOCK_LENGTH: Final[int] = 10

# Bootstrap resamples behind each confidence interval and p-value.
BOOTSTRAP_REPLICATIONS: Final[int] = 2000

# Smallest out-of-sample Sharpe gain (annualised, candidate minus baseline) worth a change.
MIN_SHARPE_IMPROVEMENT: Final[float] = 0.05

# Lowest Deflated Sharpe Ratio (probability the Sharpe is real after N trials) accepted.
MIN_DEFLATED_SHARPE: Final[float] = 0.95

# Largest coefficient of variation of the walk-forward fold Sharpe ratios (fold stability).
MAX_FOLD_SHARPE_CV: Final[float] = 1.5

# Highest probability of backtest overfitting (CSCV) a candidate may show.
MAX_PBO: Final[float] = 0.5

# Share of each cycle's most recent bars the search never sees; validation judges on them.
VALIDATION_HOLDOUT_FRACTION: Final[float] = 0.25

# Risk limits: KPI breaches that fail a candidate or roll a canary back
# ---------------------------------------------------------------------

# Largest peak-to-trough equity drawdown allowed, in percent.
MAX_DRAWDOWN_PCT: Final[float] = 8.0

# Lowest share of winning trades allowed, in percent.
MIN_WIN_RATE_PCT: Final[float] = 40.0

# Largest loss in one UTC day, in USD, before trading stops for the day.
MAX_DAILY_LOSS_USD: Final[float] = 5.0

# Capital the bot trades, in USD: the backtests' starting cash and the base of MAX_DAILY_LOSS_USD.
TRADING_CAPITAL_USD: Final[float] = 1000.0

# Costs every backtest charges
# ----------------------------

# Exchange or broker fee per side, in basis points of the notional.
FEE_BPS: Final[float] = 10.0

# Assumed slippage per fill, in basis points of the price.
SLIPPAGE_BPS: Final[float] = 5.0

# Deployment: canary stages COLD -> WARM -> LIMITED -> FULL
# ---------------------------------------------------------

# Share of capital traded with the new parameters in each stage; FULL is 1.0.
CANARY_FRACTIONS: Final = {"WARM": 0.1, "LIMITED": 0.5, "FULL": 1.0}

# Minutes between two canary analyses.
CANARY_INTERVAL_MINUTES: Final[int] = 60

# Failed canary analyses (no data counts as failed) before the rollout is rolled back.
CANARY_FAILURE_THRESHOLD: Final[int] = 3

# Live parameters
# ---------------

# strategy -> symbol -> parameters traded now; every entry names its bar timeframe.
LIVE_PARAMS: Final = {
    "ema_cross": {
        "NASDAQ": {
            "timeframe": "1d",
            "ema_fast": 10,
            "ema_slow": 30,
            "exit_tp0_pct": 5.0,
            "stop_loss_pct": 2.5,
            "trade_fraction": 0.1,
        },
        "SP500": {
            "timeframe": "1d",
            "ema_fast": 12,
            "ema_slow": 26,
            "exit_tp0_pct": 4.0,
            "stop_loss_pct": 2.0,
            "trade_fraction": 0.1,
        },
    },
    "rsi_reversion": {
        "DEMO": {
            "timeframe": "15m",
            "overbought": 55.0,
            "oversold": 35.0,
            "rsi_period": 6,
            "trade_fraction": 0.1,
        },
        "SP500": {
            "timeframe": "1d",
            "exit_tp0_pct": 4.5,
            "overbought": 70.0,
            "oversold": 30.0,
            "rsi_period": 14,
            "stop_loss_pct": 3.0,
            "trade_fraction": 0.05,
        },
    },
}

# strategy -> symbol -> regime -> parameters overriding LIVE_PARAMS in that regime (written by the optimizer).
REGIME_LOADOUTS: Final = {}
