"""deployment: the COLD → WARM → LIMITED → FULL promotion state machine, on evidence, in git.

- :func:`deployment_plan` / :func:`read_plan` is the consumer contract: which parameter sets the bot runs
  for each strategy/symbol, paper or live, at which share of the capital, from the two state files alone;
- :func:`decide` is the state machine (one analysis in, promote / hold / fail out), :func:`cold_checks` and
  :func:`paired_checks` measure a stage's checks, :func:`sequential_test` is the always-valid mSPRT;
- :func:`ingest_file` takes the bot's trades and equity into the warehouse;
- :func:`paper_run` paper-trades each rollout's candidate and previous parameters on the bars a :class:`Feed`
  brings (:class:`FileFeed`, :class:`ReplayFeed`), and :func:`simulated_bot_step` stands in for the bot;
- :func:`deploy_step` analyses every rollout once per interval and turns each stage move into a pull request;
- :func:`rollout_status` is what ``tradeloop deploy status`` shows.
"""

from __future__ import annotations

from deployment._analysis import (
    BacktestEvidence,
    PairedEvidence,
    annualisation,
    cold_checks,
    paired_checks,
    sharpe,
)
from deployment._bot import BotStep, simulated_bot_step
from deployment._evidence import BarsProvider, backtest_evidence, paired_evidence, stage_mode
from deployment._feed import Feed, FeedRead, FileFeed, ReplayFeed, open_feed
from deployment._ingest import IngestResult, ingest_file, ingest_rows, known_config_hashes
from deployment._machine import decide
from deployment._model import OUTCOME_ORDER, Check, Decision, Outcome, Rollout, Verdict, worst
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
    "MIN_OBSERVATIONS",
    "OUTCOME_ORDER",
    "BacktestEvidence",
    "BarsProvider",
    "BotStep",
    "Check",
    "Decision",
    "DeploymentPlan",
    "Feed",
    "FeedFactory",
    "FeedRead",
    "FileFeed",
    "IngestResult",
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
    "SequentialResult",
    "Verdict",
    "analysis_interval",
    "annualisation",
    "backtest_evidence",
    "bar_duration",
    "cold_checks",
    "decide",
    "deploy_branch",
    "deploy_step",
    "deployment_plan",
    "engine_rows",
    "ingest_file",
    "ingest_rows",
    "known_config_hashes",
    "log_mixture_ratio",
    "open_feed",
    "paired_checks",
    "paired_evidence",
    "paper_run",
    "parse_deploy_metadata",
    "publish_move",
    "read_plan",
    "regime_state",
    "rollout_status",
    "sequential_test",
    "sequential_test_paths",
    "sharpe",
    "simulated_bot_step",
    "stage_mode",
    "stage_since",
    "stored_regimes",
    "timeframe_delta",
    "worst",
]
