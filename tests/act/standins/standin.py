"""Local stand-ins for the GitHub-hosted actions tradeloop's workflows use, for running them under ``act``.

act maps each pinned ``uses:`` to one of these folders with ``--local-repository``. They do for real what
the hosted action does, with local parts only:

- ``checkout``: clones the test's bare ``origin`` (``$TRADELOOP_ACT_ORIGIN``) at the event's commit;
- ``setup-python``: a fresh venv that also sees the test runner's packages, so ``pip install .`` is offline;
- ``upload-artifact`` / ``download-artifact``: act's artifact server (the v3 REST protocol of
  ``@actions/artifact`` 1.x), so jobs exchange files only through artifacts, as on GitHub; an upload sets
  the outputs ``artifact-id`` and ``artifact-url`` (``<server>/<repo>/actions/runs/<run>/artifacts/<id>``)
  as v4 does;
- ``upload-pages-artifact`` / ``deploy-pages``: the site as ``artifact.tar`` (hidden files left out, as the
  real action does) through the same artifact server, then unpacked by the deploy job into the test's local
  Pages folder (``$TRADELOOP_ACT_PAGES_DIR``), whose ``file://`` URL is the ``page_url`` output.

Standard library only: it runs on the host's ``python3``.
"""

from __future__ import annotations

import fnmatch
import json
import os
import subprocess
import sys
import sysconfig
import tarfile
import urllib.parse
import urllib.request
import zlib
from pathlib import Path
from typing import Any


def _env(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None:
        sys.exit(f"stand-in: ${name} is not set; the act test harness must pass it with --env")
    return value


def _git(*args: str, cwd: Path) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True)
    return done.stdout.strip()


def checkout() -> None:
    workspace = Path(_env("GITHUB_WORKSPACE"))
    origin = _env("TRADELOOP_ACT_ORIGIN")
    ref = os.environ.get("REF") or _env("GITHUB_SHA")
    workspace.mkdir(parents=True, exist_ok=True)
    if not (workspace / ".git").exists():
        _git("init", "-q", cwd=workspace)
        _git("remote", "add", "origin", origin, cwd=workspace)
    _git("fetch", "-q", "origin", "+refs/heads/*:refs/remotes/origin/*", cwd=workspace)
    _git("-c", "advice.detachedHead=false", "checkout", "-q", "--force", ref, cwd=workspace)
    print(f"checked out {_git('rev-parse', 'HEAD', cwd=workspace)} from the test origin")


def setup_python() -> None:
    host_site = _env("TRADELOOP_ACT_SITE_PACKAGES")
    venv = Path(_env("RUNNER_TEMP")) / "python"
    # No pip or setuptools of its own: both come from the runner's packages (newer than ensurepip's).
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    purelib = sysconfig.get_path("purelib", vars={"base": str(venv), "platbase": str(venv)})
    Path(purelib, "_tradeloop_act_host.pth").write_text(host_site + "\n", encoding="utf-8")
    with Path(_env("GITHUB_PATH")).open("a", encoding="utf-8") as path_file:
        path_file.write(f"{venv / 'bin'}\n")
    with Path(_env("GITHUB_ENV")).open("a", encoding="utf-8") as env_file:
        # The build backend comes from the runner's packages: no isolated build env, so no download.
        env_file.write("PIP_NO_BUILD_ISOLATION=false\nPIP_DISABLE_PIP_VERSION_CHECK=1\n")
    print(f"python {sys.version.split()[0]} in {venv}")


def _runtime_url(path: str) -> str:
    base = _env("ACTIONS_RUNTIME_URL")
    return f"{base.rstrip('/')}/_apis/pipelines/workflows/{_env('GITHUB_RUN_ID')}/{path}"


