"""deployment: the COLD → WARM → LIMITED → FULL promotion state machine, on evidence, in git.

- :func:`deployment_plan` / :func:`read_plan` is the consumer contract: which parameter sets the bot runs
  for each strategy/symbol, paper or live, at which share of the capital, from the two state files alone;
- :func:`decide` is the state machine (one analysis in, promote / hold / fail out), :func:`cold_checks` and
  :func:`paired_checks` measure a stage's checks, :func:`sequential_test` is the always-valid mSPRT;
- :func:`ingest_file` takes the bot's trades and equity into the warehouse;
- :func:`paper_run` paper-trades each rollout's candidate and previous parameters on the bars a :class:`Feed`
  brings (:class:`FileFeed`, :class:`ReplayFeed`), and :func:`simulated_bot_step` stands in for the bot;
- :func:`deploy_step` analyses every rollout once per interval and turns each stage move into a pull request;
- :func:`rollout_status` is what ``tradeloop deploy status`` shows;
- :func:`monitor` judges LIMITED and FULL rollouts on live evidence (the breach rules of :func:`judge`) and
  rolls a breach back in git; :func:`send_alerts` tells people (Slack, Discord, JSON webhooks), once;
  :func:`deadman_alert` raises the dead man's switch when the monitor stops.
"""

from __future__ import annotations

from deployment._alerts import (
    SEVERITIES,
    Alert,
    Delivery,
    SentLog,
    WarehouseSentLog,
    Webhook,
    discord_payload,
    send_alerts,
    slack_payload,
    step_alerts,
    webhooks_from_env,
)
from deployment._analysis import (
    BacktestEvidence,
    PairedEvidence,
    annualisation,
    cold_checks,
    paired_checks,
    sharpe,
)
from deployment._bot import BotStep, simulated_bot_step
from deployment._breach import HARD_CHECKS, BreachJudgement, Series, judge, series, window_checks
from deployment._evidence import BarsProvider, backtest_evidence, paired_evidence, stage_mode
from deployment._feed import Feed, FeedRead, FileFeed, ReplayFeed, open_feed
from deployment._ingest import IngestResult, ingest_file, ingest_rows, known_config_hashes
from deployment._machine import decide
from deployment._model import OUTCOME_ORDER, Check, Decision, Outcome, Rollout, Verdict, worst
from deployment._monitor import (
    MONITOR_RUN_KIND,
    MONITORED_STAGES,
    MonitorResult,
    Watch,
    deadman_alert,
    last_monitor_run,
    monitor,
    monitor_interval,
)
from deployment._msprt import (
    MIN_OBSERVATIONS,
    SequentialResult,
    log_mixture_ratio,
    sequential_test,
    sequential_test_paths,
)
from deployment._paper import FeedFactory, PaperRun, PaperSet, engine_rows, paper_run
from deployment._plan import (
    DeploymentPlan,
    PairPlan,
    ParameterSet,
    deployment_plan,
    read_plan,
    stored_regimes,
)
from deployment._publish import (
    DEPLOY_BRANCH_PREFIX,
    DEPLOY_LABELS,
    PublishedMove,
    deploy_branch,
    parse_deploy_metadata,
    publish_move,
)
from deployment._regime import PendingSwitch, RegimeState, regime_state, timeframe_delta
from deployment._status import RolloutStatus, rollout_status
from deployment._step import analysis_interval, bar_duration, deploy_step, stage_since

__all__ = [
    "DEPLOY_BRANCH_PREFIX",
    "DEPLOY_LABELS",
    "HARD_CHECKS",
    "MIN_OBSERVATIONS",
    "MONITORED_STAGES",
    "MONITOR_RUN_KIND",
    "OUTCOME_ORDER",
    "SEVERITIES",
    "Alert",
    "BacktestEvidence",
    "BarsProvider",
    "BotStep",
    "BreachJudgement",
    "Check",
    "Decision",
    "Delivery",
    "DeploymentPlan",
    "Feed",
    "FeedFactory",
    "FeedRead",
    "FileFeed",
    "IngestResult",
    "MonitorResult",
    "Outcome",
    "PairPlan",
    "PairedEvidence",
    "PaperRun",
    "PaperSet",
    "ParameterSet",
    "PendingSwitch",
    "PublishedMove",
    "RegimeState",
    "ReplayFeed",
    "Rollout",
    "RolloutStatus",
    "SentLog",
    "SequentialResult",
    "Series",
    "Verdict",
    "WarehouseSentLog",
    "Watch",
    "Webhook",
    "analysis_interval",
    "annualisation",
    "backtest_evidence",
    "bar_duration",
    "cold_checks",
    "deadman_alert",
    "decide",
    "deploy_branch",
    "deploy_step",
    "deployment_plan",
    "discord_payload",
    "engine_rows",
    "ingest_file",
    "ingest_rows",
    "judge",
    "known_config_hashes",
    "last_monitor_run",
    "log_mixture_ratio",
    "monitor",
    "monitor_interval",
    "open_feed",
    "paired_checks",
    "paired_evidence",
    "paper_run",
    "parse_deploy_metadata",
    "publish_move",
    "read_plan",
    "regime_state",
    "rollout_status",
    "send_alerts",
    "sequential_test",
    "sequential_test_paths",
    "series",
    "sharpe",
    "simulated_bot_step",
    "slack_payload",
    "stage_mode",
    "stage_since",
    "step_alerts",
    "stored_regimes",
    "timeframe_delta",
    "webhooks_from_env",
    "window_checks",
    "worst",
]
