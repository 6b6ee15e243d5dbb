"""gitops: the live state files ``config/constants.py`` and ``feature_flags.json``.

Both are validated on every read and written only here, atomically, after validation:

- :func:`load_constants` parses ``config/constants.py`` with ``ast`` (it is never imported) and checks
  every constant against the typed spec; :func:`save_constants` renders the whole file from a
  :class:`LiveConstants` with a new provenance.
- :func:`load_feature_flags` checks ``feature_flags.json`` against
  ``gitops/schemas/feature_flags.schema.json``; :func:`save_feature_flags` writes a :class:`FeatureFlags`.
- :func:`check_state` and :func:`show_state` serve ``tradeloop state check`` and ``tradeloop state show``.
"""

from __future__ import annotations

from gitops._checks import CANARY_STAGES, SCHEMA_VERSION, NumberRange
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
from gitops._feature_flags import (
    FEATURE_FLAGS_FILE,
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
)
from gitops._names import rollout_key
from gitops._schema import feature_flags_schema
from gitops._state import StateReport, check_state, constants_path, feature_flags_path, show_state

__all__ = [
    "CANARY_STAGES",
    "CONSTANTS_FILE",
    "CONSTANT_SPECS",
    "FEATURE_FLAGS_FILE",
    "SCHEMA_VERSION",
    "SECTIONS",
    "ConstantSpec",
    "FeatureFlags",
    "LiveConstants",
    "LiveParams",
    "NumberRange",
    "ParamValue",
    "PredictionEngine",
    "RegimeLoadouts",
    "Rollout",
    "Section",
    "Stage",
    "StateReport",
    "StrategyParams",
    "check_state",
    "constants_path",
    "feature_flags_path",
    "feature_flags_problems",
    "feature_flags_schema",
    "inspect_constants",
    "inspect_feature_flags",
    "load_constants",
    "load_feature_flags",
    "parse_constants",
    "parse_feature_flags",
    "render_constants",
    "render_feature_flags",
    "rollout_key",
    "save_constants",
    "save_feature_flags",
    "show_state",
]