def _raw(method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> bytes:
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    request.add_header("Authorization", f"Bearer {_env('ACTIONS_RUNTIME_TOKEN')}")
    request.add_header("Accept", "application/json;api-version=6.0-preview")
    with urllib.request.urlopen(request, timeout=60) as response:
        data: bytes = response.read()
    return data


def _request(method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None) -> Any:
    data = _raw(method, url, body, headers)
    return json.loads(data) if data.strip() else {}


def upload_artifact() -> None:
    name, source = _env("NAME"), Path(_env("UPLOAD_PATH"))
    files = sorted(p for p in source.rglob("*") if p.is_file()) if source.is_dir() else [source]
    files = [p for p in files if p.exists()]
    if not files:
        message = f"no files found at {source}"
        if _env("IF_NO_FILES_FOUND", "warn") == "error":
            sys.exit(f"upload-artifact: {message}")
        print(f"upload-artifact: {message}; nothing uploaded")
        return
    created = _request(
        "POST",
        _runtime_url("artifacts"),
        json.dumps({"Name": name}).encode(),
        {"Content-Type": "application/json"},
    )
    container = created["fileContainerResourceUrl"]
    root = source if source.is_dir() else source.parent
    for path in files:
        item = urllib.parse.quote(f"{name}/{path.relative_to(root).as_posix()}")
        data = path.read_bytes()
        _request(
            "PUT",
            f"{container}?itemPath={item}",
            data,
            {
                "Content-Type": "application/octet-stream",
                "Content-Range": f"bytes 0-{len(data) - 1}/{len(data)}",
            },
        )
    _request(
        "PATCH",
        _runtime_url(f"artifacts?artifactName={urllib.parse.quote(name)}"),
        json.dumps({"Size": sum(p.stat().st_size for p in files)}).encode(),
        {"Content-Type": "application/json"},
    )
    artifact_id = created.get("containerId") or zlib.crc32(name.encode())
    run_page = f"{_env('GITHUB_SERVER_URL')}/{_env('GITHUB_REPOSITORY')}/actions/runs/{_env('GITHUB_RUN_ID')}"
    with Path(_env("GITHUB_OUTPUT")).open("a", encoding="utf-8") as outputs:
        outputs.write(f"artifact-id={artifact_id}\nartifact-url={run_page}/artifacts/{artifact_id}\n")
    print(f"uploaded artifact {name!r}: {len(files)} file(s)")


def download_artifact() -> None:
    wanted, pattern = os.environ.get("NAME", ""), os.environ.get("PATTERN", "")
    merge = os.environ.get("MERGE_MULTIPLE", "false") == "true"
    target = Path(os.environ.get("DOWNLOAD_PATH") or ".")
    listing = _request("GET", _runtime_url("artifacts"))
    artifacts = [a for a in listing.get("value", []) if _selected(a["name"], wanted, pattern)]
    if wanted and not artifacts:
        sys.exit(f"download-artifact: no artifact named {wanted!r}")
    for artifact in artifacts:
        items = _request(
            "GET", f"{artifact['fileContainerResourceUrl']}?itemPath={urllib.parse.quote(artifact['name'])}"
        )
        for item in items.get("value", []):
            if item.get("itemType") != "file":
                continue
            relative = Path(item["path"]).relative_to(artifact["name"])
            destination = target / relative if merge or wanted else target / artifact["name"] / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            destination.write_bytes(_raw("GET", item["contentLocation"]))
        print(f"downloaded artifact {artifact['name']!r}")


def upload_pages_artifact() -> None:
    site = Path(_env("SITE_PATH"))
    archive = Path(_env("RUNNER_TEMP")) / "pages" / "artifact.tar"
    archive.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "w") as tar:
        for path in sorted(site.rglob("*")):
            relative = path.relative_to(site)
            if path.is_file() and not any(part.startswith(".") for part in relative.parts):
                tar.add(path, arcname=f"./{relative.as_posix()}")
    os.environ["UPLOAD_PATH"], os.environ["IF_NO_FILES_FOUND"] = str(archive), "error"
    upload_artifact()


def deploy_pages() -> None:
    name, pages = _env("NAME"), Path(_env("TRADELOOP_ACT_PAGES_DIR"))
    scratch = Path(_env("RUNNER_TEMP")) / "deploy-pages"
    os.environ["DOWNLOAD_PATH"] = str(scratch)
    download_artifact()
    pages.mkdir(parents=True, exist_ok=True)
    with tarfile.open(scratch / "artifact.tar") as tar:
        tar.extractall(pages, filter="data")
    with Path(_env("GITHUB_OUTPUT")).open("a", encoding="utf-8") as outputs:
        outputs.write(f"page_url={pages.resolve().as_uri()}/\n")
    print(f"deployed {name!r} to {pages}")


def _selected(name: str, wanted: str, pattern: str) -> bool:
    if wanted:
        return name == wanted
    return fnmatch.fnmatch(name, pattern) if pattern else True


COMMANDS = {
    "checkout": checkout,
    "setup-python": setup_python,
    "upload-artifact": upload_artifact,
    "download-artifact": download_artifact,
    "upload-pages-artifact": upload_pages_artifact,
    "deploy-pages": deploy_pages,
}

if __name__ == "__main__":
    COMMANDS[sys.argv[1]]()
