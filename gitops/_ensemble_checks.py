"""Checks of the ensemble and regime constants: ``ENSEMBLE_METHOD``, ``ENSEMBLE_WEIGHTS`` and the regimes
``REGIME_LOADOUTS`` may name.

``ENSEMBLE_WEIGHTS`` is symbol → strategy → share of the symbol's capital. A symbol listed there trades
several live strategies; its weights name every one of them, each within ``[ENSEMBLE_MIN_WEIGHT,
ENSEMBLE_MAX_WEIGHT]``, and sum to 1. A symbol left out trades its live strategies at equal weight.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from gitops import _names
from gitops._checks import KeyProblem, is_number

if TYPE_CHECKING:
    from gitops._constants import LiveConstants

__all__ = [
    "ENSEMBLE_METHODS",
    "WEIGHT_TOLERANCE",
    "check_ensemble_method",
    "check_ensemble_weights",
    "ensemble_problems",
    "ensemble_symbols",
    "ensemble_violations",
    "equal_weights",
    "live_strategies",
    "regime_problems",
    "turnover",
    "weights_in_force",
]

WEIGHT_TOLERANCE = 1e-6


#: The methods of ``optimizer.EnsembleMethod`` (kept in step by a test; gitops reads them without scipy).
ENSEMBLE_METHODS: tuple[str, ...] = ("max_sharpe", "risk_parity", "equal")


def check_ensemble_method(value: Any, path: str) -> tuple[Any, list[KeyProblem]]:
    """One of :data:`ENSEMBLE_METHODS`."""
    if isinstance(value, str) and value in ENSEMBLE_METHODS:
        return value, []
    known = ", ".join(repr(method) for method in ENSEMBLE_METHODS)
    return None, [(path, f"{path} is {value!r}, a method tradeloop does not know; use one of {known}")]


def check_ensemble_weights(value: Any, path: str) -> tuple[Any, list[KeyProblem]]:
    """``{symbol: {strategy: weight}}`` with every weight a number in [0, 1]."""
    shape = '{symbol: {strategy: weight}}, e.g. {"SP500": {"ema_cross": 0.6, "rsi_reversion": 0.4}}'
    if not isinstance(value, dict):
        return None, [(path, f"{path} must be a dict {shape}, got {value!r}")]
    problems: list[KeyProblem] = []
    for symbol, weights in value.items():
        where = f"{path}.{symbol}"
        if not _names.matches(_names.SYMBOL, symbol):
            problems.append((path, f"{path} has the symbol name {symbol!r}; symbol names look like 'SP500'"))
        elif not isinstance(weights, dict):
            problems.append((where, f"{where} must be a dict {{strategy: weight}}, got {weights!r}"))
        else:
            problems += _weight_problems(weights, where)
    return (None if problems else {k: dict(v) for k, v in value.items()}), problems


def _weight_problems(weights: Mapping[Any, Any], where: str) -> list[KeyProblem]:
    problems: list[KeyProblem] = []
    for strategy, weight in weights.items():
        if not _names.matches(_names.STRATEGY, strategy):
            problems.append(
                (where, f"{where} has the strategy name {strategy!r}; strategy names look like 'ema_cross'")
            )
        elif not is_number(weight) or not 0.0 <= weight <= 1.0:
            problems.append(
                (f"{where}.{strategy}", f"{where}.{strategy} must be a share in [0, 1], got {weight!r}")
            )
    return problems


def equal_weights(strategies: list[str]) -> dict[str, float]:
    """Every strategy at ``1 / n``: the weights of a symbol that ``ENSEMBLE_WEIGHTS`` leaves out."""
    return {strategy: 1.0 / len(strategies) for strategy in strategies}


def turnover(before: Mapping[str, float], after: Mapping[str, float]) -> float:
    """``½ Σ |after - before|``: the share of the symbol's capital that moves between strategies."""
    names = set(before) | set(after)
    return 0.5 * sum(abs(after.get(name, 0.0) - before.get(name, 0.0)) for name in names)


def live_strategies(live: Mapping[str, Mapping[str, Any]], symbol: str) -> list[str]:
    """The strategies that trade ``symbol`` live, sorted."""
    return sorted(strategy for strategy, symbols in live.items() if symbol in symbols)


def ensemble_problems(values: Mapping[str, Any]) -> list[KeyProblem]:
    """``ENSEMBLE_WEIGHTS`` against ``LIVE_PARAMS`` and the weight bounds."""
    weights = values.get("ENSEMBLE_WEIGHTS") or {}
    live = values.get("LIVE_PARAMS") or {}
    low, high = values.get("ENSEMBLE_MIN_WEIGHT"), values.get("ENSEMBLE_MAX_WEIGHT")
    if not (is_number(low) and is_number(high)):
        return []  # their own checks report them
    assert isinstance(low, int | float) and isinstance(high, int | float)
    problems: list[KeyProblem] = []
    if low > high:
        problems.append(
            (
                "ENSEMBLE_MIN_WEIGHT",
                f"ENSEMBLE_MIN_WEIGHT = {low!r} is above ENSEMBLE_MAX_WEIGHT = {high!r}; lower the minimum "
                "or raise the maximum",
            )
        )
        return problems
    for symbol, shares in weights.items():
        problems += _symbol_problems(symbol, shares, live_strategies(live, symbol), low, high)
    return problems


