"""A GitHub REST API stand-in: a threaded HTTP server speaking the JSON PyGithub expects.

Refs and commits live in a real bare repository (:class:`BareRepo`); pull requests, labels, comments and
statuses live in memory. Every request is recorded (the ``Authorization`` header left out) so tests can
count calls; faults can be injected per route for a number of attempts.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.github_standin._repo import BareRepo

Json = Any


class ApiError(Exception):
    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = dict(headers or {})


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: str

    @property
    def route(self) -> str:
        return urlsplit(self.path).path


@dataclass
class Fault:
    method: str
    pattern: re.Pattern[str]
    status: int
    times: int
    message: str
    headers: dict[str, str]
    hits: int = 0


@dataclass
class PullState:
    number: int
    title: str
    body: str
    head: str
    base: str
    state: str = "open"
    merged: bool = False
    merge_commit_sha: str | None = None
    head_sha: str = ""
    base_sha: str = ""
    labels: list[str] = field(default_factory=list)
    created_at: str = ""
    updated_at: str = ""
    closed_at: str | None = None
    auto_merge: str | None = None  # the merge method of an enabled auto-merge (GraphQL), or None


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class GitHubStandIn:
    """The API for one repository ``owner/name`` backed by ``bare``; requires ``token``."""

    def __init__(self, bare: BareRepo, *, owner: str, name: str, token: str, default_branch: str = "main"):
        self.bare = bare
        self.owner = owner
        self.name = name
        self.token = token
        self.default_branch = default_branch
        self.requests: list[RecordedRequest] = []
        self.pulls: dict[int, PullState] = {}
        self.comments: dict[int, dict[str, Any]] = {}
        self.statuses: dict[str, list[dict[str, Any]]] = {}
        #: The repository setting "Allow auto-merge"; off, GitHub refuses enablePullRequestAutoMerge.
        self.allow_auto_merge = True
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)
        self._lock = threading.RLock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._routes = _routes(f"/repos/{owner}/{name}")

    # -- lifecycle -----------------------------------------------------------------------------------------

    def start(self) -> GitHubStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- test controls -------------------------------------------------------------------------------------

    def fail(
        self,
        method: str,
        path_regex: str,
        status: int,
        *,
        times: int = 1,
        message: str = "injected failure",
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Answer the next ``times`` matching requests with ``status`` before handling any further ones."""
        with self._lock:
            self._faults.append(
                Fault(method.upper(), re.compile(path_regex), status, times, message, dict(headers or {}))
            )

    def rate_limit(self, method: str, path_regex: str, *, times: int = 1, kind: str = "primary") -> None:
        """A primary rate limit (403, remaining 0, reset now) or a 429 with ``Retry-After: 0``."""
        if kind == "429":
            self.fail(method, path_regex, 429, times=times, message="Too many requests",
                      headers={"Retry-After": "0"})  # fmt: skip
            return
        headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Limit": "5000",
                   "X-RateLimit-Reset": str(int(time.time()) - 1)}  # fmt: skip
        self.fail(method, path_regex, 403, times=times, headers=headers,
                  message="API rate limit exceeded for installation ID 1.")  # fmt: skip

    def calls(self, method: str, path_regex: str) -> list[RecordedRequest]:
        """Recorded requests (attempts included) with ``method`` whose path matches ``path_regex``."""
        pattern = re.compile(path_regex)
        with self._lock:
            return [r for r in self.requests if r.method == method.upper() and pattern.fullmatch(r.route)]

    def close_pr(self, number: int) -> None:
        """A human closes the pull request without merging."""
        with self._lock:
            self._close(self.pulls[number])

    def merge_pr(self, number: int, method: str = "merge") -> str:
        """A human merges the pull request (a real push to the base branch); return the base's new head.

        ``method`` is one of GitHub's three buttons: ``merge`` (a merge commit "Merge pull request #N from
        <branch>"), ``squash`` (one new commit "<title> (#N)") or ``rebase`` (the commits replayed).
        """
        with self._lock:
            pull = self.pulls[number]
            if method == "merge":
                sha = self.bare.human_merge(
                    pull.head, pull.base, f"Merge pull request #{number} from {pull.head}"
                )
            elif method == "squash":
                sha = self.bare.human_squash(pull.head, pull.base, f"{pull.title} (#{number})")
            elif method == "rebase":
                sha = self.bare.human_rebase(pull.head, pull.base)
            else:
                raise ValueError(f"merge method {method!r} is not merge, squash or rebase")
            pull.merged, pull.merge_commit_sha = True, sha
            self._close(pull)
            return sha

    def label_pr(self, number: int, label: str) -> None:
        """A human adds a label."""
        with self._lock:
            if label not in self.pulls[number].labels:
                self.pulls[number].labels.append(label)

    def open_prs(self) -> list[PullState]:
        with self._lock:
            return [p for p in self.pulls.values() if p.state == "open"]

    # -- request handling ----------------------------------------------------------------------------------

    def handle(
        self, method: str, raw_path: str, headers: Mapping[str, str], body: str
    ) -> tuple[int, Json, dict]:
        kept = {k: v for k, v in headers.items() if k.lower() != "authorization"}
        with self._lock:
            self.requests.append(RecordedRequest(method, raw_path, kept, body))
            auth = headers.get("Authorization") or headers.get("authorization") or ""
            if auth not in (f"token {self.token}", f"Bearer {self.token}"):
                return 401, {"message": "Bad credentials", "documentation_url": "https://docs.github.com"}, {}
            split = urlsplit(raw_path)
            fault = self._fault(method, split.path)
            if fault is not None:
                return fault.status, {"message": fault.message}, fault.headers
            query = {k: v[-1] for k, v in parse_qs(split.query).items()}
            try:
                payload = json.loads(body) if body else None
                for verb, pattern, action in self._routes:
                    match = pattern.fullmatch(split.path)
                    if verb == method and match:
                        status, data = action(self, [unquote(g) for g in match.groups()], query, payload)
                        return status, data, {}
                return 404, {"message": "Not Found"}, {}
            except ApiError as exc:
                return exc.status, {"message": exc.message}, exc.headers

    def _fault(self, method: str, path: str) -> Fault | None:
        for fault in self._faults:
            if fault.method == method and fault.pattern.fullmatch(path) and fault.hits < fault.times:
                fault.hits += 1
                return fault
        return None

    # -- JSON shapes -----------------------------------------------------------------------------------------

    @property
    def api_repo(self) -> str:
        return f"{self.url}/repos/{self.owner}/{self.name}"

    def repo_json(self) -> Json:
        return {
            "id": 1, "name": self.name, "full_name": f"{self.owner}/{self.name}",
            "owner": {"login": self.owner, "id": 1, "type": "Organization"},
            "url": self.api_repo, "html_url": f"{self.url}/{self.owner}/{self.name}",
            "default_branch": self.default_branch, "private": True, "clone_url": str(self.bare.path),
        }  # fmt: skip

    def commit_json(self, sha: str) -> Json:
        info = self.bare.commit(sha)
        return {
            "sha": info.sha,
            "url": f"{self.api_repo}/commits/{info.sha}",
            "commit": {
                "author": {"name": info.author_name, "email": info.author_email, "date": info.author_date},
                "committer": {
                    "name": info.committer_name,
                    "email": info.committer_email,
                    "date": info.committer_date,
                },
                "message": info.message,
                "tree": {"sha": info.tree},
            },
            "parents": [{"sha": p, "url": f"{self.api_repo}/commits/{p}"} for p in info.parents],
        }

    def ref_json(self, ref: str, sha: str) -> Json:
        target = {"sha": sha, "type": "commit", "url": f"{self.api_repo}/git/commits/{sha}"}
        return {"ref": ref, "url": f"{self.api_repo}/git/{ref}", "object": target}

    def label_json(self, name: str) -> Json:
        return {"id": abs(hash(name)) % 10**6, "name": name, "color": "ededed", "default": False,
                "url": f"{self.api_repo}/labels/{name}", "description": None}  # fmt: skip

    def pull_json(self, pull: PullState) -> Json:
        if pull.state == "open":
            pull.head_sha = self.bare.branch_sha(pull.head) or pull.head_sha
            pull.base_sha = self.bare.branch_sha(pull.base) or pull.base_sha
        return {
            "id": pull.number, "node_id": _node_id(pull.number), "number": pull.number, "state": pull.state,
            "title": pull.title,
            "body": pull.body, "url": f"{self.api_repo}/pulls/{pull.number}",
            "html_url": f"{self.url}/{self.owner}/{self.name}/pull/{pull.number}",
            "issue_url": f"{self.api_repo}/issues/{pull.number}",
            "head": {"ref": pull.head, "sha": pull.head_sha, "label": f"{self.owner}:{pull.head}",
                     "repo": self.repo_json()},
            "base": {"ref": pull.base, "sha": pull.base_sha, "label": f"{self.owner}:{pull.base}",
                     "repo": self.repo_json()},
            "labels": [self.label_json(n) for n in pull.labels], "merged": pull.merged,
            "merge_commit_sha": pull.merge_commit_sha, "user": {"login": "tradeloop-bot", "id": 2},
            "created_at": pull.created_at, "updated_at": pull.updated_at, "closed_at": pull.closed_at,
            "auto_merge": None if pull.auto_merge is None else {
                "enabled_by": {"login": "tradeloop-bot", "id": 2}, "merge_method": pull.auto_merge.lower(),
                "commit_title": None, "commit_message": None,
            },
        }  # fmt: skip

    def _close(self, pull: PullState) -> None:
        pull.head_sha = self.bare.branch_sha(pull.head) or pull.head_sha
        pull.state, pull.closed_at, pull.updated_at = "closed", _now(), _now()

    def pull(self, number: str) -> PullState:
        found = self.pulls.get(int(number))
        if found is None:
            raise ApiError(404, "Not Found")
        return found

    def next_id(self) -> int:
        return next(self._ids)


