"""The loop as library calls: the library half of the composition root.

Each command of the loop is one call here that takes settings and options and returns a typed result
(with ``to_json()``, the command's ``--json`` document); the CLI (``tradeloop/cli``) parses options, makes the
call and renders the result, and :func:`run_cycle` runs the whole loop from the same calls:

==========================  ============================================  ============================
call                        stage calls it makes                          result
==========================  ============================================  ============================
:func:`matrix_run`          ``backtest_matrix.matrix.run_shard``          :class:`MatrixRun`
:func:`matrix_merge`        ``merge_logs``, ``load_into_warehouse``,      :class:`MatrixMerge`
                            ``compute_flags``, ``write_nightly_report``
:func:`propose`             ``optimizer.make_proposal``,                  :class:`ProposeResult`
                            ``gitops.read_memory``                        (a ``Proposal``)
:func:`validate`            ``validation.validate_proposal``              :class:`ValidateResult`
                                                                          (a ``Verdict``)
:func:`pr_open`             ``gitops.publish_proposal``                   :class:`PrOpenResult`
:func:`pr_proposal`         ``gitops.proposal_from_pr``                   :class:`PrProposalResult`
:func:`pr_report`           ``gitops.report_verdict``                     :class:`PrReportResult`
:func:`propose_weights`     ``optimizer.ensemble_target``,                :class:`WeightsResult`
                            ``validation.paired_sharpe_test``
:func:`propose_loadouts`    ``optimizer.regime_loadouts``,                :class:`LoadoutsResult`
                            ``validation.paired_sharpe_test``
:func:`run_cycle`           all of the above, in-process                  :class:`CycleResult`
:func:`deploy_step`         ``deployment.deploy_step``,                   :class:`DeployStepResult`
                            ``deployment.step_alerts``
:func:`run_monitor`         ``deployment.monitor``                        :class:`MonitorResult`
:func:`notify`              ``deployment.send_alerts``,                   :class:`NotifyResult`
                            ``deployment.deadman_alert``
:func:`paper_step`          ``deployment.paper_run``                      :class:`PaperResult`
:func:`demo_rollout`        ``paper_run``, ``simulated_bot_step``,        :class:`DemoRollout`
                            ``deploy_step``, ``check_pull_request``
:func:`dashboard`           ``reports.write_dashboard``                   ``reports.DashboardSite``
==========================  ============================================  ============================

Like the CLI, this package may import every stage; it imports them inside the calls, so importing it is
cheap. No stage imports it.
"""

from tradeloop.loop._checks import (
    check_optimizer_options,
    check_options_first,
    check_out_dir,
    check_out_file,
    check_positive_seconds,
    check_storage,
)
from tradeloop.loop._common import (
    QUIET,
    Feedback,
    actions_run_url,
    load_source,
    make_forge,
    matrix_path,
    pair_source,
)
from tradeloop.loop._cycle import (
    AUTO_CADENCE,
    STEPS,
    CycleObserver,
    CycleOptions,
    CycleResult,
    PairResult,
    pair_cadence,
    run_cycle,
)
from tradeloop.loop._dashboard import DashboardOptions, dashboard, dashboard_data
from tradeloop.loop._loadouts import (
    LoadoutOptions,
    LoadoutsResult,
    RegimeOutcome,
    loadout_branch,
    propose_loadouts,
    publish_loadouts,
)
from tradeloop.loop._matrix import (
    DEFAULT_MAX_CELLS,
    STEP_SUMMARY_ENV,
    MatrixMerge,
    MatrixRun,
    MergeOptions,
    ShardOptions,
    matrix_merge,
    matrix_plan,
    matrix_run,
    spec_and_constants,
)
from tradeloop.loop._memory import guardrail_memory, reading_forge, settle_proposal
from tradeloop.loop._monitor import (
    DeployStepResult,
    MonitorOptions,
    NotifyResult,
    delivery_options,
    deploy_step,
    notify,
    roll_back_pair,
    run_monitor,
)
from tradeloop.loop._paper import PAPER_TEST_PAUSE_ENV, PaperResult, feed_factory, paper_step
from tradeloop.loop._propose import ProposeOptions, ProposeResult, propose
from tradeloop.loop._publish import (
    ForgeOptions,
    PrOpenOptions,
    PrOpenResult,
    PrProposalOptions,
    PrProposalResult,
    PrReportResult,
    RollbackResult,
    pr_check,
    pr_open,
    pr_open_files,
    pr_proposal,
    pr_report,
    rollback,
)
from tradeloop.loop._regimes import RegimeRefresh, detection_segments, refresh_regimes, store_segments
from tradeloop.loop._rollout import (
    DEMO_PAIR,
    DEMO_PROPOSAL,
    DEMO_START,
    DemoRollout,
    RolloutMove,
    RolloutOptions,
    demo_market,
    demo_rollout,
)
from tradeloop.loop._validate import (
    ValidateOptions,
    ValidateResult,
    read_for_validation,
    search_record_of,
    validate,
    validate_file,
)
from tradeloop.loop._weights import (
    WeightsOptions,
    WeightsResult,
    ensemble_branch,
    propose_weights,
    publish_weights,
)

__all__ = [
    "AUTO_CADENCE",
    "DEFAULT_MAX_CELLS",
    "DEMO_PAIR",
    "DEMO_PROPOSAL",
    "DEMO_START",
    "PAPER_TEST_PAUSE_ENV",
    "QUIET",
    "STEPS",
    "STEP_SUMMARY_ENV",
    "CycleObserver",
    "CycleOptions",
    "CycleResult",
    "DashboardOptions",
    "DemoRollout",
    "DeployStepResult",
    "Feedback",
    "ForgeOptions",
    "LoadoutOptions",
    "LoadoutsResult",
    "MatrixMerge",
    "MatrixRun",
    "MergeOptions",
    "MonitorOptions",
    "NotifyResult",
    "PairResult",
    "PaperResult",
    "PrOpenOptions",
    "PrOpenResult",
    "PrProposalOptions",
    "PrProposalResult",
    "PrReportResult",
    "ProposeOptions",
    "ProposeResult",
    "RegimeOutcome",
    "RegimeRefresh",
    "RollbackResult",
    "RolloutMove",
    "RolloutOptions",
    "ShardOptions",
    "ValidateOptions",
    "ValidateResult",
    "WeightsOptions",
    "WeightsResult",
    "actions_run_url",
    "check_optimizer_options",
    "check_options_first",
    "check_out_dir",
    "check_out_file",
    "check_positive_seconds",
    "check_storage",
    "dashboard",
    "dashboard_data",
    "delivery_options",
    "demo_market",
    "demo_rollout",
    "deploy_step",
    "detection_segments",
    "ensemble_branch",
    "feed_factory",
    "guardrail_memory",
    "load_source",
    "loadout_branch",
    "make_forge",
    "matrix_merge",
    "matrix_path",
    "matrix_plan",
    "matrix_run",
    "notify",
    "pair_cadence",
    "pair_source",
    "paper_step",
    "pr_check",
    "pr_open",
    "pr_open_files",
    "pr_proposal",
    "pr_report",
    "propose",
    "propose_loadouts",
    "propose_weights",
    "publish_loadouts",
    "publish_weights",
    "read_for_validation",
    "reading_forge",
    "refresh_regimes",
    "roll_back_pair",
    "rollback",
    "run_cycle",
    "run_monitor",
    "search_record_of",
    "settle_proposal",
    "spec_and_constants",
    "store_segments",
    "validate",
    "validate_file",
]
