"""``pr check`` of ``feature_flags.json``: the changes an optimizer pull request may make, and no other.

An optimizer pull request tunes one strategy/symbol. In ``feature_flags.json`` it may only add, or reset,
the rollout of that pair at stage ``COLD`` (``gitops.apply_proposal`` writes exactly that):

- ``canary_fraction`` is ``CANARY_FRACTIONS["COLD"]`` (0: COLD trades no capital), phase ``progressing``,
  no ``status`` yet;
- ``config_hash`` is the config hash of the pull request's own ``config/constants.py``, and
  ``previous_config_hash`` that of the base, the configuration a rollback returns to;
- ``previous_params`` are the base's live parameters of the pair, or, while the base's rollout of the pair
  has not succeeded, that rollout's previous parameters (the last ones live in full);
- ``pr_number`` is the pull request's number, or null before it had one.

Every other rollout stays as it is. A pull request that changes no parameter may move one rollout: a
deployment pull request, held to the evidence it carries (:mod:`gitops._pr_check_deploy`); the optimizer
never claims a promotion. The prediction engine switch is a person's decision.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from gitops._constants import LiveConstants
from gitops._feature_flags import FEATURE_FLAGS_FILE, FeatureFlags, Rollout, Stage
from gitops._pr_check_deploy import stage_move_problems
from gitops._problems import show_json_value

__all__ = ["flag_violations"]

_FLAGS = FEATURE_FLAGS_FILE.as_posix()
_BY_HAND = "through a pull request labelled tradeloop:manual"


def flag_violations(
    base: LiveConstants,
    head: LiveConstants,
    base_flags: FeatureFlags,
    head_flags: FeatureFlags,
    changed_pairs: Collection[tuple[str, str]],
    number: int | None,
) -> list[str]:
    """What an optimizer pull request may not change in ``feature_flags.json`` (module docstring)."""
    problems = []
    if base_flags.prediction_engine != head_flags.prediction_engine:
        problems.append(
            f"{_FLAGS}: prediction_engine changes {base_flags.prediction_engine.to_document()} → "
            f"{head_flags.prediction_engine.to_document()}; the prediction engine switch is not the "
            f"optimizer's to change: a person turns it on or off {_BY_HAND}"
        )
    pairs = {_pair(key) for key in (*base_flags.rollouts, *head_flags.rollouts)} | set(changed_pairs)
    moves = [
        f"{s}/{y}"
        for s, y in sorted(pairs)
        if (s, y) not in changed_pairs
        and base_flags.rollouts.get(f"{s}/{y}") is not None
        and head_flags.rollouts.get(f"{s}/{y}") not in (None, base_flags.rollouts.get(f"{s}/{y}"))
    ]
    if len(moves) > 1:
        problems.append(
            f"{_FLAGS}: {len(moves)} rollouts change ({', '.join(moves)}); a deployment pull request "
            "moves one "
            "rollout: split it into one pull request per rollout"
        )
    for strategy, symbol in sorted(pairs):
        key = f"{strategy}/{symbol}"
        before, after = base_flags.rollouts.get(key), head_flags.rollouts.get(key)
        if (strategy, symbol) in changed_pairs:
            problems += _reset_problems(key, base, head, before, after, number)
        elif after is None and before is not None:
            problems.append(f"{_FLAGS}: rollouts.{key} is removed; rollouts are removed by hand ({_BY_HAND})")
        elif after != before and (changed_pairs or before is None or after is None):
            problems.append(
                f"{_FLAGS}: rollouts.{key} changes (stage {_stage(before)} → {_stage(after)}), but "
                f"LIVE_PARAMS.{strategy}.{symbol} does not; an optimizer pull request changes only the "
                "rollout of the pair it tunes (a stage move is a deployment pull request of its own): "
                "restore this rollout"
            )
        elif after != before and before is not None and after is not None:
            problems += stage_move_problems(key, base, before, after)
    return problems


def _pair(key: str) -> tuple[str, str]:
    strategy, _, symbol = key.partition("/")
    return strategy, symbol


def _stage(rollout: Rollout | None) -> str:
    return "none" if rollout is None else rollout.stage.value


def _reset_problems(
    key: str,
    base: LiveConstants,
    head: LiveConstants,
    before: Rollout | None,
    after: Rollout | None,
    number: int | None,
) -> list[str]:
    """How the rollout of the pair the pull request tunes differs from a COLD start of the head's config."""
    where = f"{_FLAGS}: rollouts.{key}"
    if after is None:
        return [
            f"{where} is missing, but the pull request changes the pair's parameters; its rollout starts at "
            f"COLD with the config hash {head.config_hash} (tradeloop pr open writes it)"
        ]
    if after == before:
        return [
            f"{where} is unchanged (config hash {after.config_hash}), but the pull request changes the "
            f"pair's parameters; reset it to COLD with the config hash {head.config_hash}"
        ]
    problems = _cold_start_problems(key, base, before, after)
    if after.stage != Stage.COLD:
        problems.append(
            f"{where}.stage is {after.stage.value!r}; an optimizer pull request may only add or reset the "
            "COLD rollout of its own pair: a promotion to WARM, LIMITED or FULL needs the deployment job's "
            "evidence; set it to 'COLD'"
        )
    cold = head.canary_fractions["COLD"]
    if after.canary_fraction != cold:
        problems.append(
            f"{where}.canary_fraction is {after.canary_fraction!r}; a COLD rollout trades "
            f"CANARY_FRACTIONS['COLD'] = {cold!r} of the capital on the new parameters: set it to {cold!r}"
        )
    if after.config_hash != head.config_hash:
        problems.append(
            f"{where}.config_hash is {after.config_hash!r}, but the pull request's config/constants.py "
            f"hashes to {head.config_hash!r}: the rollout must name the configuration it rolls out; set it "
            "to that"
        )
    if after.previous_config_hash != base.config_hash:
        problems.append(
            f"{where}.previous_config_hash is {after.previous_config_hash!r}, but the base's "
            f"config/constants.py hashes to {base.config_hash!r}: a rollback returns to the base's "
            "configuration; set it to that"
        )
    if after.pr_number is not None and after.pr_number != number:
        problems.append(
            f"{where}.pr_number is {after.pr_number}, not this pull request (#{number}); set it to {number} "
            "or null"
        )
    return problems


def _cold_start_problems(key: str, base: LiveConstants, before: Rollout | None, after: Rollout) -> list[str]:
    """The phase, status and previous parameters of a rollout an optimizer pull request (re)starts."""
    where = f"{_FLAGS}: rollouts.{key}"
    problems = []
    if after.phase != "progressing":
        problems.append(f"{where}.phase is {after.phase!r}; a rollout starts 'progressing': set it to that")
    if after.status is not None:
        problems.append(
            f"{where}.status is not null; a rollout starts without an analysis (the deployment job writes "
            "them): set it to null"
        )
    strategy, symbol = _pair(key)
    expected: Mapping[str, Any] | None = base.live_params.get(strategy, {}).get(symbol)
    origin = f"the base's LIVE_PARAMS.{strategy}.{symbol}"
    if before is not None and before.phase != "succeeded" and before.previous_params is not None:
        expected, origin = (
            before.previous_params,
            f"the base rollout's previous_params ({before.stage.value})",
        )
    if _plain(after.previous_params) != _plain(expected):
        problems.append(
            f"{where}.previous_params is {show_json_value(_plain(after.previous_params))}, but must be "
            f"{origin}, {show_json_value(_plain(expected))}: the parameters the bot keeps running until the "
            "new ones reach FULL; set them to that"
        )
    return problems


def _plain(params: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return None if params is None else dict(params)
