"""``tradeloop pr check`` end to end: hand-made pull requests on the GitHub stand-in, judged through the CLI.

Each pull request is a real commit pushed to the stand-in's bare repository; ``pr check`` reads it back
through PyGithub and git, as the validation workflow does.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from gitops import CONSTANT_SPECS, BotIdentity, GitHubForge, apply_proposal, build_commit
from tests.github_standin import GitHubEnv, git
from tests.gitops.proposals import make_proposal, realistic_proposal, typed
from tradeloop import Provenance
from tradeloop.cli import app

runner = CliRunner()
CONSTANTS = "config/constants.py"
FLAGS = "feature_flags.json"
PROVENANCE = Provenance(
    run_id="20250301T000000Z-0badc0de", git_sha="f" * 40, written_at="2025-03-01T00:00:00+00:00"
)


@pytest.fixture
def gh(github_env: GitHubEnv, monkeypatch: pytest.MonkeyPatch) -> GitHubEnv:
    for key, value in github_env.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("TRADELOOP_GITHUB_TOKEN", raising=False)
    return github_env


def check(env: GitHubEnv, number: int) -> tuple[int, dict[str, Any]]:
    result = runner.invoke(app, ["--repo", str(env.clone), "--json", "pr", "check", "--pr", str(number)])
    return result.exit_code, json.loads(result.stdout)


def check_text(env: GitHubEnv, number: int) -> tuple[int, str]:
    result = runner.invoke(app, ["--repo", str(env.clone), "pr", "check", "--pr", str(number)])
    return result.exit_code, result.stdout


def base_files(env: GitHubEnv) -> dict[str, str]:
    return {path: env.bare.file_at("main", path) or "" for path in (CONSTANTS, FLAGS)}


def bot_files(env: GitHubEnv, proposal: dict[str, Any] | None = None) -> dict[str, str]:
    """The two files exactly as the optimizer writes them for ``proposal`` on the stand-in's main."""
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        (root / "config").mkdir()
        for path, text in base_files(env).items():
            (root / path).write_text(text)
        apply_proposal(root, typed(proposal or realistic_proposal()), provenance=PROVENANCE)
        return {path: (root / path).read_text() for path in (CONSTANTS, FLAGS)}


def flags_edited(text: str, edit: Callable[[dict[str, Any]], None]) -> str:
    document = json.loads(text)
    edit(document)
    return json.dumps(document, indent=2) + "\n"


def open_pr(
    env: GitHubEnv, branch: str, files: dict[str, str], *, links: dict[str, str] | None = None
) -> int:
    """A pull request whose one commit writes ``files`` (and ``links`` as symbolic links), pushed for real."""
    base = git("rev-parse", "origin/main", cwd=env.clone)
    sha = build_commit(env.clone, base, {k: v.encode() for k, v in files.items()}, "hand-made", BotIdentity())
    if links:
        sha = _with_links(env.clone, sha, links)
    git("push", "--quiet", "origin", f"{sha}:refs/heads/{branch}", cwd=env.clone)
    forge = GitHubForge(env.clone, env=env.env())
    return forge.open_or_update(branch=branch, base="main", title=branch, body="", existing=None).number


def _with_links(repo: Path, parent: str, links: dict[str, str]) -> str:
    with tempfile.TemporaryDirectory() as scratch:
        index = {**os.environ, "GIT_INDEX_FILE": str(Path(scratch) / "index")}
        run = lambda *args: subprocess.run(  # noqa: E731
            ["git", "-C", str(repo), *args], env=index, check=True, capture_output=True, text=True
        ).stdout.strip()
        run("read-tree", parent)
        for path, target in links.items():
            blob = subprocess.run(
                ["git", "-C", str(repo), "hash-object", "-w", "--stdin"], input=target, check=True,
                capture_output=True, text=True,
            ).stdout.strip()  # fmt: skip
            run("update-index", "--cacheinfo", f"120000,{blob},{path}")
        tree = run("write-tree")
        return run("commit-tree", tree, "-p", parent, "-m", "link")


def test_the_bot_s_own_change_passes(gh: GitHubEnv) -> None:
    code, report = check(gh, open_pr(gh, "bot", bot_files(gh)))
    assert code == 0, report["violations"]
    assert report["passed"] and not report["manual"]


def test_a_rollout_promoted_to_full_with_all_capital_is_refused(gh: GitHubEnv) -> None:
    def promote(document: dict[str, Any]) -> None:
        rollout = document["rollouts"]["ema_cross/SP500"]
        rollout.update(stage="FULL", canary_fraction=1.0, phase="succeeded")

    files = bot_files(gh)
    files[FLAGS] = flags_edited(files[FLAGS], promote)
    code, report = check(gh, open_pr(gh, "full", files))
    assert code == 1
    joined = "\n".join(report["violations"])
    assert (
        "feature_flags.json: rollouts.ema_cross/SP500.stage is 'FULL'; an optimizer pull request may only"
        in joined
    )
    assert "feature_flags.json: rollouts.ema_cross/SP500.canary_fraction is 1.0" in joined
    assert "set it to 0.0" in joined