def _symbol_problems(
    symbol: str, shares: Mapping[str, float], strategies: list[str], low: float, high: float
) -> list[KeyProblem]:
    where = f"ENSEMBLE_WEIGHTS.{symbol}"
    if len(strategies) < 2:
        return [
            (
                where,
                f"{where} = {dict(shares)!r}, but {symbol} has {len(strategies)} live strateg"
                f"{'y' if len(strategies) == 1 else 'ies'} in LIVE_PARAMS; weights are for a symbol with "
                "several live strategies: remove the entry",
            )
        ]
    unknown = sorted(set(shares) - set(strategies))
    missing = sorted(set(strategies) - set(shares))
    if unknown or missing:
        return [
            (
                where,
                f"{where} = {dict(shares)!r} must name exactly the live strategies of {symbol} "
                f"({', '.join(strategies)}): "
                + "; ".join(
                    part
                    for part in (
                        f"{', '.join(unknown)} not live on {symbol}" if unknown else "",
                        f"{', '.join(missing)} missing" if missing else "",
                    )
                    if part
                )
                + "; add or remove weights to match LIVE_PARAMS",
            )
        ]
    problems = [
        (
            f"{where}.{strategy}",
            f"{where}.{strategy} = {share!r} is outside [ENSEMBLE_MIN_WEIGHT, ENSEMBLE_MAX_WEIGHT] = "
            f"[{low:g}, {high:g}]; move it inside the bounds (and keep the sum at 1)",
        )
        for strategy, share in sorted(shares.items())
        if share < low - WEIGHT_TOLERANCE or share > high + WEIGHT_TOLERANCE
    ]
    total = sum(shares.values())
    if abs(total - 1.0) > WEIGHT_TOLERANCE:
        problems.append(
            (
                where,
                f"{where} sums to {total:.6g}, not 1 (within {WEIGHT_TOLERANCE:g}); scale the weights "
                f"{dict(shares)!r} so that they sum to 1",
            )
        )
    return problems


def regime_problems(loadouts: Mapping[str, Any]) -> list[KeyProblem]:
    """Every regime ``REGIME_LOADOUTS`` names is one the detector gives."""
    known = ", ".join(repr(regime) for regime in _names.REGIMES)
    return [
        (
            f"REGIME_LOADOUTS.{strategy}.{symbol}.{regime}",
            f"REGIME_LOADOUTS.{strategy}.{symbol}.{regime}: {regime!r} is not a regime the detector gives; "
            f"use one of {known}, or remove the loadout",
        )
        for strategy, symbols in loadouts.items()
        if isinstance(symbols, Mapping)
        for symbol, regimes in symbols.items()
        if isinstance(regimes, Mapping)
        for regime in regimes
        if regime not in _names.REGIMES
    ]


def weights_in_force(constants: LiveConstants, symbol: str) -> dict[str, float]:
    """The weights ``symbol``'s live strategies trade at: ``ENSEMBLE_WEIGHTS``, else equal weights."""
    listed = constants.ensemble_weights.get(symbol)
    if listed is not None:
        return {strategy: float(weight) for strategy, weight in listed.items()}
    strategies = live_strategies(constants.live_params, symbol)
    return equal_weights(strategies) if strategies else {}


def ensemble_violations(base: LiveConstants, head: LiveConstants) -> list[str]:
    """What an auto-PR may not do to ``ENSEMBLE_WEIGHTS``: move more than one symbol, or more than
    ``ENSEMBLE_MAX_TURNOVER`` of a symbol's capital (measured from the base's weights in force)."""
    file = "config/constants.py"
    symbols = sorted(set(base.ensemble_weights) | set(head.ensemble_weights))
    moved = [s for s in symbols if base.ensemble_weights.get(s) != head.ensemble_weights.get(s)]
    problems = []
    if len(moved) > 1:
        problems.append(
            f"{file}: ENSEMBLE_WEIGHTS changes for {len(moved)} symbols ({', '.join(moved)}); an auto-PR "
            "changes one symbol's weights: split it into one pull request per symbol"
        )
    cap = base.ensemble_max_turnover
    for symbol in moved:
        before, after = weights_in_force(base, symbol), weights_in_force(head, symbol)
        moved_share = turnover(before, after)
        if moved_share > cap + WEIGHT_TOLERANCE:
            problems.append(
                f"{file}: ENSEMBLE_WEIGHTS.{symbol} moves {moved_share:.3g} of {symbol}'s capital "
                f"({_show(before)} → {_show(after)}), past ENSEMBLE_MAX_TURNOVER = {cap:g}; move at most "
                f"{cap:g} per cycle (a step along the way to the target)"
            )
    return problems


def _show(weights: Mapping[str, float]) -> str:
    return ", ".join(f"{strategy} {weight:.3g}" for strategy, weight in sorted(weights.items())) or "none"


def ensemble_symbols(constants: LiveConstants) -> list[str]:
    """The symbols with several live strategies whose number the weight bounds can hold (``n × min <= 1 <=
    n × max``): the ones the optimizer proposes ``ENSEMBLE_WEIGHTS`` for."""
    symbols = sorted({symbol for symbols in constants.live_params.values() for symbol in symbols})
    low, high = constants.ensemble_min_weight, constants.ensemble_max_weight
    found = []
    for symbol in symbols:
        n = len(live_strategies(constants.live_params, symbol))
        if n >= 2 and n * low <= 1 + WEIGHT_TOLERANCE and n * high >= 1 - WEIGHT_TOLERANCE:
            found.append(symbol)
    return found
