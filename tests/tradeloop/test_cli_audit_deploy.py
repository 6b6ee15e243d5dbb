"""A new user's audit of the deployment half of the loop (rollouts, pr check of a move, monitor, rollback,
paper, notify, state, dashboard): each test is one defect found by running the commands as the docs show."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.deployment.conftest import KEY, T0, DeployRepo, git, merge_optimizer_change
from tests.deployment.conftest import deploy_repo as deploy_repo  # the fixture
from tests.deployment.test_deploy_cli import BRANCH, MONTH, _check_pr, _hand_made_pr, _step, _warm_on_main
from tradeloop.cli import app

runner = CliRunner()
REPO_ROOT = Path(__file__).resolve().parents[2]


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_pr_check_refuses_a_promotion_whose_analysis_names_a_check_twice(deploy_repo: DeployRepo) -> None:
    # pr check read the first check of a name: a second, failing copy of it passed unseen.
    target = deploy_repo
    merge_optimizer_change(target)
    cold = _step(target, T0 + MONTH)
    assert cold["verdict"]["decision"] == "promote"
    moved = json.loads(git(target.repo, "show", f"{BRANCH}:feature_flags.json"))["rollouts"][KEY]

    def hidden_failure(rollout: dict[str, Any]) -> None:
        rollout.update(moved)
        sharpe = next(check for check in rollout["status"]["checks"] if check["name"] == "sharpe")
        rollout["status"]["checks"].append({**sharpe, "figure": -3.0, "outcome": "fail"})

    code, report = _check_pr(target, _hand_made_pr(target, "hidden", hidden_failure))
    assert code == 1, report
    [violation] = report["violations"]
    assert 'rollouts.rsi_reversion/DEMO.status.checks.7.name is "sharpe", the name of checks.2 too' in (
        violation
    ), violation
    assert "an analysis lists each check once: remove one" in violation


def test_rollback_of_an_unknown_pair_lists_the_live_pairs(deploy_repo: DeployRepo) -> None:
    # It pointed at `tradeloop deploy status`, which lists rollouts only (none here), not the live pairs.
    merge_optimizer_change(deploy_repo)
    result = deploy_repo.cli("rollback", "--pair", "rsi_reversion/DEM", "--forge", "local")
    assert result.exit_code == 2, result.output
    text = " ".join(result.stderr.split())
    assert "has no LIVE_PARAMS.rsi_reversion.DEM. Did you mean rsi_reversion/DEMO?" in text
    assert "Name a live pair: donchian_breakout/SP500, ema_cross/NASDAQ," in text
    assert "deploy status" not in text


def test_a_rollback_whose_revert_conflicts_says_what_to_do_instead(deploy_repo: DeployRepo) -> None:
    # It printed git's own hints ("After resolving the conflicts ... git revert --continue") about a
    # temporary worktree the user never sees.
    target = deploy_repo
    _warm_on_main(target)  # the optimizer merge, then a later commit of feature_flags.json
    merge = git(target.repo, "rev-parse", "HEAD~1")
    later = git(target.repo, "rev-parse", "--short=7", "HEAD")
    git(target.repo, "checkout", "-q", "-b", "elsewhere")
    result = target.cli("rollback", "--commit", merge, "--forge", "local")
    assert result.exit_code == 2, result.output
    text = " ".join(result.stderr.split())
    assert f"git revert of {merge[:12]} onto " in text
    assert "conflicts in feature_flags.json: a later commit changed the same lines" in text
    assert "`tradeloop rollback --pair rsi_reversion/DEMO`" in text
    assert f"newest first ({later})" in text
    assert "git revert --continue" not in text
    assert git(target.repo, "worktree", "list").count("\n") == 0  # the temporary worktree is gone


@pytest.mark.parametrize("value", ["-1", "0", "nan", "inf"])
def test_notify_refuses_an_alert_timeout_that_is_not_a_positive_number(tmp_path: Path, value: str) -> None:
    # -1 reached requests and came out as a ValueError traceback.
    env = {"TRADELOOP_WEBHOOK_JSON": "http://127.0.0.1:9/hook", "TRADELOOP_ALERT_TIMEOUT_S": value}
    code, out, err = invoke("--home", str(tmp_path), "notify", "--title", "hi", env=env)
    assert code == 2, out + err
    assert err.strip() == (
        f"error: TRADELOOP_ALERT_TIMEOUT_S={value!r} is not a number of seconds > 0; "
        "e.g. TRADELOOP_ALERT_TIMEOUT_S=1"
    )


def test_deploy_step_checks_the_webhooks_before_it_opens_a_pull_request(deploy_repo: DeployRepo) -> None:
    # A bad webhook variable failed the step after it had opened the deployment pull request and recorded the
    # analysis: exit 2, and none of the alerts sent.
    target = deploy_repo
    merge_optimizer_change(target)
    args = ["--repo", str(target.repo), "--home", str(target.home), "deploy", "step", "--forge", "local"]
    env = {"TRADELOOP_NOW": (T0 + MONTH).isoformat(), "TRADELOOP_WEBHOOK_JSON": "not a url"}
    result = runner.invoke(app, [*args, "--data", "reverting"], env=env)
    assert result.exit_code == 2, result.output
    assert "TRADELOOP_WEBHOOK_JSON is not an http(s) URL" in result.stderr
    assert git(target.repo, "branch", "--list", BRANCH) == ""
    assert not (target.home / "forge" / "pulls.json").exists()


def test_deploy_ingest_names_a_misspelled_column_and_a_real_example(tmp_path: Path) -> None:
    # A header with `confighash` said "field config_hash: missing; add it, e.g. ..." (a literal "...").
    repo = tmp_path / "repo"
    (repo / "config").mkdir(parents=True)
    for name in ("config/constants.py", "feature_flags.json"):
        (repo / name).write_bytes((REPO_ROOT / name).read_bytes())
    code, out, _ = invoke("--json", "--repo", str(repo), "--home", str(tmp_path / "h"), "deploy", "plan")
    assert code == 0, out
    [demo] = [pair for pair in json.loads(out)["pairs"] if pair["symbol"] == "DEMO"]
    tag = demo["sets"][0]["config_hash"]
    bot = tmp_path / "bot.csv"
    bot.write_text(
        "kind,strategy,symbol,confighash,mode,ts,equity_usd\n"
        f"equity,rsi_reversion,DEMO,{tag},live,2025-01-01T00:15:00+00:00,1000\n"
    )
    code, _, err = invoke("--repo", str(repo), "--home", str(tmp_path / "h"), "deploy", "ingest", str(bot))
    assert code == 2, err
    text = " ".join(err.split())
    assert (
        "bot.csv: row 1, field config_hash: missing (the row has 'confighash': rename it to config_hash)"
        in (text)
    )
    assert f"e.g. {tag} (the tag `tradeloop deploy plan` gives the parameter set that traded)" in text
    assert "e.g. ..." not in text


def test_paper_run_says_why_a_feed_gave_no_bar_since_the_rollout_started(deploy_repo: DeployRepo) -> None:
    # A feed that ends before the rollout started printed "0 new bars ... no bar yet" and nothing else.
    target = deploy_repo
    merge_optimizer_change(target)
    feed = target.home.parent / "feed.csv"
    rows = [f"{(T0 - MONTH).replace(minute=15 * i).isoformat()},100,101,99,100,10" for i in range(4)]
    feed.write_text("timestamp,open,high,low,close,volume\n" + "\n".join(rows) + "\n")
    result = target.cli("paper", "run", "--feed", str(feed), now=T0 + MONTH)
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert (
        f"no bar since the rollout started ({T0.isoformat()}): the feed {feed} ends at "
        f"{(T0 - MONTH).replace(minute=45).isoformat()}; wait for its next bar, or point --feed at the file"
    ) in text


def test_deploy_step_checks_data_before_any_rollout_is_analysed(deploy_repo: DeployRepo) -> None:
    # A typo in --data passed (exit 0) whenever no COLD analysis was due, and failed only once one was.
    target = deploy_repo
    merge_optimizer_change(target)
    for data, expected in (
        ("revertng", "unknown data source 'revertng'. Did you mean 'reverting'?"),
        (str(target.home.parent / "bars.csv"), "bars.csv: no such file; give a CSV/Parquet file"),
    ):
        result = target.cli("deploy", "step", "--forge", "local", "--data", data, now=T0)
        assert result.exit_code == 2, result.output
        assert expected in " ".join(result.stderr.split())


def test_state_memory_refuses_a_forge_typo_and_names_the_branches_for_a_base_typo(
    deploy_repo: DeployRepo,
) -> None:
    # `--forge locl` was taken for github ("GitHub forge: no token"); `--base mian` said
    # "resolve 'mian' failed in REPO: exit 1".
    result = deploy_repo.cli("state", "memory", "--forge", "locl")
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == "error: --forge 'locl' is not a forge; use github or local"
    result = deploy_repo.cli("state", "memory", "--base", "mian", "--forge", "local")
    assert result.exit_code == 2, result.output
    text = " ".join(result.stderr.split())
    assert f"--base 'mian' is not a branch or commit of {deploy_repo.repo}. Did you mean main?" in text
    assert "Its branches: main; name one of them (or a commit)" in text


def test_the_same_rollback_pull_request_is_not_pushed_again(deploy_repo: DeployRepo) -> None:
    # Every run (the monitor's, every 15 minutes) pushed a new commit of the same rollback (only the
    # provenance differed), which resets the pull request's checks and reviews.
    target = deploy_repo
    _warm_on_main(target)
    branch = "tradeloop/rollback-rsi_reversion-demo"
    first = target.cli("rollback", "--pair", "rsi_reversion/DEMO", "--forge", "local", json_output=True)
    assert first["action"] == "pr_opened", first
    pushed = git(target.repo, "rev-parse", branch)
    again = target.cli("rollback", "--pair", "rsi_reversion/DEMO", "--forge", "local", json_output=True)
    assert (again["action"], again["pr_number"], again["commit"]) == ("pr_unchanged", 1, pushed)
    assert git(target.repo, "rev-parse", branch) == pushed
    text = target.cli("rollback", "--pair", "rsi_reversion/DEMO", "--forge", "local").stdout
    assert "rollback pull request #1 unchanged: rsi_reversion/DEMO back to config" in text
    # the base's state moved on: the rollback is rebuilt on it
    flags = json.loads(target.file("feature_flags.json"))
    flags["prediction_engine"]["min_confidence"] = 0.7
    (target.repo / "feature_flags.json").write_text(json.dumps(flags, indent=2) + "\n")
    git(target.repo, "commit", "-q", "-am", "a person's change")
    moved = target.cli("rollback", "--pair", "rsi_reversion/DEMO", "--forge", "local", json_output=True)
    assert moved["action"] == "pr_updated", moved
    assert git(target.repo, "rev-parse", branch) != pushed


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("--tick-hours", "0", "--tick-hours must be a number > 0, got 0"),  # was "got 0:00:00, 60.0"
        ("--tick-hours", "-5", "--tick-hours must be a number > 0, got -5"),  # "got -1 day, 19:00:00"
        ("--days", "0", "--days must be a number > 0, got 0"),
        # was "slippage_bps must be within [0, 10000) basis points, got -5.0", after the scratch repository
        ("--degrade-bps", "-10", "--degrade-bps must be a number >= 0, got -10"),
    ],
)
def test_demo_rollout_names_the_option_and_the_value_it_refuses(
    tmp_path: Path, option: str, value: str, expected: str
) -> None:
    out = tmp_path / "run"
    code, _, err = invoke("--home", str(tmp_path / "h"), "demo", "rollout", "--out", str(out), option, value)
    assert code == 2, err
    assert err.strip() == f"error: demo rollout: {expected}"
    assert not out.exists()


def test_demo_rollout_with_a_bad_proposal_leaves_no_half_written_out_dir(tmp_path: Path) -> None:
    # The scratch repository was written before the proposal was read, so the same --out was then refused
    # as "not an empty directory".
    bad = tmp_path / "proposal.json"
    bad.write_text("{}")
    out = tmp_path / "run"
    args = ["--home", str(tmp_path / "h"), "demo", "rollout", "--out", str(out), "--proposal", str(bad)]
    code, _, err = invoke(*args)
    assert code == 2, err
    assert "proposal.json: kind must be 'tradeloop.proposal'" in err
    assert not out.exists()
    out.mkdir()  # an empty directory given as --out stays, empty
    code, _, err = invoke(*args)
    assert code == 2 and list(out.iterdir()) == [], err


def test_a_base_branch_the_repository_lacks_lists_its_branches(
    deploy_repo: DeployRepo, tmp_path: Path
) -> None:
    # "local forge: no branch 'main' in REPO; name an existing base branch" named neither the option nor the
    # branches (a repository on master), and said the same outside git.
    git(deploy_repo.repo, "branch", "-m", "main", "master")
    result = deploy_repo.cli("monitor", "--forge", "local", "--dry-run")
    assert result.exit_code == 2, result.output
    text = " ".join(result.stderr.split())
    assert (
        f"local forge: no branch 'main' in {deploy_repo.repo}. Its branches: master; name one of them" in text
    )
    assert "(--base for the base branch)" in text
    plain = tmp_path / "plain"
    (plain / "config").mkdir(parents=True)
    for name in ("config/constants.py", "feature_flags.json"):
        (plain / name).write_bytes((REPO_ROOT / name).read_bytes())
    code, _, err = invoke(
        "--repo", str(plain), "--home", str(tmp_path / "h"), "deploy", "step", "--forge", "local"
    )
    assert code == 2, err
    assert f"local forge: {plain} is not a git repository" in " ".join(err.split())


def test_deploy_ingest_refuses_an_equity_point_restated_with_another_figure(deploy_repo: DeployRepo) -> None:
    # A stored equity point sent again with another figure was counted "already stored" and dropped (a
    # trade id with other figures is refused); two rows of one set and time disagreeing passed as well.
    target = deploy_repo
    merge_optimizer_change(target)
    tag = target.cli("deploy", "plan", json_output=True)["config_hash"]
    header = "kind,strategy,symbol,config_hash,mode,ts,equity_usd\n"
    row = f"equity,rsi_reversion,DEMO,{tag},live,2024-06-01T00:15:00+00:00,"
    first = target.home.parent / "first.csv"
    first.write_text(header + row + "1000\n")
    assert target.cli("deploy", "ingest", str(first)).exit_code == 0
    again = target.home.parent / "again.csv"
    again.write_text(header + row.replace("00:15:00+00:00", "02:15:00+02:00") + "900\n")
    result = target.cli("deploy", "ingest", str(again))
    assert result.exit_code == 2, result.output
    restated = "again.csv: row 1, field equity_usd: 900.0 at 2024-06-01T00:15:00+00:00"
    assert f"{restated}, but the warehouse holds 1000.0" in " ".join(result.stderr.split())
    same = target.home.parent / "same.csv"
    same.write_text(header + row + "1000\n")
    assert target.cli("deploy", "ingest", str(same)).exit_code == 0  # the same figure: already stored
    twice = target.home.parent / "twice.csv"
    later = row.replace("00:15", "00:30")
    twice.write_text(header + later + "1001\n" + later + "1002\n")
    result = target.cli("deploy", "ingest", str(twice))
    assert result.exit_code == 2, result.output
    assert "row 2, field equity_usd: 1002.0 at 2024-06-01T00:30:00+00:00, but row 1 reports 1001.0" in (
        " ".join(result.stderr.split())
    )


def test_deploy_step_apply_refuses_a_base_it_would_ignore(deploy_repo: DeployRepo) -> None:
    # --apply reads the working tree: `--apply --base release` analysed main's working tree, exit 0.
    merge_optimizer_change(deploy_repo)
    result = deploy_repo.cli("deploy", "step", "--apply", "--base", "release", now=T0)
    assert result.exit_code == 2, result.output
    assert "--apply reads and writes this working tree's feature_flags.json, not --base 'release'" in (
        " ".join(result.stderr.split())
    )


def test_a_misspelled_stage_in_feature_flags_gets_did_you_mean(deploy_repo: DeployRepo) -> None:
    # state check (and every reader, pr check included) listed the stages but not the one meant.
    merge_optimizer_change(deploy_repo)
    flags = json.loads(deploy_repo.file("feature_flags.json"))
    flags["rollouts"][KEY]["stage"] = "wram"
    (deploy_repo.repo / "feature_flags.json").write_text(json.dumps(flags, indent=2) + "\n")
    result = deploy_repo.cli("state", "check")
    assert result.exit_code == 1, result.output
    expected = (
        f'rollouts.{KEY}.stage must be one of COLD, WARM, LIMITED, FULL, got "wram". Did you mean WARM?'
    )
    assert expected in " ".join(result.stdout.split())


def test_dashboard_refuses_a_base_it_cannot_read(deploy_repo: DeployRepo) -> None:
    # `--base mian` built the site with an empty rollouts history and a dim note, exit 0.
    out = deploy_repo.home.parent / "site"
    result = deploy_repo.cli("dashboard", "--out", str(out), "--base", "mian", "--no-prices")
    assert result.exit_code == 2, result.output
    assert "--base 'mian' is not a branch or commit of" in result.stderr
    assert "Did you mean main?" in result.stderr
    assert not (out / "index.html").exists()


def test_rollback_pair_apply_on_a_dirty_checkout_of_the_base_is_refused(deploy_repo: DeployRepo) -> None:
    # It opened a rollback pull request "with auto-merge requested" and exited 0, where `rollback --commit
    # --apply` refuses the same checkout: the person asked for a commit.
    target = deploy_repo
    merge_optimizer_change(target)
    flags = target.repo / "feature_flags.json"
    flags.write_text(flags.read_text().replace('"min_confidence": 0.6', '"min_confidence": 0.7'))
    result = target.cli("rollback", "--pair", "rsi_reversion/DEMO", "--forge", "local", "--apply")
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == (
        f"error: rollback --apply: main is checked out in {target.repo} with uncommitted changes; commit or "
        "stash them first"
    )
    assert git(target.repo, "branch", "--list", "tradeloop/rollback-*") == ""
    assert not (target.home / "forge" / "pulls.json").exists()


def test_pr_check_of_a_stage_move_says_which_move_it_passed(deploy_repo: DeployRepo) -> None:
    # "PASS #1: 1 file(s), 0 move(s) within the allowlist, caps and bounds" and nothing about the stage move.
    target = deploy_repo
    merge_optimizer_change(target)
    cold = _step(target, T0 + MONTH)
    number = cold["pull_request"]["number"]
    result = target.cli("pr", "check", "--forge", "local", "--pr", str(number))
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.split())
    assert (
        "note: rollout rsi_reversion/DEMO: COLD (progressing) → WARM (progressing), capital share 0:" in text
    )
    assert "every check of COLD passed: promote to WARM" in text


def test_a_state_file_that_is_a_directory_is_named_as_such(tmp_path: Path) -> None:
    # "cannot read .../feature_flags.json: Is a directory; check its permissions": permissions are not it.
    repo = tmp_path / "repo"
    (repo / "config").mkdir(parents=True)
    (repo / "config" / "constants.py").write_bytes((REPO_ROOT / "config" / "constants.py").read_bytes())
    (repo / "feature_flags.json").mkdir()
    code, _, err = invoke("--repo", str(repo), "--home", str(tmp_path / "h"), "deploy", "plan")
    assert code == 2, err
    assert " ".join(err.split()) == (
        f"error: feature_flags.json: {repo / 'feature_flags.json'} is a directory, not the state file; "
        "remove it and restore it with `git checkout -- feature_flags.json`"
    )


def test_notify_severity_typo_gets_did_you_mean(tmp_path: Path) -> None:
    code, _, err = invoke("--home", str(tmp_path), "notify", "--title", "hi", "--severity", "warning")
    assert code == 2, err
    assert (
        err.strip()
        == "error: notify: --severity 'warning' is not one of info, warn, error. Did you mean warn?"
    )


def test_deploy_ingest_dry_run_counts_the_equity_points_already_stored(deploy_repo: DeployRepo) -> None:
    # A dry run said every equity point was new ("96 new, 0 already stored") after the file was ingested.
    target = deploy_repo
    merge_optimizer_change(target)
    tag = target.cli("deploy", "plan", json_output=True)["config_hash"]
    rows = [f"equity,rsi_reversion,DEMO,{tag},live,2024-06-01T00:{m:02d}:00+00:00,1000\n" for m in (15, 30)]
    bot = target.home.parent / "bot.csv"
    bot.write_text("kind,strategy,symbol,config_hash,mode,ts,equity_usd\n" + "".join(rows))
    assert target.cli("deploy", "ingest", str(bot)).exit_code == 0
    dry = target.cli("deploy", "ingest", str(bot), "--dry-run", json_output=True)
    assert (dry["equity_new"], dry["equity_known"], dry["dry_run"]) == (0, 2, True), dry
