"""The workflows' security conventions, checked statically on every workflow and the shared setup action."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
ACTIONS = sorted((ROOT / ".github" / "actions").glob("*/action.yml"))
EXPECTED = {
    "ci.yml",
    "deployment.yml",
    "monitor.yml",
    "nightly-matrix.yml",
    "optimizer.yml",
    "validation.yml",
}
BANNED_TRIGGERS = {"pull_request_target", "workflow_run", "issue_comment"}
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"uses:\s*\S+@[0-9a-f]{40}\s+#\s*v\d+(\.\d+)*\s*$")
LONG_JOB_MINUTES = 60


def _load(path: Path) -> dict[Any, Any]:
    document = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.BaseLoader)  # "on" stays a string
    assert isinstance(document, dict), path
    return document


def _jobs(path: Path) -> dict[str, dict[str, Any]]:
    return dict(_load(path)["jobs"])


def _steps(path: Path) -> list[dict[str, Any]]:
    document = _load(path)
    if "jobs" in document:
        return [step for job in document["jobs"].values() for step in job.get("steps", [])]
    return list(document["runs"].get("steps", []))


def _ids(paths: list[Path]) -> list[str]:
    return [path.name if path.parent.name == "workflows" else path.parent.name for path in paths]


def test_the_five_workflows_exist() -> None:
    assert {path.name for path in WORKFLOWS} >= EXPECTED


@pytest.mark.parametrize("path", WORKFLOWS, ids=_ids(WORKFLOWS))
def test_top_level_permissions_are_empty_and_every_job_declares_its_own(path: Path) -> None:
    document = _load(path)
    assert document.get("permissions") == {}, f"{path.name}: top-level `permissions: {{}}` is required"
    for name, job in _jobs(path).items():
        assert "permissions" in job, f"{path.name}: job {name} must grant its own permissions"
        granted = job["permissions"]
        assert granted == {} or isinstance(granted, dict), f"{path.name}: job {name}: no blanket grants"
        assert all(level in {"read", "write", "none"} for level in dict(granted).values())


@pytest.mark.parametrize("path", WORKFLOWS, ids=_ids(WORKFLOWS))
def test_every_job_has_a_timeout_and_the_workflow_a_concurrency_group(path: Path) -> None:
    assert "concurrency" in _load(path), f"{path.name}: a concurrency group is required"
    for name, job in _jobs(path).items():
        assert "timeout-minutes" in job, f"{path.name}: job {name} needs timeout-minutes"


@pytest.mark.parametrize("path", WORKFLOWS, ids=_ids(WORKFLOWS))
def test_no_banned_triggers(path: Path) -> None:
    triggers = _load(path)["on"]
    names = {triggers} if isinstance(triggers, str) else set(triggers)
    assert not names & BANNED_TRIGGERS, f"{path.name}: banned trigger {names & BANNED_TRIGGERS}"


@pytest.mark.parametrize("path", WORKFLOWS + ACTIONS, ids=_ids(WORKFLOWS + ACTIONS))
def test_remote_actions_are_sha_pinned_with_a_version_comment(path: Path) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    for step in _steps(path):
        uses = step.get("uses")
        if uses is None or uses.startswith("./"):
            continue
        assert PINNED.match(uses), f"{path.name}: `{uses}` must be pinned to a full commit sha"
        line = next(line for line in lines if uses in line)
        assert VERSION_COMMENT.search(line), f"{path.name}: `{uses}` needs a `# vX.Y.Z` comment"


@pytest.mark.parametrize("path", WORKFLOWS + ACTIONS, ids=_ids(WORKFLOWS + ACTIONS))
def test_checkouts_do_not_persist_credentials(path: Path) -> None:
    for step in _steps(path):
        if str(step.get("uses", "")).startswith("actions/checkout@"):
            assert step.get("with", {}).get("persist-credentials") == "false", path.name


@pytest.mark.parametrize("path", WORKFLOWS + ACTIONS, ids=_ids(WORKFLOWS + ACTIONS))
def test_no_expressions_inside_run_scripts(path: Path) -> None:
    # Every value reaches a script through `env:`, so no title, label or input can become shell code.
    for step in _steps(path):
        assert "${{" not in step.get("run", ""), f"{path.name}: `${{{{ }}}}` inside run: {step['run']!r}"


@pytest.mark.parametrize("path", WORKFLOWS, ids=_ids(WORKFLOWS))
def test_long_jobs_run_on_self_hosted_gpu_runners(path: Path) -> None:
    for name, job in _jobs(path).items():
        if int(job["timeout-minutes"]) > LONG_JOB_MINUTES:
            assert job["runs-on"] == ["self-hosted", "gpu"], (
                f"{path.name}: long job {name} needs a GPU runner"
            )


def test_each_workflow_has_one_always_run_aggregator_where_a_check_is_required() -> None:
    for name, aggregator, needs in (
        ("ci.yml", "ci-ok", "tests"),
        ("validation.yml", "validation-ok", "validate"),
    ):
        job = _jobs(ROOT / ".github" / "workflows" / name)[aggregator]
        assert job["if"] == "always()" and needs in job["needs"], f"{name}: {aggregator} must always run"


def test_validation_runs_only_for_the_validate_label_from_this_repository() -> None:
    job = _jobs(ROOT / ".github" / "workflows" / "validation.yml")["validate"]
    assert "github.event.label.name == 'validate'" in job["if"]
    assert "github.event.pull_request.head.repo.full_name == github.repository" in job["if"]
    assert _load(ROOT / ".github" / "workflows" / "validation.yml")["on"] == {
        "pull_request": {"types": ["labeled"]}
    }


def test_matrix_results_travel_as_artifacts_not_job_outputs() -> None:
    jobs = _jobs(ROOT / ".github" / "workflows" / "nightly-matrix.yml")
    assert "outputs" not in jobs["backtest"], "shard results must not pass through matrix job outputs"
    assert jobs["backtest"]["strategy"]["fail-fast"] == "false"
    uploads = [s for s in jobs["backtest"]["steps"] if "upload-artifact" in s.get("uses", "")]
    downloads = [s for s in jobs["aggregate"]["steps"] if "download-artifact" in s.get("uses", "")]
    assert uploads and downloads


def test_the_dashboard_is_an_artifact_and_pages_is_opt_in_with_its_rights_only_in_its_own_job() -> None:
    path = ROOT / ".github" / "workflows" / "nightly-matrix.yml"
    jobs = _jobs(path)
    aggregate = jobs["aggregate"]["steps"]
    build = next(s for s in aggregate if "tradeloop dashboard" in s.get("run", ""))
    assert '--summary "$GITHUB_STEP_SUMMARY"' in build["run"]
    assert any(
        s.get("with", {}).get("name") == "dashboard"
        for s in aggregate
        if "upload-artifact@" in s.get("uses", "")
    )
    [pages_upload] = [s for s in aggregate if "upload-pages-artifact@" in s.get("uses", "")]
    assert pages_upload["if"] == "${{ vars.TRADELOOP_PAGES == 'true' }}"  # off unless the repository opts in
    pages = jobs["pages"]
    assert "vars.TRADELOOP_PAGES == 'true'" in pages["if"] and pages["needs"] == "aggregate"
    assert pages["permissions"] == {"pages": "write", "id-token": "write"}
    assert pages["environment"]["name"] == "github-pages"
    assert [s["uses"].split("@")[0] for s in pages["steps"]] == ["actions/deploy-pages"]
    for name, job in jobs.items():
        if name != "pages":
            assert not {"pages", "id-token"} & set(job.get("permissions", {})), name


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed (it comes with the dev extra)")
    return found


def test_workflows_match_the_github_workflow_schema() -> None:
    command = [_tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *map(str, WORKFLOWS)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_zizmor_reports_nothing_of_medium_severity_or_above() -> None:
    command = [_tool("zizmor"), "--offline", "--min-severity", "medium", str(ROOT / ".github")]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
