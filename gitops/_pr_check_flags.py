"""``pr check`` of ``feature_flags.json``: the changes an optimizer pull request may make, and no other.

An optimizer pull request tunes one strategy/symbol. In ``feature_flags.json`` it may only add, or reset,
the rollout of that pair at stage ``COLD`` (``gitops.apply_proposal`` writes exactly that):

- ``canary_fraction`` is ``CANARY_FRACTIONS["WARM"]``, the share its first promotion will trade;
- ``config_hash`` is the config hash of the pull request's own ``config/constants.py``, and
  ``previous_config_hash`` that of the base, the configuration a rollback returns to;
- ``pr_number`` is the pull request's number, or null before it had one.

Every other rollout stays as it is; a promotion (WARM, LIMITED, FULL) needs the deployment job's live
evidence, which is not the optimizer's to claim. The prediction engine switch is a person's decision.
"""

from __future__ import annotations

from collections.abc import Collection

from gitops._constants import LiveConstants
from gitops._feature_flags import FEATURE_FLAGS_FILE, FeatureFlags, Rollout, Stage

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
    for strategy, symbol in sorted(pairs):
        key = f"{strategy}/{symbol}"
        before, after = base_flags.rollouts.get(key), head_flags.rollouts.get(key)
        if (strategy, symbol) in changed_pairs:
            problems += _reset_problems(key, base, head, before, after, number)
        elif after is None and before is not None:
            problems.append(f"{_FLAGS}: rollouts.{key} is removed; rollouts are removed by hand ({_BY_HAND})")
        elif after != before:
            problems.append(
                f"{_FLAGS}: rollouts.{key} changes (stage {_stage(before)} → {_stage(after)}), but "
                f"LIVE_PARAMS.{strategy}.{symbol} does not; an optimizer pull request changes only the "
                "rollout of the pair it tunes: restore this rollout"
            )
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
    problems = []
    if after.stage != Stage.COLD:
        problems.append(
            f"{where}.stage is {after.stage.value!r}; an optimizer pull request may only add or reset the "
            "COLD rollout of its own pair: a promotion to WARM, LIMITED or FULL needs the deployment job's "
            "evidence; set it to 'COLD'"
        )
    warm = head.canary_fractions["WARM"]
    if after.canary_fraction != warm:
        problems.append(
            f"{where}.canary_fraction is {after.canary_fraction!r}; a COLD rollout carries "
            f"CANARY_FRACTIONS['WARM'] = {warm!r}, the share its first promotion will trade: set it to "
            f"{warm!r}"
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
