"""``tradeloop pr check``: does a pull request change only what an auto-PR may change, within its bounds?

It runs before any of the pull request's code does, so it reads both versions of ``config/constants.py``
as text (parsed with ``ast``, never imported) and checks, against the base version:

- every changed file is on the allowlist (``config/constants.py``, ``feature_flags.json``);
- no guardrail constant changes (only ``LIVE_PARAMS``, ``REGIME_LOADOUTS`` and ``PROVENANCE`` may);
- no live entry appears, disappears or changes its timeframe;
- every live parameter stays in its strategy's hard bounds and moves at most its per-cycle cap, the
  smaller of ``OPTIMIZER_MAX_DELTA`` and the parameter's own ``max_step_pct``;
- at most ``OPTIMIZER_MAX_KNOBS`` parameters change per strategy/symbol;
- every regime loadout value stays in the hard bounds and within the cap of the live value it overrides.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from gitops._apply import ALLOWED_PATHS
from gitops._constants import CONSTANTS_FILE, LiveConstants, parse_constants
from gitops._forge import Forge
from gitops._git import ChangedFile, run_git
from tradeloop.errors import ForgeError, StateFileError, StrategyError

__all__ = ["ParamMove", "PrCheck", "check_pr_change", "check_pull_request"]

_TOLERANCE = 1e-9


@dataclass(frozen=True)
class ParamMove:
    """One parameter that differs between base and head."""

    where: str
    current: Any
    proposed: Any
    delta_pct: float | None
    cap_pct: float
    bounds: tuple[float, float] | None


@dataclass
class PrCheck:
    """The outcome: ``violations`` is empty when the pull request may go on."""

    files: list[ChangedFile]
    moves: list[ParamMove] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.violations


def check_pull_request(forge: Forge, number: int, *, base: str | None = None) -> PrCheck:
    """Check pull request ``number``: its files on the forge, its head's constants against the merge base.

    ``base`` overrides the pull request's own base branch for the constants comparison.
    """
    pr = forge.get_pr(number)
    base_sha = forge.resolve(base or pr.base)
    head_sha = forge.resolve(pr.branch)
    merge_base = run_git(forge.repo, "merge-base", base_sha, head_sha, what="git merge-base")
    base_text = forge.read_file(merge_base, CONSTANTS_FILE.as_posix())
    if base_text is None:
        raise ForgeError(
            f"pr check #{number}: the base {base or pr.base} has no {CONSTANTS_FILE}; check --base"
        )
    head_text = forge.read_file(head_sha, CONSTANTS_FILE.as_posix())
    return check_pr_change(forge.pr_files(pr), base_text, head_text)


def check_pr_change(
    files: Iterable[ChangedFile],
    base_constants: str,
    head_constants: str | None,
    *,
    allowlist: Iterable[str] = ALLOWED_PATHS,
) -> PrCheck:
    """Check a pull request's changed ``files`` and its head's constants text against the base's."""
    allowed = tuple(allowlist)
    result = PrCheck(files=list(files))
    for changed in result.files:
        if changed.path not in allowed:
            result.violations.append(
                f"{changed.path} ({changed.status}) is outside the allowlist {', '.join(allowed)}; "
                "an auto-PR may change only the live state files"
            )
    if head_constants is None:
        if any(f.path == CONSTANTS_FILE.as_posix() for f in result.files):
            result.violations.append(f"{CONSTANTS_FILE} is removed by the pull request; restore it")
        return result
    base = parse_constants(base_constants, f"base {CONSTANTS_FILE}")
    try:
        head = parse_constants(head_constants, f"head {CONSTANTS_FILE}")
    except StateFileError as exc:
        result.violations.append(f"the head's {CONSTANTS_FILE} is invalid: {exc}")
        return result
    result.violations += _guardrail_changes(base, head)
    _check_live(base, head, result)
    _check_loadouts(base, head, result)
    return result


def _guardrail_changes(base: LiveConstants, head: LiveConstants) -> list[str]:
    before, after = base.guardrails, head.guardrails
    return [
        f"{name} changes {before[name]!r} → {after[name]!r}; an auto-PR may change only LIVE_PARAMS and "
        "REGIME_LOADOUTS, guardrails change by hand"
        for name in before
        if before[name] != after.get(name)
    ]


