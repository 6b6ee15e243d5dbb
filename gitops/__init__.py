"""gitops: the live state files ``config/constants.py`` and ``feature_flags.json``.

Both are validated on every read and written only here, atomically, after validation:

- :func:`load_constants` parses ``config/constants.py`` with ``ast`` (it is never imported) and checks
  every constant against the typed spec; :func:`save_constants` renders the whole file from a
  :class:`LiveConstants` with a new provenance.
- :func:`load_feature_flags` checks ``feature_flags.json`` against
  ``gitops/schemas/feature_flags.schema.json``; :func:`save_feature_flags` writes a :class:`FeatureFlags`.
- :func:`check_state` and :func:`show_state` serve ``tradeloop state check`` and ``tradeloop state show``.
- :func:`edit_constants_text` changes single literals of ``config/constants.py`` in place;
  :func:`apply_proposal` applies a ``proposal.json`` to both files (only :data:`ALLOWED_PATHS`).
- :func:`render_pr_body`, :func:`commit_message`, :func:`branch_name` and :func:`risk_label` give the texts
  of a proposal's pull request; :func:`parse_pr_metadata` reads back its hidden metadata.
- :func:`check_pull_request` is ``tradeloop pr check``: the same readers' checks, the caps, the allowlist and
  the rules for ``feature_flags.json`` applied to a pull request before any of its code runs.
- :func:`read_memory` derives the guardrail memory (applied changes for cooldowns and change budgets,
  rolled-back and declined proposals) from the git history of the state files and the forge;
  :func:`record_memory` and :func:`record_proposal` mirror it into the warehouse.
"""

from __future__ import annotations

from gitops._apply import ALLOWED_PATHS, AppliedChange, apply_proposal, check_allowed_paths
from gitops._checks import (
    CANARY_STAGES,
    DEFAULT_TIMEFRAME_KEY,
    DEPLOY_STAGES,
    JUDGED_STAGES,
    SCHEMA_VERSION,
    NumberRange,
    stage_bars,
)
from gitops._constants import (
    CONSTANTS_FILE,
    LiveConstants,
    LiveParams,
    ParamValue,
    RegimeLoadouts,
    StrategyParams,
    inspect_constants,
    load_constants,
    parse_constants,
)
from gitops._constants_render import render_constants, save_constants
from gitops._constants_spec import CONSTANT_SPECS, SECTIONS, ConstantSpec, Section
from gitops._documents import (
    load_proposal,
    load_verdict,
    parse_proposal,
    parse_verdict,
    proposal_hash,
    proposal_problems,
    verdict_problems,
)
from gitops._edit import KeyPath, edit_constants_text
from gitops._ensemble_checks import (
    ENSEMBLE_METHODS,
    ensemble_symbols,
    equal_weights,
    live_strategies,
    turnover,
    weights_in_force,
)
from gitops._feature_flags import (
    CHECK_OUTCOMES,
    DECISIONS,
    FEATURE_FLAGS_FILE,
    FEATURE_FLAGS_SCHEMA_VERSION,
    PHASES,
    CanaryCheck,
    CanaryStatus,
    FeatureFlags,
    PredictionEngine,
    Rollout,
    Stage,
    feature_flags_problems,
    inspect_feature_flags,
    load_feature_flags,
    parse_feature_flags,
    render_feature_flags,
    save_feature_flags,
    upgraded_document,
)
from gitops._forge import Forge, ForgeKind, MergeMethod, PullRequest, StatusState
from gitops._forge_github import GitHubForge, github_token
from gitops._forge_local import LocalForge
from gitops._git import BotIdentity, ChangedFile, build_commit
from gitops._history import StateVersion, state_versions
from gitops._inverse import InverseChange, PairRollback, inverse_change, rollback_branch, rollback_pair
from gitops._manners import AUTO_LABELS, DO_NOT_MERGE, PublishOutcome, publish_proposal
from gitops._memory import (
    AUTOCLOSED_SUFFIX,
    GuardrailMemory,
    Rejection,
    StateChange,
    declined_proposals,
    pair_identity,
    read_memory,
)
from gitops._names import rollout_key
from gitops._pr_body import (
    KPI_COLUMNS,
    MAX_BODY_CHARS,
    METADATA_MARKER,
    parse_pr_metadata,
    render_pr_body,
    validation_metadata,
)
from gitops._pr_check import MANUAL_LABEL, ParamMove, PrCheck, PrSnapshot, check_pr_change, check_pull_request
from gitops._pr_proposal import (
    PrConstants,
    RebuiltProposal,
    changed_live_pair,
    guardrails_from,
    pr_constants,
    proposal_from_pr,
    restore_search_record,
)
from gitops._pr_report import VALIDATION_MARKER, ReportOutcome, report_verdict, verdict_comment
from gitops._pr_text import (
    BRANCH_PREFIX,
    RiskChange,
    RiskLabel,
    branch_name,
    commit_message,
    risk_change,
    risk_label,
)
from gitops._records import record_memory, record_proposal
from gitops._rollback import (
    RollbackOutcome,
    check_base_clean,
    merge_commit_of,
    record_rollback,
    rollback_commit,
    rollback_pull_request,
)
from gitops._schema import feature_flags_schema
from gitops._state import (
    StateReport,
    check_state,
    constants_path,
    cross_file_problems,
    feature_flags_path,
    load_state,
    show_state,
)
from gitops._withhold import withhold_proposal

