"""``config/constants.py``: the live parameters and guardrails, read by parsing, never by importing."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from gitops._checks import SCHEMA_VERSION
from gitops._constants_spec import (
    CONSTANT_SPECS,
    DEFAULT_DEADLINE_BARS,
    DEFAULT_DWELL_BARS,
    ConstantSpec,
    cross_check,
)
from gitops._literal import Assignment, read_assignments
from gitops._literal_format import format_assignment
from gitops._problems import did_you_mean, display_name, raise_problems, read_state_text
from tradeloop import Provenance, config_hash

__all__ = [
    "CONSTANTS_FILE",
    "EnsembleWeights",
    "LiveConstants",
    "LiveParams",
    "ParamValue",
    "RegimeLoadouts",
    "StrategyParams",
    "inspect_constants",
    "load_constants",
    "parse_constants",
]

CONSTANTS_FILE = Path("config") / "constants.py"
ParamValue = int | float | bool | str
StrategyParams = Mapping[str, ParamValue]
LiveParams = Mapping[str, Mapping[str, StrategyParams]]
RegimeLoadouts = Mapping[str, Mapping[str, Mapping[str, StrategyParams]]]
EnsembleWeights = Mapping[str, Mapping[str, float]]
_FILE_FORMAT = ("SCHEMA_VERSION", "PROVENANCE")
_PARAMETERS = ("LIVE_PARAMS", "REGIME_LOADOUTS", "ENSEMBLE_WEIGHTS")


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return MappingProxyType({key: _freeze(item) for key, item in value.items()})
    return value


def _canonical(value: Any, depth: int) -> Any:
    """Names sorted down to ``depth`` levels, then the parameters sorted with ``timeframe`` first."""
    if not isinstance(value, Mapping):
        return value
    if depth == 0:
        return {key: value[key] for key in sorted(value, key=lambda key: (key != "timeframe", str(key)))}
    return {key: _canonical(value[key], depth - 1) for key in sorted(value, key=str)}


def _thaw(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _thaw(item) for key, item in value.items()}
    return value


@dataclass(frozen=True)
class LiveConstants:
    """The validated content of ``config/constants.py``.

    Each guardrail is an attribute named after its constant in lower case (``OPTIMIZER_MAX_DELTA`` is
    ``optimizer_max_delta``). Strategies, symbols, regimes and parameters are kept sorted by name
    (``timeframe`` first), so that a rewrite gives a stable file whatever order the dicts were built in.
    Nested mappings are read-only; use :func:`dataclasses.replace` to derive a changed copy, and
    :func:`gitops.save_constants` to write it (which validates it first).

    Attributes
    ----------
    live_params
        strategy → symbol → parameters traded now, each with its bar ``timeframe``.
    regime_loadouts
        strategy → symbol → regime → parameters that override ``live_params`` in that regime.
    ensemble_weights
        symbol → strategy → share of the symbol's capital (symbols with several live strategies).
    provenance
        The run, git sha and time of the write.
    schema_version
        The layout version of the file.
    """

    optimizer_max_delta: float
    optimizer_cooldown_hours: int
    optimizer_max_knobs: int
    optimizer_change_budget: int
    optimizer_budget_window_hours: int
    min_trades: int
    confidence_level: float
    bootstrap_block_length: int
    bootstrap_replications: int
    min_sharpe_improvement: float
    min_deflated_sharpe: float
    max_fold_sharpe_cv: float
    max_pbo: float
    max_drawdown_pct: float
    min_win_rate_pct: float
    max_daily_loss_usd: float
    trading_capital_usd: float
    fee_bps: float
    slippage_bps: float
    canary_fractions: Mapping[str, float]
    canary_interval_minutes: int
    canary_failure_threshold: int
    live_params: LiveParams
    provenance: Provenance
    regime_loadouts: RegimeLoadouts = field(default_factory=lambda: MappingProxyType({}))
    schema_version: int = SCHEMA_VERSION
    validation_holdout_fraction: float = 0.25
    deploy_cold_min_sharpe: float = 0.5
    deploy_cold_min_win_rate_pct: float = 40.0
    deploy_warm_min_trades: int = 10
    deploy_warm_min_sharpe_gain_pct: float = 10.0
    deploy_warm_min_win_rate_gain_pts: float = 2.0
    deploy_warm_max_drawdown_pct: float = 8.0
    deploy_limited_min_sharpe_gain_pct: float = 15.0
    deploy_limited_min_winning_trades: int = 10
    deploy_limited_max_loss_usd: float = 5.0
    deploy_sharpe_gain_floor: float = 0.5
    deploy_harm_margin: float = 0.2
    deploy_sequential_alpha: float = 0.05
    deploy_dwell_bars: Mapping[str, Mapping[str, int]] = field(
        default_factory=lambda: _freeze(DEFAULT_DWELL_BARS)
    )
    deploy_deadline_bars: Mapping[str, Mapping[str, int]] = field(
        default_factory=lambda: _freeze(DEFAULT_DEADLINE_BARS)
    )
    deploy_auto_merge: bool = False
    ensemble_method: str = "max_sharpe"
    ensemble_min_weight: float = 0.05
    ensemble_max_weight: float = 0.40
    ensemble_max_turnover: float = 0.20
    regime_switch_min_confidence: float = 0.5
    regime_switch_min_dwell_bars: int = 3
    ensemble_weights: EnsembleWeights = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        object.__setattr__(self, "canary_fractions", _freeze(self.canary_fractions))
        object.__setattr__(self, "deploy_dwell_bars", _freeze(self.deploy_dwell_bars))
        object.__setattr__(self, "deploy_deadline_bars", _freeze(self.deploy_deadline_bars))
        object.__setattr__(self, "live_params", _freeze(_canonical(self.live_params, depth=2)))
        object.__setattr__(self, "regime_loadouts", _freeze(_canonical(self.regime_loadouts, depth=3)))
        object.__setattr__(self, "ensemble_weights", _freeze(_canonical(self.ensemble_weights, depth=2)))

    def constants(self, *, include_provenance: bool = True) -> dict[str, Any]:
        """Constant name → plain (JSON-able) value, in file order."""
        values = {spec.name: _thaw(getattr(self, spec.attribute)) for spec in CONSTANT_SPECS.values()}
        if include_provenance:
            values["PROVENANCE"] = self.provenance.as_dict()
        else:
            del values["PROVENANCE"]
        return values

    @property
    def guardrails(self) -> dict[str, Any]:
        """The guardrails (every constant but the file format and the parameters), by constant name."""
        return {
            name: value
            for name, value in self.constants().items()
            if name not in _FILE_FORMAT and name not in _PARAMETERS
        }

    @property
    def config_hash(self) -> str:
        """``tradeloop.config_hash`` of every constant except ``PROVENANCE``: a rewrite keeps it.

        A constant tradeloop added later (:attr:`ConstantSpec.added_later`) counts only once it leaves its
        default, so a file written before the constant existed keeps its hash.
        """
        values = self.constants(include_provenance=False)
        for spec in CONSTANT_SPECS.values():
            if spec.added_later and values.get(spec.name) == spec.default:
                del values[spec.name]
        return config_hash(values)

    def with_provenance(self, provenance: Provenance) -> LiveConstants:
        return dataclasses.replace(self, provenance=provenance)


def load_constants(path: Path) -> LiveConstants:
    """Read and validate ``config/constants.py`` without importing it.

    Raises
    ------
    tradeloop.errors.StateFileError
        The file is missing, is not valid Python, holds anything but literal assignments, or a constant
        is unknown, missing, of the wrong type or out of range. The message names the file, the constant
        or key path, the value, the line and the fix.
    """
    return parse_constants(read_state_text(path), display_name(path))


def parse_constants(text: str, file_name: str = CONSTANTS_FILE.as_posix()) -> LiveConstants:
    """Validate the source text of a constants file; see :func:`load_constants`."""
    constants, problems = inspect_constants(text, file_name)
    raise_problems(problems)
    assert constants is not None  # no problems means a complete object
    return constants


def inspect_constants(
    text: str, file_name: str = CONSTANTS_FILE.as_posix()
) -> tuple[LiveConstants | None, list[str]]:
    """Every problem in a constants file (full messages), and the constants when there is none."""
    assignments, problems = read_assignments(text, file_name)
    if not assignments and problems:
        return None, problems
    by_name = {assignment.name: assignment for assignment in reversed(assignments)}
    version = by_name.get("SCHEMA_VERSION")
    version_spec = CONSTANT_SPECS["SCHEMA_VERSION"]
    version_problems = (
        [_missing(version_spec)] if version is None else _check_assignment(version, version_spec, {})
    )
    if version is None or not version.readable or version_problems:
        # Under another (or an unknown) layout every other finding would be noise.
        return None, problems + [f"{file_name}: {message}" for message in version_problems]
    values: dict[str, Any] = {}
    messages: list[str] = []
    for assignment in assignments:
        spec = CONSTANT_SPECS.get(assignment.name)
        if spec is None:
            messages.append(_unknown(assignment))
        elif not assignment.readable:
            continue
        else:
            messages.extend(_check_assignment(assignment, spec, values))
    for spec in CONSTANT_SPECS.values():
        if spec.name not in by_name:
            if spec.may_be_absent:
                values[spec.name] = spec.default
            else:
                messages.append(_missing(spec))
    messages.extend(_with_line(path, message, by_name) for path, message in cross_check(values))
    problems.extend(f"{file_name}: {message}" for message in messages)
    if problems:
        return None, problems
    return _from_values(values), []


def _check_assignment(assignment: Assignment | None, spec: ConstantSpec, values: dict[str, Any]) -> list[str]:
    if assignment is None or not assignment.readable:
        return []
    checked, problems = spec.check(assignment.value, spec.name)
    if not problems:
        values[spec.name] = checked
    return [
        f"{message} (line {assignment.key_lines.get(path, assignment.line)})" for path, message in problems
    ]


def _with_line(path: str, message: str, by_name: Mapping[str, Assignment]) -> str:
    assignment = by_name.get(path.split(".", 1)[0])
    if assignment is None:
        return message
    return f"{message} (line {assignment.key_lines.get(path, assignment.line)})"


def _unknown(assignment: Assignment) -> str:
    hint = did_you_mean(assignment.name, CONSTANT_SPECS)
    fix = hint or " Remove it, or add it to the constants spec in gitops/_constants_spec.py first."
    shown = f" = {assignment.value!r}" if assignment.readable else ""
    return f"unknown constant {assignment.name}{shown} (line {assignment.line}).{fix}"


def _missing(spec: ConstantSpec) -> str:
    if spec.default is None:
        return f"required constant {spec.name} is missing; add it — {spec.comment}"
    example = format_assignment(f"{spec.name}: {spec.annotation}", spec.default)
    return f"required constant {spec.name} is missing; add `{example}` — {spec.comment}"


def _from_values(values: Mapping[str, Any]) -> LiveConstants:
    return LiveConstants(**{CONSTANT_SPECS[name].attribute: value for name, value in values.items()})
