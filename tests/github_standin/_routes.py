"""The stand-in's endpoints, one function per route: ``(standin, groups, query, body) -> (status, json)``.

They follow GitHub's documented behaviour where PyGithub and tradeloop depend on it: 422 for a second open
pull request of the same head and base or for a head branch that does not exist, deleting the head branch
of an open pull request closes it, and an open pull request's head follows its branch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tests.github_standin._server import ApiError, PullState, _now

if TYPE_CHECKING:
    from tests.github_standin._server import GitHubStandIn

Result = tuple[int, Any]
_STATUS_STATES = ("error", "failure", "pending", "success")


def _need(body: Any, *names: str) -> dict[str, Any]:
    if not isinstance(body, dict) or any(name not in body for name in names):
        raise ApiError(422, f"Validation Failed: {', '.join(names)} required")
    return body


def get_user(s: GitHubStandIn, groups: list[str], query: dict[str, str], body: Any) -> Result:
    return 200, {"login": "tradeloop-bot", "id": 2, "type": "Bot"}


def get_repo(s: GitHubStandIn, groups: list[str], query: dict[str, str], body: Any) -> Result:
    return 200, s.repo_json()


# -- refs and branches -----------------------------------------------------------------------------------


def get_ref(s: GitHubStandIn, groups: list[str], query: dict[str, str], body: Any) -> Result:
    ref = "refs/" + groups[0]
    sha = s.bare.rev_parse(ref) if ref in s.bare.refs() else None
    if sha is None:
        raise ApiError(404, "Not Found")
    return 200, s.ref_json(ref, sha)


def create_ref(s: GitHubStandIn, groups: list[str], query: dict[str, str], body: Any) -> Result:
    fields = _need(body, "ref", "sha")
    if fields["ref"] in s.bare.refs():
        raise ApiError(422, "Reference already exists")
    s.bare.update_ref(fields["ref"], fields["sha"])
    return 201, s.ref_json(fields["ref"], fields["sha"])


def update_ref(s: GitHubStandIn, groups: list[str], query: dict[str, str], body: Any) -> Result:
    fields = _need(body, "sha")
    ref = "refs/" + groups[0]
    current = s.bare.rev_parse(ref)
    if current is None:
        raise ApiError(422, "Reference does not exist")
    if not fields.get("force") and not s.bare.is_ancestor(current, fields["sha"]):
        raise ApiError(422, "Update is not a fast forward")
    s.bare.update_ref(ref, fields["sha"])
    return 200, s.ref_json(ref, fields["sha"])


def delete_ref(s: GitHubStandIn, groups: list[str], query: dict[str, str], body: Any) -> Result:
    ref = "refs/" + groups[0]
    if ref not in s.bare.refs():
        raise ApiError(422, "Reference does not exist")
    branch = ref.removeprefix("refs/heads/")
    for pull in s.pulls.values():
        if pull.state == "open" and pull.head == branch:
            s._close(pull)
    s.bare.delete_ref(ref)
    return 204, None


def get_branch(s: GitHubStandIn, groups: list[str], query: dict[str, str], body: Any) -> Result:
    sha = s.bare.branch_sha(groups[0])
    if sha is None:
        raise ApiError(404, "Branch not found")
    return 200, {"name": groups[0], "commit": s.commit_json(sha), "protected": False}


def get_commit(s: GitHubStandIn, groups: list[str], query: dict[str, str], body: Any) -> Result:
    sha = s.bare.rev_parse(groups[0])
    if sha is None:
        raise ApiError(422, f"No commit found for SHA: {groups[0]}")
    return 200, s.commit_json(sha)


# -- statuses ----------------------------------------------------------------------------------------------


def create_status(s: GitHubStandIn, groups: list[str], query: dict[str, str], body: Any) -> Result:
    fields = _need(body, "state")
    if fields["state"] not in _STATUS_STATES or s.bare.rev_parse(groups[0]) is None:
        raise ApiError(422, "Validation Failed: state or sha")
    status = {
        "id": s.next_id(), "state": fields["state"], "context": fields.get("context") or "default",
        "description": fields.get("description"), "target_url": fields.get("target_url"),
        "url": f"{s.api_repo}/statuses/{groups[0]}", "created_at": _now(), "updated_at": _now(),
    }  # fmt: skip
    s.statuses.setdefault(groups[0], []).insert(0, status)
    return 201, status


def list_statuses(s: GitHubStandIn, groups: list[str], query: dict[str, str], body: Any) -> Result:
    sha = s.bare.rev_parse(groups[0])
    return 200, list(s.statuses.get(sha or "", []))


# -- pulls -------------------------------------------------------------------------------------------------


def list_pulls(s: GitHubStandIn, groups: list[str], query: dict[str, str], body: Any) -> Result:
    state = query.get("state", "open")
    head = query.get("head")
    found = []
    for pull in sorted(s.pulls.values(), key=lambda p: -p.number):
        if state != "all" and pull.state != state:
            continue
        if head and head not in (f"{s.owner}:{pull.head}", pull.head):
            continue
        if query.get("base") and pull.base != query["base"]:
            continue
        found.append(s.pull_json(pull))
    return 200, found


def create_pull(s: GitHubStandIn, groups: list[str], query: dict[str, str], body: Any) -> Result:
    fields = _need(body, "title", "head", "base")
    head = fields["head"].split(":", 1)[-1]
    if s.bare.branch_sha(head) is None or s.bare.branch_sha(fields["base"]) is None:
        raise ApiError(422, "Validation Failed: head or base branch does not exist")
    if any(p.state == "open" and p.head == head and p.base == fields["base"] for p in s.pulls.values()):
        raise ApiError(422, f"Validation Failed: A pull request already exists for {s.owner}:{head}.")
    number = s.next_id()
    pull = PullState(number, fields["title"], fields.get("body") or "", head, fields["base"],
                     created_at=_now(), updated_at=_now())  # fmt: skip
    s.pulls[number] = pull
    return 201, s.pull_json(pull)


def get_pull(s: GitHubStandIn, groups: list[str], query: dict[str, str], body: Any) -> Result:
    return 200, s.pull_json(s.pull(groups[0]))


def edit_pull(s: GitHubStandIn, groups: list[str], query: dict[str, str], body: Any) -> Result:
    pull = s.pull(groups[0])
    fields = _need(body)
    if "title" in fields:
        pull.title = fields["title"]
    if "body" in fields:
        pull.body = fields["body"]
    if fields.get("state") == "closed" and pull.state == "open":
        s._close(pull)
    elif fields.get("state") == "open" and pull.state == "closed" and not pull.merged:
        pull.state, pull.closed_at = "open", None
    pull.updated_at = _now()
    return 200, s.pull_json(pull)


def pull_files(s: GitHubStandIn, groups: list[str], query: dict[str, str], body: Any) -> Result:
    pull = s.pull(groups[0])
    data = s.pull_json(pull)
    rows = s.bare.changed_files(data["base"]["sha"], data["head"]["sha"])
    return 200, [
        {"sha": data["head"]["sha"], "filename": path, "status": status, "additions": 0, "deletions": 0,
         "changes": 0, "blob_url": "", "raw_url": "", "contents_url": ""}
        for status, path in rows
    ]  # fmt: skip


# -- labels and comments -----------------------------------------------------------------------------------


def list_labels(s: GitHubStandIn, groups: list[str], query: dict[str, str], body: Any) -> Result:
    return 200, [s.label_json(name) for name in s.pull(groups[0]).labels]


def add_labels(s: GitHubStandIn, groups: list[str], query: dict[str, str], body: Any) -> Result:
    names = body.get("labels") if isinstance(body, dict) else body
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        raise ApiError(422, "Validation Failed: labels must be a list of names")
    pull = s.pull(groups[0])
    pull.labels.extend(n for n in names if n not in pull.labels)
    return 200, [s.label_json(name) for name in pull.labels]


def remove_label(s: GitHubStandIn, groups: list[str], query: dict[str, str], body: Any) -> Result:
    pull = s.pull(groups[0])
    if groups[1] not in pull.labels:
        raise ApiError(404, "Label does not exist")
    pull.labels.remove(groups[1])
    return 200, [s.label_json(name) for name in pull.labels]


def _comment_json(s: GitHubStandIn, comment: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": comment["id"], "body": comment["body"], "url": f"{s.api_repo}/issues/comments/{comment['id']}",
        "html_url": f"{s.url}/{s.owner}/{s.name}/pull/{comment['issue']}#issuecomment-{comment['id']}",
        "issue_url": f"{s.api_repo}/issues/{comment['issue']}", "user": {"login": "tradeloop-bot", "id": 2},
        "created_at": comment["created_at"], "updated_at": comment["updated_at"],
    }  # fmt: skip


def list_comments(s: GitHubStandIn, groups: list[str], query: dict[str, str], body: Any) -> Result:
    number = s.pull(groups[0]).number
    return 200, [_comment_json(s, c) for c in s.comments.values() if c["issue"] == number]


def create_comment(s: GitHubStandIn, groups: list[str], query: dict[str, str], body: Any) -> Result:
    fields = _need(body, "body")
    number = s.pull(groups[0]).number
    comment = {"id": s.next_id(), "issue": number, "body": fields["body"], "created_at": _now(),
               "updated_at": _now()}  # fmt: skip
    s.comments[comment["id"]] = comment
    return 201, _comment_json(s, comment)


def get_comment(s: GitHubStandIn, groups: list[str], query: dict[str, str], body: Any) -> Result:
    comment = s.comments.get(int(groups[0]))
    if comment is None:
        raise ApiError(404, "Not Found")
    return 200, _comment_json(s, comment)


def graphql(s: GitHubStandIn, groups: list[str], query: dict[str, str], body: Any) -> Result:
    """``POST /graphql``: the one mutation tradeloop sends, ``enablePullRequestAutoMerge`` (PyGithub's
    ``PullRequest.enable_automerge``). GraphQL answers 200 with ``errors`` for a refused mutation."""
    fields = _need(body, "query")
    text = str(fields["query"])
    if "enablePullRequestAutoMerge" not in text:
        return 200, {"errors": [{"type": "UNSUPPORTED", "message": "the stand-in knows one mutation"}]}
    request = (fields.get("variables") or {}).get("input") or {}
    pull = next(
        (p for p in s.pulls.values() if f"PR_kwstandin{p.number}" == request.get("pullRequestId")), None
    )
    if pull is None:
        return 200, {"errors": [{"type": "NOT_FOUND", "message": "Could not resolve to a node"}]}
    if not s.allow_auto_merge:
        refused = "Pull request Auto merge is not allowed for this repository"
        return 200, {"errors": [{"type": "UNPROCESSABLE", "message": refused}]}
    if pull.state != "open":
        return 200, {"errors": [{"type": "UNPROCESSABLE", "message": "Pull request is closed"}]}
    pull.auto_merge = str(request.get("mergeMethod") or "MERGE")
    return 200, {"data": {"enablePullRequestAutoMerge": {
        "actor": {"avatarUrl": "", "login": "tradeloop-bot", "resourcePath": "/tradeloop-bot", "url": ""},
        "clientMutationId": request.get("clientMutationId"),
    }}}  # fmt: skip


def edit_comment(s: GitHubStandIn, groups: list[str], query: dict[str, str], body: Any) -> Result:
    fields = _need(body, "body")
    comment = s.comments.get(int(groups[0]))
    if comment is None:
        raise ApiError(404, "Not Found")
    comment["body"], comment["updated_at"] = fields["body"], _now()
    return 200, _comment_json(s, comment)