def _space(strategy: str) -> dict[str, Any] | None:
    from backtest_matrix.strategies import get_strategy

    try:
        return {param.name: param for param in get_strategy(strategy).space()}
    except StrategyError:
        return None


def _cap_pct(base: LiveConstants, param: Any) -> float:
    return float(min(base.optimizer_max_delta * 100.0, param.max_step_pct))


def _delta_pct(current: float, proposed: float) -> float:
    if current == 0:
        return 0.0 if proposed == 0 else math.inf
    return abs(proposed - current) / abs(current) * 100.0


def _check_value(
    base: LiveConstants, where: str, name: str, current: Any, proposed: Any, space: Mapping[str, Any],
    result: PrCheck,
) -> None:  # fmt: skip
    param = space.get(name)
    if param is None:
        result.violations.append(f"{where}: {name} is not a parameter of the strategy; remove it")
        return
    cap = _cap_pct(base, param)
    delta = None if current is None else _delta_pct(float(current), float(proposed))
    result.moves.append(ParamMove(f"{where}.{name}", current, proposed, delta, cap, (param.low, param.high)))
    if not param.low <= float(proposed) <= param.high:
        result.violations.append(
            f"{where}.{name} = {proposed!r} leaves its hard bounds [{param.low:g}, {param.high:g}]"
        )
    if delta is not None and delta > cap + _TOLERANCE:
        result.violations.append(
            f"{where}.{name} moves {current!r} → {proposed!r} ({delta:.1f}%), past its per-cycle cap of "
            f"{cap:g}%; split the change over several cycles"
        )


def _check_live(base: LiveConstants, head: LiveConstants, result: PrCheck) -> None:
    entries = {(s, y) for s, bys in base.live_params.items() for y in bys}
    entries |= {(s, y) for s, bys in head.live_params.items() for y in bys}
    for strategy, symbol in sorted(entries):
        where = f"LIVE_PARAMS.{strategy}.{symbol}"
        before = base.live_params.get(strategy, {}).get(symbol)
        after = head.live_params.get(strategy, {}).get(symbol)
        if before is None or after is None:
            verb = "appears" if before is None else "disappears"
            result.violations.append(f"{where} {verb}; live entries are added and removed by hand")
            continue
        if before.get("timeframe") != after.get("timeframe"):
            result.violations.append(
                f"{where}.timeframe changes {before.get('timeframe')!r} → {after.get('timeframe')!r}; "
                "the timeframe changes by hand"
            )
        changed = sorted(
            n for n in set(before) | set(after) if n != "timeframe" and before.get(n) != after.get(n)
        )
        if len(changed) > base.optimizer_max_knobs:
            result.violations.append(
                f"{where}: {len(changed)} parameters change ({', '.join(changed)}), more than "
                f"OPTIMIZER_MAX_KNOBS = {base.optimizer_max_knobs}"
            )
        space = _space(strategy)
        if space is None:
            result.violations.append(f"{where}: unknown strategy {strategy!r}")
            continue
        for name in changed:
            if name not in after:
                result.violations.append(f"{where}.{name} is removed; parameters are removed by hand")
                continue
            _check_value(base, where, name, before.get(name), after[name], space, result)


def _check_loadouts(base: LiveConstants, head: LiveConstants, result: PrCheck) -> None:
    for strategy, by_symbol in head.regime_loadouts.items():
        space = _space(strategy)
        for symbol, by_regime in by_symbol.items():
            live = base.live_params.get(strategy, {}).get(symbol, {})
            old = base.regime_loadouts.get(strategy, {}).get(symbol, {})
            for regime, params in by_regime.items():
                where = f"REGIME_LOADOUTS.{strategy}.{symbol}.{regime}"
                if space is None:
                    result.violations.append(f"{where}: unknown strategy {strategy!r}")
                    continue
                for name, value in params.items():
                    if old.get(regime, {}).get(name) == value or name == "timeframe":
                        continue
                    _check_value(base, where, name, live.get(name), value, space, result)