def test_turning_the_prediction_engine_on_is_refused(gh: GitHubEnv) -> None:
    def engine_on(document: dict[str, Any]) -> None:
        document["prediction_engine"].update(enabled=True, model="lstm-v1")

    files = base_files(gh)
    files[FLAGS] = flags_edited(files[FLAGS], engine_on)
    code, report = check(gh, open_pr(gh, "engine", {FLAGS: files[FLAGS]}))
    assert code == 1
    [violation] = report["violations"]
    assert violation.startswith("feature_flags.json: prediction_engine changes")
    assert "not the optimizer's to change" in violation and "tradeloop:manual" in violation


def test_invalid_json_is_refused_naming_the_file_and_place(gh: GitHubEnv) -> None:
    code, report = check(gh, open_pr(gh, "broken", {FLAGS: '{"schema_version": 1,\n'}))
    assert code == 1
    [violation] = report["violations"]
    assert violation.startswith("feature_flags.json: not valid JSON at line 2")
    assert "git checkout -- feature_flags.json" in violation


def test_a_symlinked_state_file_is_refused(gh: GitHubEnv) -> None:
    number = open_pr(gh, "link", {}, links={FLAGS: "/etc/passwd"})
    code, report = check(gh, number)
    assert code == 1
    assert any(
        v.startswith("feature_flags.json is a symbolic link at the head, got a link to '/etc/passwd'")
        for v in report["violations"]
    ), report["violations"]


def test_a_rollout_with_another_config_hash_is_refused(gh: GitHubEnv) -> None:
    files = bot_files(gh)
    files[FLAGS] = flags_edited(
        files[FLAGS], lambda d: d["rollouts"]["ema_cross/SP500"].update(config_hash="0123456789abcdef")
    )
    code, report = check(gh, open_pr(gh, "hash", files))
    assert code == 1
    [violation] = report["violations"]
    assert violation.startswith(
        "feature_flags.json: rollouts.ema_cross/SP500.config_hash is '0123456789abcdef', "
    )
    assert "but the pull request's config/constants.py hashes to" in violation


def test_a_rollout_of_a_pair_the_pr_does_not_tune_is_refused(gh: GitHubEnv) -> None:
    files = bot_files(gh)
    other = dict(json.loads(files[FLAGS])["rollouts"]["ema_cross/SP500"])
    files[FLAGS] = flags_edited(files[FLAGS], lambda d: d["rollouts"].update({"ema_cross/NASDAQ": other}))
    code, report = check(gh, open_pr(gh, "other", files))
    assert code == 1
    [violation] = report["violations"]
    assert (
        "rollouts.ema_cross/NASDAQ changes (stage none → COLD), but LIVE_PARAMS.ema_cross.NASDAQ does not"
        in (violation)
    )


def test_the_cap_applies_to_parameters_the_live_entry_leaves_out(gh: GitHubEnv) -> None:
    proposal = make_proposal("ema_cross", "SP500", {"exit_tp0_fraction": 0.9})
    files = bot_files(gh, proposal)
    files[CONSTANTS] = files[CONSTANTS].replace('"exit_tp0_fraction": 0.9', '"exit_tp0_fraction": 0.01')
    files[CONSTANTS] = files[CONSTANTS].replace(
        '"exit_tp0_pct": 4.0,', '"exit_tp0_pct": 4.0,\n            "exit_tp1_pct": 200.0,'
    )
    files[FLAGS] = _rehashed(files)
    code, report = check(gh, open_pr(gh, "defaults", files))
    assert code == 1
    joined = "\n".join(report["violations"])
    assert (
        "config/constants.py: LIVE_PARAMS.ema_cross.SP500.exit_tp0_fraction moves 1 → 0.01 (99.0%), past its "
        "per-cycle cap of 20% (±0.2) (measured from ema_cross's default 1: the base entry leaves "
        "exit_tp0_fraction out)" in joined
    )
    assert (
        "LIVE_PARAMS.ema_cross.SP500.exit_tp1_pct moves 0 → 200 (100.0% of its hard range [0, 200] (0 has no "
        "scale of its own)), past its per-cycle cap of 20% (±40)" in joined
    )


def _rehashed(files: dict[str, str]) -> str:
    """The flags with the rollout's config hash set to the hash of ``files``' constants (as the bot does)."""
    from gitops import parse_constants

    digest = parse_constants(files[CONSTANTS]).config_hash
    return flags_edited(files[FLAGS], lambda d: d["rollouts"]["ema_cross/SP500"].update(config_hash=digest))