def _node_id(number: int) -> str:
    """The GraphQL global id of pull request ``number`` (GitHub's ``PR_…`` form)."""
    return f"PR_kwstandin{number}"


def _handler_for(standin: GitHubStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            status, data, extra = standin.handle(self.command, self.path, dict(self.headers.items()), body)
            payload = b"" if status == 204 else json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(payload)))
            for key, value in extra.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _serve  # noqa: N815

        def log_message(self, format: str, *args: Any) -> None:
            return

    return Handler


Action = Callable[[GitHubStandIn, list[str], dict[str, str], Json], tuple[int, Json]]


def _routes(prefix: str) -> list[tuple[str, re.Pattern[str], Action]]:
    from tests.github_standin import _routes as r

    table: list[tuple[str, str, Action]] = [
        ("GET", "/user", r.get_user),
        ("GET", "", r.get_repo),
        ("GET", "/git/ref/(.+)", r.get_ref),
        ("GET", "/git/refs/(.+)", r.get_ref),
        ("POST", "/git/refs", r.create_ref),
        ("PATCH", "/git/refs/(.+)", r.update_ref),
        ("DELETE", "/git/refs/(.+)", r.delete_ref),
        ("GET", "/branches/(.+)", r.get_branch),
        ("GET", "/commits/([^/]+)", r.get_commit),
        ("GET", "/commits/([^/]+)/statuses", r.list_statuses),
        ("GET", "/statuses/([^/]+)", r.list_statuses),
        ("POST", "/statuses/([0-9a-f]{40})", r.create_status),
        ("GET", "/pulls", r.list_pulls),
        ("POST", "/pulls", r.create_pull),
        ("GET", "/pulls/(\\d+)", r.get_pull),
        ("PATCH", "/pulls/(\\d+)", r.edit_pull),
        ("GET", "/pulls/(\\d+)/files", r.pull_files),
        ("GET", "/issues/(\\d+)/labels", r.list_labels),
        ("POST", "/issues/(\\d+)/labels", r.add_labels),
        ("DELETE", "/issues/(\\d+)/labels/([^/]+)", r.remove_label),
        ("GET", "/issues/(\\d+)/comments", r.list_comments),
        ("POST", "/issues/(\\d+)/comments", r.create_comment),
        ("GET", "/issues/comments/(\\d+)", r.get_comment),
        ("PATCH", "/issues/comments/(\\d+)", r.edit_comment),
        ("POST", "/graphql", r.graphql),
    ]
    compiled = []
    for method, suffix, action in table:
        path = suffix if suffix in ("/user", "/graphql") else prefix + suffix
        compiled.append((method, re.compile(path), action))
    return compiled
