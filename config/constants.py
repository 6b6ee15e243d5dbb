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

# Share of capital traded with the new parameters in each stage: none in COLD (backtest) and WARM (paper
# trading beside the live parameters), a canary share in LIMITED, all in FULL.
CANARY_FRACTIONS: Final = {"COLD": 0.0, "WARM": 0.0, "LIMITED": 0.1, "FULL": 1.0}

# Minutes between two canary analyses (at least one bar of the pair's timeframe).
CANARY_INTERVAL_MINUTES: Final[int] = 60

# Failed canary analyses in one stage (no data counts as failed) before the rollout fails.
CANARY_FAILURE_THRESHOLD: Final[int] = 3

# COLD: lowest annualised Sharpe of the backtest on the bars since the rollout started.
DEPLOY_COLD_MIN_SHARPE: Final[float] = 0.5

# COLD: lowest share of winning trades in that backtest, in percent (and at least MIN_TRADES trades and a
# positive PnL).
DEPLOY_COLD_MIN_WIN_RATE_PCT: Final[float] = 40.0

# WARM: fewest paper trades of the new parameters before their figures count.
DEPLOY_WARM_MIN_TRADES: Final[int] = 10

# WARM: smallest Sharpe gain over the live parameters on the same bars, in percent of max(|their Sharpe|,
# DEPLOY_SHARPE_GAIN_FLOOR).
DEPLOY_WARM_MIN_SHARPE_GAIN_PCT: Final[float] = 10.0

# WARM: smallest win-rate gain over the live parameters, in percentage points.
DEPLOY_WARM_MIN_WIN_RATE_GAIN_PTS: Final[float] = 2.0

# WARM: largest drawdown of the paper equity, in percent; a breach fails the check.
DEPLOY_WARM_MAX_DRAWDOWN_PCT: Final[float] = 8.0

# LIMITED: smallest Sharpe gain over the previous parameters over the same period, in percent of max(|their
# Sharpe|, DEPLOY_SHARPE_GAIN_FLOOR).
DEPLOY_LIMITED_MIN_SHARPE_GAIN_PCT: Final[float] = 15.0

# LIMITED: fewest winning live trades of the new parameters.
DEPLOY_LIMITED_MIN_WINNING_TRADES: Final[int] = 10

# LIMITED: largest realised loss of the new parameters, in USD; a breach fails the check.
DEPLOY_LIMITED_MAX_LOSS_USD: Final[float] = 5.0

# Relative Sharpe gains are measured against max(|baseline Sharpe|, this), so a baseline Sharpe <= 0 still
# needs a real gain.
DEPLOY_SHARPE_GAIN_FLOOR: Final[float] = 0.5

# Non-inferiority margin of the sequential test: the shortfall of the mean per-bar return against the
# baseline, in standard deviations of the paired difference, that is no harm.
DEPLOY_HARM_MARGIN: Final[float] = 0.2

# Error rate of the always-valid sequential test (mSPRT), whatever the number of analyses.
DEPLOY_SEQUENTIAL_ALPHA: Final[float] = 0.05

# Stage -> timeframe -> fewest bars a rollout stays in the stage ("default": other timeframes); the brief's
# WARM 4 h and LIMITED 24 h on intraday bars.
DEPLOY_DWELL_BARS: Final = {
    "COLD": {"default": 1},
    "WARM": {"1m": 240, "5m": 48, "15m": 16, "1h": 4, "default": 20},
    "LIMITED": {"1m": 1440, "5m": 288, "15m": 96, "1h": 24, "default": 20},
}

# Stage -> timeframe -> bars after which a rollout without the evidence to leave the stage fails (progress
# deadline).
DEPLOY_DEADLINE_BARS: Final = {
    "COLD": {"1m": 40320, "5m": 12096, "15m": 4032, "1h": 1008, "default": 500},
    "WARM": {"1m": 4320, "5m": 864, "15m": 1344, "1h": 72, "default": 250},
    "LIMITED": {"1m": 10080, "5m": 2016, "15m": 2688, "1h": 168, "default": 250},
}

# Ask the forge to auto-merge promotion pull requests (branch protection and required checks still apply).
DEPLOY_AUTO_MERGE: Final[bool] = False

# Minutes between two monitor checks of a LIMITED or FULL rollout (at least one bar).
MONITOR_INTERVAL_MINUTES: Final[int] = 15

# Largest Sharpe drop of the live parameters against the replaced ones over the same period, in percent of
# max(|their Sharpe|, DEPLOY_SHARPE_GAIN_FLOOR); a counted check.
MONITOR_MAX_SHARPE_DROP_PCT: Final[float] = 30.0

# Consecutive failed monitor checks (no data counts as failed) before the rollback; the daily loss
# (MAX_DAILY_LOSS_USD) and the drawdown (MAX_DRAWDOWN_PCT) roll back at once.
MONITOR_FAILURE_THRESHOLD: Final[int] = 3

# Fewest paired returns before the Sharpe drop is judged (fewer: inconclusive, never failed).
MONITOR_MIN_RETURNS: Final[int] = 30

# Monitor intervals without a monitor run after which the deployment job raises an error alert (dead man's
# switch).
MONITOR_DEADMAN_INTERVALS: Final[int] = 3

# Regimes and ensembles: which parameter set and which share of capital each strategy trades
# ------------------------------------------------------------------------------------------

# How the optimizer weights the live strategies of one symbol: "max_sharpe" (mean-variance), "risk_parity" or
# "equal".
ENSEMBLE_METHOD: Final = "max_sharpe"

# Smallest share of a symbol's capital one of its live strategies may get.
ENSEMBLE_MIN_WEIGHT: Final[float] = 0.05

# Largest share of a symbol's capital one of its live strategies may get.
ENSEMBLE_MAX_WEIGHT: Final[float] = 0.4

# Largest share of a symbol's capital that one ensemble proposal moves between its strategies (half the sum of
# the absolute weight changes).
ENSEMBLE_MAX_TURNOVER: Final[float] = 0.2

# Lowest detector confidence at which a new regime's loadout may take over.
REGIME_SWITCH_MIN_CONFIDENCE: Final[float] = 0.5

# Consecutive bars a new regime must hold at that confidence before its loadout takes over; until then the
# switch is pending and the previous loadout stays.
REGIME_SWITCH_MIN_DWELL_BARS: Final[int] = 3

# Live parameters
# ---------------

# strategy -> symbol -> parameters traded now; every entry names its bar timeframe.
LIVE_PARAMS: Final = {
    "donchian_breakout": {
        "SP500": {
            "timeframe": "1d",
            "atr_period": 14,
            "atr_stop": 2.0,
            "channel": 20,
            "exit_channel": 10,
            "trade_fraction": 0.05,
        },
    },
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

# symbol -> strategy -> share of the symbol's capital, for symbols with several live strategies (written by
# the optimizer; a symbol left out trades its strategies at equal weight).
ENSEMBLE_WEIGHTS: Final = {}
