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
:func:`run_cycle`           all of the above, in-process                  :class:`CycleResult`
:func:`deploy_step`         ``deployment.deploy_step``,                   :class:`DeployStepResult`
                            ``deployment.step_alerts``
:func:`run_monitor`         ``deployment.monitor``                        :class:`MonitorResult`
:func:`notify`              ``deployment.send_alerts``,                   :class:`NotifyResult`
                            ``deployment.deadman_alert``
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
from tradeloop.loop._common import QUIET, Feedback, actions_run_url, load_source, make_forge, pair_source
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
from tradeloop.loop._validate import (
    ValidateOptions,
    ValidateResult,
    read_for_validation,
    search_record_of,
    validate,
    validate_file,
)

__all__ = [
    "AUTO_CADENCE",
    "DEFAULT_MAX_CELLS",
    "QUIET",
    "STEPS",
    "STEP_SUMMARY_ENV",
    "CycleObserver",
    "CycleOptions",
    "CycleResult",
    "DeployStepResult",
    "Feedback",
    "ForgeOptions",
    "MatrixMerge",
    "MatrixRun",
    "MergeOptions",
    "MonitorOptions",
    "NotifyResult",
    "PairResult",
    "PrOpenOptions",
    "PrOpenResult",
    "PrProposalOptions",
    "PrProposalResult",
    "PrReportResult",
    "ProposeOptions",
    "ProposeResult",
    "RollbackResult",
    "ShardOptions",
    "ValidateOptions",
    "ValidateResult",
    "actions_run_url",
    "check_optimizer_options",
    "check_options_first",
    "check_out_dir",
    "check_out_file",
    "check_positive_seconds",
    "check_storage",
    "delivery_options",
    "deploy_step",
    "guardrail_memory",
    "load_source",
    "make_forge",
    "matrix_merge",
    "matrix_plan",
    "matrix_run",
    "notify",
    "pair_cadence",
    "pair_source",
    "pr_check",
    "pr_open",
    "pr_open_files",
    "pr_proposal",
    "pr_report",
    "propose",
    "read_for_validation",
    "reading_forge",
    "roll_back_pair",
    "rollback",
    "run_cycle",
    "run_monitor",
    "search_record_of",
    "settle_proposal",
    "spec_and_constants",
    "validate",
    "validate_file",
]
