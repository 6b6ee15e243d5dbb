"""The consumer contract: what the trading bot runs, read from ``config/constants.py`` and
``feature_flags.json`` alone.

For every live strategy/symbol the plan lists the parameter sets to run, each with its mode (``live`` or
``paper``), its share of the pair's capital and the config hash to tag its trades and equity with (what
``tradeloop deploy ingest`` accepts):

=================  ==================================================================================
rollout            parameter sets
=================  ==================================================================================
none               ``LIVE_PARAMS`` live at 1.0
COLD               the previous parameters live at 1.0 (the new ones are only backtested)
WARM               the previous parameters live at 1.0, the new ones on paper (0.0)
LIMITED            the new ones live at ``canary_fraction``, the previous ones live at the rest
FULL (succeeded)   the new ones live at 1.0
failed             the previous parameters live at 1.0
=================  ==================================================================================

The new parameters are ``LIVE_PARAMS`` (the optimizer's pull request changed them); the previous ones are
the rollout's ``previous_params``, written by the same pull request. So reverting that pull request's merge
restores both files exactly, and the plan with them. A rollout without previous parameters (a first
rollout, or one read from a schema-1 file) has nothing to run beside the new parameters: the pair trades
only the new ones' share.

Each pair also carries its **ensemble weight** (``ENSEMBLE_WEIGHTS``: the pair's share of its symbol's
capital; equal weights for a symbol the constant leaves out; the sets' ``capital_fraction`` are shares of
this share), and, when the warehouse holds the detector's segments for the pair's symbol and timeframe,
its **regime**: the regime in force with its confidence, a pending switch (:mod:`deployment._regime`), and
the **loadout in force**, ``REGIME_LOADOUTS[strategy][symbol][regime]``, whose values override every
set's parameters while that regime is in force (none: the sets' parameters as they are).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

from deployment._regime import RegimeState, regime_state
from gitops import FeatureFlags, LiveConstants, Rollout, Stage, load_state, weights_in_force

if TYPE_CHECKING:
    from warehouse import Warehouse

__all__ = ["DeploymentPlan", "PairPlan", "ParameterSet", "deployment_plan", "read_plan", "stored_regimes"]

Mode = Literal["live", "paper"]
Role = Literal["live", "candidate", "previous"]


@dataclass(frozen=True)
class ParameterSet:
    """One parameter set the bot runs for a pair.

    Attributes
    ----------
    role
        ``live`` (no rollout), ``candidate`` (the new parameters of a rollout) or ``previous``.
    mode
        ``live`` (real orders) or ``paper`` (simulated beside the live ones, no capital).
    capital_fraction
        The share of the pair's capital this set trades (0.0 on paper).
    config_hash
        The tag for this set's trades and equity in ``tradeloop deploy ingest``.
    params
        The parameters, with ``timeframe``.
    """

    role: Role
    mode: Mode
    capital_fraction: float
    config_hash: str
    params: Mapping[str, Any]

    def __post_init__(self) -> None:
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))

    def to_dict(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "mode": self.mode,
            "capital_fraction": self.capital_fraction,
            "config_hash": self.config_hash,
            "params": dict(self.params),
        }


@dataclass(frozen=True)
class PairPlan:
    """What the bot runs for one strategy/symbol, and the rollout state behind it (``None``: no rollout)."""

    strategy: str
    symbol: str
    timeframe: str
    stage: str | None
    phase: str | None
    sets: tuple[ParameterSet, ...]
    note: str = ""
    ensemble_weight: float = 1.0
    regime: RegimeState | None = None
    loadout: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        object.__setattr__(self, "loadout", MappingProxyType(dict(self.loadout)))

    @property
    def loadout_regime(self) -> str | None:
        """The regime whose loadout is in force, or ``None`` (the sets' own parameters)."""
        return self.regime.regime if self.regime is not None and self.loadout else None

    @property
    def key(self) -> str:
        return f"{self.strategy}/{self.symbol}"

    def set(self, role: Role) -> ParameterSet | None:
        """The parameter set with ``role``, or ``None``."""
        return next((item for item in self.sets if item.role == role), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy,
            "symbol": self.symbol,
            "timeframe": self.timeframe,
            "stage": self.stage,
            "phase": self.phase,
            "sets": [item.to_dict() for item in self.sets],
            "note": self.note,
            "ensemble_weight": self.ensemble_weight,
            "regime": None if self.regime is None else self.regime.to_dict(),
            "loadout_regime": self.loadout_regime,
            "loadout": dict(self.loadout),
        }


@dataclass(frozen=True)
class DeploymentPlan:
    """The plan of every live pair, sorted by strategy and symbol, and the config hash it was read at."""

    config_hash: str
    pairs: tuple[PairPlan, ...] = field(default_factory=tuple)

    def pair(self, strategy: str, symbol: str) -> PairPlan | None:
        return next((p for p in self.pairs if (p.strategy, p.symbol) == (strategy, symbol)), None)

    def known_config_hashes(self) -> frozenset[str]:
        """Every config hash a parameter set of the plan is tagged with."""
        return frozenset(item.config_hash for pair in self.pairs for item in pair.sets)

    def to_dict(self) -> dict[str, Any]:
        return {"config_hash": self.config_hash, "pairs": [pair.to_dict() for pair in self.pairs]}


def read_plan(repo: Path, warehouse: Warehouse | None = None) -> DeploymentPlan:
    """The plan of the live state files under ``repo`` (both validated, and checked against each other),
    with each pair's regime from the detections stored in ``warehouse`` (none without one).

    Raises
    ------
    tradeloop.errors.StateFileError
        A state file is missing or invalid (the message names the file, the key and the fix).
    """
    constants, flags = load_state(repo)
    regimes = {} if warehouse is None else stored_regimes(constants, warehouse)
    return deployment_plan(constants, flags, regimes)


def stored_regimes(constants: LiveConstants, warehouse: Warehouse) -> dict[tuple[str, str], RegimeState]:
    """(symbol, timeframe) → the regime in force, for every live pair with stored detections."""
    found = {}
    for strategy in constants.live_params:
        for symbol, entry in constants.live_params[strategy].items():
            timeframe = str(entry["timeframe"])
            state = regime_state(
                warehouse.regime_history(symbol, timeframe), timeframe,
                min_confidence=constants.regime_switch_min_confidence,
                min_dwell_bars=constants.regime_switch_min_dwell_bars,
            )  # fmt: skip
            if state is not None:
                found[symbol, timeframe] = state
    return found


def deployment_plan(
    constants: LiveConstants,
    flags: FeatureFlags,
    regimes: Mapping[tuple[str, str], RegimeState] | None = None,
) -> DeploymentPlan:
    """The plan of ``constants`` and ``flags`` (module docstring), with the regimes in force by (symbol,
    timeframe)."""
    pairs = []
    for strategy in sorted(constants.live_params):
        for symbol in sorted(constants.live_params[strategy]):
            entry = constants.live_params[strategy][symbol]
            rollout = flags.rollout(strategy, symbol)
            plan = _pair_plan(constants, strategy, symbol, entry, rollout)
            regime = (regimes or {}).get((symbol, str(entry["timeframe"])))
            pairs.append(_with_regime(constants, plan, regime))
    return DeploymentPlan(constants.config_hash, tuple(pairs))


def _with_regime(constants: LiveConstants, plan: PairPlan, regime: RegimeState | None) -> PairPlan:
    weight = weights_in_force(constants, plan.symbol).get(plan.strategy, 1.0)
    loadouts = constants.regime_loadouts.get(plan.strategy, {}).get(plan.symbol, {})
    loadout = {} if regime is None else dict(loadouts.get(regime.regime, {}))
    loadout.pop("timeframe", None)
    return dataclasses.replace(plan, ensemble_weight=weight, regime=regime, loadout=loadout)


def _pair_plan(
    constants: LiveConstants, strategy: str, symbol: str, entry: Mapping[str, Any], rollout: Rollout | None
) -> PairPlan:
    timeframe = str(entry["timeframe"])
    if rollout is None:
        live = ParameterSet("live", "live", 1.0, constants.config_hash, entry)
        return PairPlan(strategy, symbol, timeframe, None, None, (live,))
    previous_params = rollout.previous_params
    previous_hash = rollout.previous_config_hash or rollout.config_hash
    note = "" if previous_params is not None else _no_previous(rollout)

    def candidate(mode: Mode, fraction: float) -> ParameterSet:
        return ParameterSet("candidate", mode, fraction, rollout.config_hash, entry)

    def previous(fraction: float) -> tuple[ParameterSet, ...]:
        if previous_params is None or fraction <= 0.0:
            return ()
        return (ParameterSet("previous", "live", fraction, previous_hash, previous_params),)

    sets: tuple[ParameterSet, ...]
    if rollout.phase == "failed" or rollout.stage == Stage.COLD:
        sets = previous(1.0)
    elif rollout.stage == Stage.WARM:
        sets = (*previous(1.0), candidate("paper", 0.0))
    elif rollout.stage == Stage.LIMITED:
        share = rollout.canary_fraction
        sets = (candidate("live", share), *previous(round(1.0 - share, 12)))
    else:
        sets = (candidate("live", 1.0),)
    return PairPlan(strategy, symbol, timeframe, rollout.stage.value, rollout.phase, sets, note)


def _no_previous(rollout: Rollout) -> str:
    if rollout.phase == "succeeded":
        return ""
    return (
        "no previous parameters are recorded (a first rollout, or a feature_flags.json of schema 1): the "
        "pair trades only the new parameters' share"
    )