def test_an_integer_parameter_written_as_a_float_is_refused(gh: GitHubEnv) -> None:
    files = bot_files(gh)
    files[CONSTANTS] = files[CONSTANTS].replace('"ema_fast": 13,', '"ema_fast": 12.9,')
    code, report = check(gh, open_pr(gh, "float", files))
    assert code == 1
    assert any(
        v.startswith("config/constants.py: LIVE_PARAMS.ema_cross.SP500.ema_fast must be an integer, got 12.9")
        and "write 12 or 13" in v
        for v in report["violations"]
    ), report["violations"]


def test_a_small_integer_that_no_cap_can_move_is_named(gh: GitHubEnv) -> None:
    text = base_files(gh)[CONSTANTS].replace('"rsi_period": 14,', '"rsi_period": 3,')
    gh.bare.human_commit("main", {CONSTANTS: text})
    git("fetch", "--quiet", "origin", cwd=gh.clone)
    files = base_files(gh)
    files[CONSTANTS] = files[CONSTANTS].replace('"rsi_period": 3,', '"rsi_period": 4,')
    code, out = check_text(gh, open_pr(gh, "small", {CONSTANTS: files[CONSTANTS]}))
    assert code == 1
    assert (
        "LIVE_PARAMS.rsi_reversion.SP500.rsi_period moves 3 → 4 (33.3%), past its per-cycle cap of 20% (±0.6)"
        in out
    )
    assert "a 20% cap cannot move the integer rsi_period at 3 at all" in out


def test_changing_a_guardrail_is_refused(gh: GitHubEnv) -> None:
    text = base_files(gh)[CONSTANTS].replace(
        "OPTIMIZER_MAX_KNOBS: Final[int] = 3", "OPTIMIZER_MAX_KNOBS: Final[int] = 9"
    )
    code, report = check(gh, open_pr(gh, "knobs", {CONSTANTS: text}))
    assert code == 1
    [violation] = report["violations"]
    assert violation.startswith(
        "config/constants.py: OPTIMIZER_MAX_KNOBS changes 3 → 9; an auto-PR may change only"
    )


@pytest.fixture
def later_guardrail(monkeypatch: pytest.MonkeyPatch) -> str:
    """CANARY_FAILURE_THRESHOLD made a constant that a newer tradeloop added (the spec's mechanism)."""
    name = "CANARY_FAILURE_THRESHOLD"
    monkeypatch.setitem(CONSTANT_SPECS, name, dataclasses.replace(CONSTANT_SPECS[name], added_later=True))  # type: ignore[arg-type]
    return name


def _without(text: str, name: str) -> str:
    lines = text.splitlines(keepends=True)
    index = next(i for i, line in enumerate(lines) if line.startswith(f"{name}:"))
    return "".join(lines[: index - 1] + lines[index + 1 :])


def test_a_pr_adding_a_guardrail_at_its_default_is_refused(gh: GitHubEnv, later_guardrail: str) -> None:
    shipped = base_files(gh)[CONSTANTS]
    gh.bare.human_commit("main", {CONSTANTS: _without(shipped, later_guardrail)})
    git("fetch", "--quiet", "origin", cwd=gh.clone)
    code, report = check(gh, open_pr(gh, "add", {CONSTANTS: shipped}))
    assert code == 1
    [violation] = report["violations"]
    assert violation.startswith(
        "config/constants.py: CANARY_FAILURE_THRESHOLD = 3 is added; an auto-PR never adds"
    )
    changed = shipped.replace(
        "CANARY_FAILURE_THRESHOLD: Final[int] = 3", "CANARY_FAILURE_THRESHOLD: Final[int] = 5"
    )
    code, report = check(gh, open_pr(gh, "add-changed", {CONSTANTS: changed}))
    assert code == 1
    assert report["violations"][0].startswith("config/constants.py: CANARY_FAILURE_THRESHOLD changes 3 → 5")


def test_a_manual_pr_is_reported_as_manual_with_its_findings(gh: GitHubEnv) -> None:
    files = bot_files(gh)
    files[FLAGS] = flags_edited(
        files[FLAGS],
        lambda d: d["rollouts"]["ema_cross/SP500"].update(
            stage="FULL", canary_fraction=1.0, phase="succeeded"
        ),
    )
    number = open_pr(gh, "emergency", files)
    gh.standin.label_pr(number, "tradeloop:manual")
    code, out = check_text(gh, number)
    assert code == 0, out
    assert out.startswith(f"MANUAL #{number}: labelled tradeloop:manual")
    assert "finding feature_flags.json: rollouts.ema_cross/SP500.stage is 'FULL'" in out
    code, report = check(gh, number)
    assert (code, report["manual"], report["violations"]) == (0, True, [])


def test_a_manual_pr_still_needs_valid_files(gh: GitHubEnv) -> None:
    number = open_pr(gh, "emergency-broken", {FLAGS: "{"})
    gh.standin.label_pr(number, "tradeloop:manual")
    code, report = check(gh, number)
    assert code == 1 and report["manual"] is True
    assert report["violations"][0].startswith("feature_flags.json: not valid JSON")