__all__ = [
    "ALLOWED_PATHS",
    "AUTOCLOSED_SUFFIX",
    "AUTO_LABELS",
    "BRANCH_PREFIX",
    "CANARY_STAGES",
    "CHECK_OUTCOMES",
    "CONSTANTS_FILE",
    "CONSTANT_SPECS",
    "DECISIONS",
    "DEFAULT_TIMEFRAME_KEY",
    "DEPLOY_STAGES",
    "DO_NOT_MERGE",
    "ENSEMBLE_METHODS",
    "FEATURE_FLAGS_FILE",
    "FEATURE_FLAGS_SCHEMA_VERSION",
    "JUDGED_STAGES",
    "KPI_COLUMNS",
    "MANUAL_LABEL",
    "MAX_BODY_CHARS",
    "METADATA_MARKER",
    "PHASES",
    "SCHEMA_VERSION",
    "SECTIONS",
    "VALIDATION_MARKER",
    "AppliedChange",
    "BotIdentity",
    "CanaryCheck",
    "CanaryStatus",
    "ChangedFile",
    "ConstantSpec",
    "FeatureFlags",
    "Forge",
    "ForgeKind",
    "GitHubForge",
    "GuardrailMemory",
    "InverseChange",
    "KeyPath",
    "LiveConstants",
    "LiveParams",
    "LocalForge",
    "MergeMethod",
    "NumberRange",
    "PairRollback",
    "ParamMove",
    "ParamValue",
    "PrCheck",
    "PrConstants",
    "PrSnapshot",
    "PredictionEngine",
    "PublishOutcome",
    "PullRequest",
    "RebuiltProposal",
    "RegimeLoadouts",
    "Rejection",
    "ReportOutcome",
    "RiskChange",
    "RiskLabel",
    "RollbackOutcome",
    "Rollout",
    "Section",
    "Stage",
    "StateChange",
    "StateReport",
    "StateVersion",
    "StatusState",
    "StrategyParams",
    "apply_proposal",
    "branch_name",
    "build_commit",
    "changed_live_pair",
    "check_allowed_paths",
    "check_base_clean",
    "check_pr_change",
    "check_pull_request",
    "check_state",
    "commit_message",
    "constants_path",
    "cross_file_problems",
    "declined_proposals",
    "edit_constants_text",
    "ensemble_symbols",
    "equal_weights",
    "feature_flags_path",
    "feature_flags_problems",
    "feature_flags_schema",
    "github_token",
    "guardrails_from",
    "inspect_constants",
    "inspect_feature_flags",
    "inverse_change",
    "live_strategies",
    "load_constants",
    "load_feature_flags",
    "load_proposal",
    "load_state",
    "load_verdict",
    "merge_commit_of",
    "pair_identity",
    "parse_constants",
    "parse_feature_flags",
    "parse_pr_metadata",
    "parse_proposal",
    "parse_verdict",
    "pr_constants",
    "proposal_from_pr",
    "proposal_hash",
    "proposal_problems",
    "publish_proposal",
    "read_memory",
    "record_memory",
    "record_proposal",
    "record_rollback",
    "render_constants",
    "render_feature_flags",
    "render_pr_body",
    "report_verdict",
    "restore_search_record",
    "risk_change",
    "risk_label",
    "rollback_branch",
    "rollback_commit",
    "rollback_pair",
    "rollback_pull_request",
    "rollout_key",
    "save_constants",
    "save_feature_flags",
    "show_state",
    "stage_bars",
    "state_versions",
    "turnover",
    "upgraded_document",
    "validation_metadata",
    "verdict_comment",
    "verdict_problems",
    "weights_in_force",
    "withhold_proposal",
]
