"""Parameter checks against the strategies: the ones every reader of ``config/constants.py`` runs.

``LIVE_PARAMS`` and ``REGIME_LOADOUTS`` name strategies and parameters that exist in
``backtest_matrix.strategies``; each value has its parameter's type (an ``int`` parameter holds an integer
literal) and stays within its hard bounds, and the effective parameter set of each entry (strategy defaults,
then the live entry, then a regime loadout) satisfies the strategy's constraints (``ema_fast < ema_slow``).

The same functions serve ``tradeloop state check``, every ``load_constants`` (``matrix plan``, ``propose``,
``cycle``, ...) and ``tradeloop pr check``, so a file one of them accepts is accepted by all. Messages start
with the key path and show the value and the fix; the caller adds the file name and the line.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from gitops._checks import KeyProblem, is_number, mapping_depth_items
from gitops._problems import did_you_mean
from tradeloop.errors import StrategyError

if TYPE_CHECKING:
    from backtest_matrix.strategies import Param

__all__ = [
    "effective_params",
    "frozen_integer_notes",
    "parameter_space",
    "strategy_entry_problems",
    "strategy_names",
    "value_problems",
]


def parameter_space(strategy: str) -> dict[str, Param] | None:
    """Parameter name → :class:`backtest_matrix.strategies.Param` of ``strategy``, or ``None`` if unknown."""
    from backtest_matrix.strategies import get_strategy

    try:
        return {param.name: param for param in get_strategy(strategy).space()}
    except StrategyError:
        return None


def strategy_names() -> list[str]:
    from backtest_matrix.strategies import strategy_names as names

    return names()


def effective_params(strategy: str, entry: Mapping[str, Any]) -> dict[str, float]:
    """Every parameter of ``strategy``: its default, overlaid with ``entry`` (``timeframe`` left out).

    Raises
    ------
    tradeloop.errors.StrategyError
        An unknown strategy or parameter, or a value of the wrong type or out of bounds.
    """
    from backtest_matrix.strategies import get_strategy

    return get_strategy(strategy).resolve({k: v for k, v in entry.items() if k != "timeframe"})


def strategy_entry_problems(live: Mapping[str, Any], loadouts: Mapping[str, Any]) -> list[KeyProblem]:
    """Every strategy-level problem of ``LIVE_PARAMS`` and ``REGIME_LOADOUTS`` (already shape-checked)."""
    problems: list[KeyProblem] = []
    known = strategy_names()
    for table, mapping in (("LIVE_PARAMS", live), ("REGIME_LOADOUTS", loadouts)):
        for strategy in mapping:
            if parameter_space(strategy) is None:
                problems.append(
                    (
                        f"{table}.{strategy}",
                        f"{table}.{strategy} names the strategy {strategy!r}, which does not exist."
                        f"{did_you_mean(strategy, known)} Known strategies: {', '.join(known)}; fix the name "
                        "or remove the entry",
                    )
                )
    for (strategy, symbol), entry in mapping_depth_items(live, 2):
        space = parameter_space(strategy)
        if space is not None:
            problems.extend(_entry_problems(strategy, space, f"LIVE_PARAMS.{strategy}.{symbol}", entry, {}))
    for (strategy, symbol, regime), override in mapping_depth_items(loadouts, 3):
        space = parameter_space(strategy)
        base = live.get(strategy, {}).get(symbol)
        if space is not None and base is not None:
            path = f"REGIME_LOADOUTS.{strategy}.{symbol}.{regime}"
            problems.extend(_entry_problems(strategy, space, path, override, base))
    return problems


def _entry_problems(
    strategy: str, space: Mapping[str, Param], path: str, entry: Mapping[str, Any], base: Mapping[str, Any]
) -> list[KeyProblem]:
    problems: list[KeyProblem] = []
    for name, value in entry.items():
        if name == "timeframe":
            continue
        param = space.get(name)
        if param is None:
            problems.append((f"{path}.{name}", _unknown_parameter(strategy, space, f"{path}.{name}", name)))
        else:
            problems.extend(value_problems(strategy, param, f"{path}.{name}", value))
    if not problems:
        problems.extend(_constraint_problems(strategy, path, {**base, **entry}))
    return problems


def _unknown_parameter(strategy: str, space: Mapping[str, Param], path: str, name: str) -> str:
    return (
        f"{path} is not a parameter of {strategy}.{did_you_mean(name, space)} Its parameters are "
        f"{', '.join(sorted(space))}; fix the name or remove it"
    )


def value_problems(strategy: str, param: Param, path: str, value: Any) -> list[KeyProblem]:
    """The type and bound problems of one parameter value (empty when it is fine)."""
    kind = {"int": "an integer", "float": "a number", "choice": f"one of {list(param.choices)}"}[param.kind]
    where = f"{strategy}'s {param.name} is {kind} in [{param.low:g}, {param.high:g}]"
    if not is_number(value) or not math.isfinite(value):
        return [(path, f"{path} must be a number, got {value!r} ({where}); write a number in that range")]
    if param.kind == "int" and not isinstance(value, int):
        whole = math.floor(value), math.ceil(value)
        fix = f"write {whole[0]}" if whole[0] == whole[1] else f"write {whole[0]} or {whole[1]}"
        return [(path, f"{path} must be an integer, got {value!r} ({where}); {fix}")]
    if param.kind == "choice" and float(value) not in param.choices:
        return [(path, f"{path} must be {kind}, got {value!r}; pick one of them")]
    if not param.low <= value <= param.high:
        return [
            (
                path,
                f"{path} must be within its hard bounds [{param.low:g}, {param.high:g}], got {value!r} "
                f"({strategy}'s {param.name}); set it inside the bounds",
            )
        ]
    return []


def _constraint_problems(strategy: str, path: str, entry: Mapping[str, Any]) -> list[KeyProblem]:
    from backtest_matrix.strategies import get_strategy

    cls = get_strategy(strategy)
    values = cls.defaults() | {k: float(v) for k, v in entry.items() if k != "timeframe"}
    problems: list[KeyProblem] = []
    for relation in cls.constraints:
        if not relation.holds(values[relation.lower], values[relation.upper]):
            where = f"{path}.{relation.lower}" if relation.lower in entry else path
            problems.append(
                (
                    where,
                    f"{path}: {relation.message(values)} (a constraint of {strategy}); "
                    f"lower {relation.lower} or raise {relation.upper}",
                )
            )
    return problems


def frozen_integer_notes(live: Mapping[str, Any], max_delta: float) -> list[str]:
    """Integer parameters too small for their per-cycle cap to move them by one (the optimizer never can)."""
    from optimizer import step_cap

    notes = []
    for (strategy, symbol), entry in mapping_depth_items(live, 2):
        space = parameter_space(strategy) or {}
        for name, param in space.items():
            if param.kind != "int":
                continue
            current = float(entry.get(name, param.default))
            fraction = min(max_delta, param.max_step_pct / 100.0)
            cap = step_cap(current, param.low, param.high, fraction)
            if cap < 1:
                notes.append(
                    f"LIVE_PARAMS.{strategy}.{symbol}.{name} = {current:g}: a {fraction * 100:g}% per-cycle "
                    f"cap (±{cap:g}) cannot move this integer at all, so the optimizer leaves it as it is; a "
                    "person changes it through a pull request labelled tradeloop:manual"
                )
    return notes
