"""The consumer contract: what the bot runs, from the two state files alone; a revert restores it exactly."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from deployment import deployment_plan, read_plan
from gitops import FeatureFlags, Stage, load_state
from tests.deployment.conftest import PAIR, T0, DeployRepo, git, merge_optimizer_change


def _with_stage(
    flags: FeatureFlags, stage: Stage, fraction: float, phase: str = "progressing"
) -> FeatureFlags:
    rollout = flags.rollout(*PAIR)
    assert rollout is not None
    moved = dataclasses.replace(rollout, stage=stage, canary_fraction=fraction, phase=phase)
    return flags.with_rollout(*PAIR, moved)


def test_every_stage_runs_the_documented_parameter_sets(deploy_repo: DeployRepo) -> None:
    shipped = read_plan(deploy_repo.repo)
    before = shipped.pair(*PAIR)
    assert before is not None and before.stage is None
    [live] = before.sets
    assert (live.role, live.mode, live.capital_fraction, live.config_hash) == (
        "live",
        "live",
        1.0,
        shipped.config_hash,
    )
    merge_optimizer_change(deploy_repo)
    constants, flags = load_state(deploy_repo.repo)
    rollout = flags.rollout(*PAIR)
    assert rollout is not None and rollout.previous_params is not None
    old, new = dict(rollout.previous_params), dict(constants.live_params[PAIR[0]][PAIR[1]])
    assert old == dict(live.params) and old != new

    def sets(stage: Stage, fraction: float, phase: str = "progressing") -> list[tuple[object, ...]]:
        pair = deployment_plan(constants, _with_stage(flags, stage, fraction, phase)).pair(*PAIR)
        assert pair is not None
        return [(s.role, s.mode, s.capital_fraction, s.config_hash, dict(s.params)) for s in pair.sets]

    n, o = rollout.config_hash, rollout.previous_config_hash
    assert sets(Stage.COLD, 0.0) == [("previous", "live", 1.0, o, old)]
    assert sets(Stage.WARM, 0.0) == [("previous", "live", 1.0, o, old), ("candidate", "paper", 0.0, n, new)]
    assert sets(Stage.LIMITED, 0.1) == [("candidate", "live", 0.1, n, new), ("previous", "live", 0.9, o, old)]
    assert sets(Stage.FULL, 1.0, "succeeded") == [("candidate", "live", 1.0, n, new)]
    assert sets(Stage.LIMITED, 0.0, "failed") == [("previous", "live", 1.0, o, old)]
    # Every other pair keeps running its live parameters.
    others = [p for p in read_plan(deploy_repo.repo).pairs if (p.strategy, p.symbol) != PAIR]
    assert others and all([s.role for s in p.sets] == ["live"] for p in others)


def test_reverting_the_optimizer_merge_restores_the_previous_state_exactly(deploy_repo: DeployRepo) -> None:
    files = ("config/constants.py", "feature_flags.json")
    before = {path: deploy_repo.file(path) for path in files}
    plan_before = read_plan(deploy_repo.repo)
    merge = merge_optimizer_change(deploy_repo)
    assert read_plan(deploy_repo.repo) != plan_before
    git(deploy_repo.repo, "revert", "--no-edit", "-m", "1", merge, at=T0 + timedelta(hours=1))
    assert {path: deploy_repo.file(path) for path in files} == before
    assert read_plan(deploy_repo.repo) == plan_before


def test_the_plan_command_prints_the_sets(deploy_repo: DeployRepo) -> None:
    merge_optimizer_change(deploy_repo)
    result = deploy_repo.cli("deploy", "plan")
    assert result.exit_code == 0, result.output
    assert "rsi_reversion/DEMO (15m): COLD (progressing)" in result.stdout
    assert "previous  live  capital 1" in result.stdout and "rsi_period=6" in result.stdout
    document = deploy_repo.cli("deploy", "plan", json_output=True)
    assert {pair["strategy"] + "/" + pair["symbol"] for pair in document["pairs"]} >= {"rsi_reversion/DEMO"}


def test_a_broken_state_file_is_a_clear_error(deploy_repo: DeployRepo) -> None:
    (deploy_repo.repo / "feature_flags.json").write_text('{"schema_version": 2}\n')
    result = deploy_repo.cli("deploy", "plan")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: feature_flags.json: provenance is missing; add it")


@pytest.mark.parametrize("stage", [Stage.COLD, Stage.WARM])
def test_a_first_rollout_without_previous_parameters_runs_only_the_new_share(
    deploy_repo: DeployRepo, stage: Stage
) -> None:
    merge_optimizer_change(deploy_repo)
    constants, flags = load_state(deploy_repo.repo)
    rollout = flags.rollout(*PAIR)
    assert rollout is not None
    first = dataclasses.replace(rollout, previous_params=None, stage=stage)
    pair = deployment_plan(constants, flags.with_rollout(*PAIR, first)).pair(*PAIR)
    assert pair is not None and "no previous parameters" in pair.note
    assert [s.role for s in pair.sets] == ([] if stage == Stage.COLD else ["candidate"])


def test_reverting_a_promotion_then_the_optimizer_merge_restores_the_state_exactly(
    deploy_repo: DeployRepo,
) -> None:
    files = ("config/constants.py", "feature_flags.json")
    before = {path: deploy_repo.file(path) for path in files}
    optimizer_merge = merge_optimizer_change(deploy_repo)
    out = deploy_repo.cli("deploy", "step", "--forge", "local", "--data", "reverting",
                          now=T0 + timedelta(days=30), json_output=True)  # fmt: skip
    assert out["rollouts"][0]["verdict"]["decision"] == "promote"
    promotion = deploy_repo.merge("tradeloop/deploy/rsi_reversion-DEMO", T0 + timedelta(days=30, hours=1))
    assert read_plan(deploy_repo.repo).pair(*PAIR).stage == "WARM"  # type: ignore[union-attr]
    for merge in (promotion, optimizer_merge):  # newest first, as a person undoes a history
        git(deploy_repo.repo, "revert", "--no-edit", "-m", "1", merge, at=T0 + timedelta(days=31))
    assert {path: deploy_repo.file(path) for path in files} == before
