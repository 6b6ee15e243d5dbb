"""Both live state files at once: ``check_state`` and ``show_state`` behind ``tradeloop state``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from gitops._constants import CONSTANTS_FILE, LiveConstants, inspect_constants, load_constants
from gitops._feature_flags import FEATURE_FLAGS_FILE, FeatureFlags, inspect_feature_flags, load_feature_flags
from gitops._param_checks import frozen_integer_notes
from gitops._problems import display_name, raise_problems, read_state_text
from tradeloop.errors import StateFileError

__all__ = [
    "StateReport",
    "check_state",
    "constants_path",
    "cross_file_problems",
    "feature_flags_path",
    "load_state",
    "show_state",
]

T = TypeVar("T")


def constants_path(repo: Path) -> Path:
    """``<repo>/config/constants.py``."""
    return Path(repo) / CONSTANTS_FILE


def feature_flags_path(repo: Path) -> Path:
    """``<repo>/feature_flags.json``."""
    return Path(repo) / FEATURE_FLAGS_FILE


@dataclass(frozen=True)
class StateReport:
    """The outcome of checking both state files: every problem found, and what was read when valid."""

    repo: Path
    constants: LiveConstants | None
    feature_flags: FeatureFlags | None
    constants_errors: tuple[str, ...]
    feature_flags_errors: tuple[str, ...]
    notes: tuple[str, ...] = ()

    @property
    def errors(self) -> tuple[str, ...]:
        return self.constants_errors + self.feature_flags_errors

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        if self.ok and self.constants is not None and self.feature_flags is not None:
            return (
                f"{CONSTANTS_FILE.as_posix()} (schema {self.constants.schema_version}, config hash "
                f"{self.constants.config_hash}) and {FEATURE_FLAGS_FILE} (schema "
                f"{self.feature_flags.schema_version}, {len(self.feature_flags.rollouts)} rollouts) are valid"
            )
        counts = [
            f"{len(errors)} in {name}"
            for name, errors in (
                (CONSTANTS_FILE.as_posix(), self.constants_errors),
                (str(FEATURE_FLAGS_FILE), self.feature_flags_errors),
            )
            if errors
        ]
        noun = "problem" if len(self.errors) == 1 else "problems"
        return f"{len(self.errors)} {noun} in the live state: {', '.join(counts)}"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form for ``--json``."""
        return {
            "ok": self.ok,
            "repo": str(self.repo),
            "summary": self.summary(),
            "errors": list(self.errors),
            "notes": list(self.notes),
            "files": {
                CONSTANTS_FILE.as_posix(): {
                    "ok": not self.constants_errors,
                    "errors": list(self.constants_errors),
                    "config_hash": self.constants.config_hash if self.constants else None,
                },
                str(FEATURE_FLAGS_FILE): {
                    "ok": not self.feature_flags_errors,
                    "errors": list(self.feature_flags_errors),
                },
            },
        }


def check_state(repo: Path) -> StateReport:
    """Validate ``config/constants.py`` and ``feature_flags.json`` under ``repo``, collecting every problem.

    Nothing is raised for an invalid or missing file: the problems are in the report. Nothing is written.
    """
    repo = Path(repo)
    constants, constants_errors = _inspect(constants_path(repo), inspect_constants)
    flags, flags_errors = _inspect(feature_flags_path(repo), inspect_feature_flags)
    if constants is not None and flags is not None:
        flags_errors = cross_file_problems(constants, flags)
        if flags_errors:
            flags = None
    return StateReport(
        repo=repo,
        constants=constants,
        feature_flags=flags,
        constants_errors=tuple(constants_errors),
        feature_flags_errors=tuple(flags_errors),
        notes=tuple(
            f"{CONSTANTS_FILE.as_posix()}: {note}"
            for note in frozen_integer_notes(constants.live_params, constants.optimizer_max_delta)
        )
        if constants is not None
        else (),
    )


def cross_file_problems(constants: LiveConstants, flags: FeatureFlags) -> list[str]:
    """What ``feature_flags.json`` says that ``config/constants.py`` contradicts: rollouts of no live pair, a
    capital share above its stage's ``CANARY_FRACTIONS``, previous parameters on another timeframe."""
    problems = []
    for key, rollout in flags.rollouts.items():
        strategy, _, symbol = key.partition("/")
        entry = constants.live_params.get(strategy, {}).get(symbol)
        if entry is None:
            problems.append(
                f"{FEATURE_FLAGS_FILE}: rollouts.{key} is the rollout of {strategy}/{symbol}, which has no "
                f"LIVE_PARAMS.{strategy}.{symbol} entry in {CONSTANTS_FILE.as_posix()}; remove the rollout, "
                "or add the pair's live parameters through a pull request"
            )
            continue
        allowed = constants.canary_fractions[rollout.stage.value]
        if rollout.canary_fraction > allowed:
            problems.append(
                f"{FEATURE_FLAGS_FILE}: rollouts.{key}.canary_fraction is {rollout.canary_fraction!r}, above "
                f"CANARY_FRACTIONS[{rollout.stage.value!r}] = {allowed!r} in {CONSTANTS_FILE.as_posix()}; a "
                f"rollout never trades more than its stage's share: set it to {allowed!r}"
            )
        previous = rollout.previous_params
        if previous is not None and previous.get("timeframe") != entry["timeframe"]:
            problems.append(
                f"{FEATURE_FLAGS_FILE}: rollouts.{key}.previous_params.timeframe is "
                f"{previous.get('timeframe')!r} but LIVE_PARAMS.{strategy}.{symbol}.timeframe is "
                f"{entry['timeframe']!r}; previous parameters run on the pair's own bars: restore them from "
                "git history"
            )
    return problems


def load_state(repo: Path) -> tuple[LiveConstants, FeatureFlags]:
    """Both live state files, each validated, and checked against each other (:func:`check_state`'s checks).

    Raises
    ------
    tradeloop.errors.StateFileError
        Either file is missing or invalid, or they contradict each other.
    """
    repo = Path(repo)
    constants = load_constants(constants_path(repo))
    flags = load_feature_flags(feature_flags_path(repo))
    raise_problems(cross_file_problems(constants, flags))
    return constants, flags


def _inspect(
    path: Path, inspect: Callable[[str, str], tuple[T | None, list[str]]]
) -> tuple[T | None, list[str]]:
    try:
        text = read_state_text(path)
    except StateFileError as exc:
        return None, [str(exc)]
    return inspect(text, display_name(path))


def show_state(repo: Path) -> dict[str, Any]:
    """The live state as a JSON-able dict, after validating both files.

    Raises
    ------
    tradeloop.errors.StateFileError
        Either file is missing or invalid.
    """
    constants, flags = load_state(repo)
    return {
        "config_hash": constants.config_hash,
        "constants_schema_version": constants.schema_version,
        "feature_flags_schema_version": flags.schema_version,
        "constants_provenance": constants.provenance.as_dict(),
        "feature_flags_provenance": flags.provenance.as_dict(),
        "guardrails": constants.guardrails,
        "live_params": constants.constants()["LIVE_PARAMS"],
        "regime_loadouts": constants.constants()["REGIME_LOADOUTS"],
        "ensemble_weights": constants.constants()["ENSEMBLE_WEIGHTS"],
        "prediction_engine": flags.prediction_engine.to_document(),
        "rollouts": flags.to_document()["rollouts"],
    }
