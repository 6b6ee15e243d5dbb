"""GitHubForge: PyGithub over HTTP against the stand-in (a real bare repository behind it), no mocks."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request

import pytest

from gitops import BotIdentity, GitHubForge, build_commit
from gitops._git import auth_env
from tests.github_standin import GitHubEnv
from tradeloop.errors import ForgeError

CONSTANTS = "config/constants.py"


def _forge(env: GitHubEnv, **kwargs: object) -> GitHubForge:
    options = {"retries": 3, "backoff": 0.01, **kwargs}
    return GitHubForge(env.clone, env=env.env(), **options)  # type: ignore[arg-type]


def _branch_commit(forge: GitHubForge, files: dict[str, str]) -> str:
    base = forge.resolve("main")
    return build_commit(
        forge.repo, base, {k: v.encode() for k, v in files.items()}, "test change", forge.identity
    )


def _tuned_constants(env: GitHubEnv) -> str:
    text = env.bare.file_at("main", CONSTANTS)
    assert text is not None and '"ema_fast": 12,' in text
    return text.replace('"ema_fast": 12,', '"ema_fast": 13,')


def test_standin_rejects_a_request_without_the_token(github_env: GitHubEnv) -> None:
    url = f"{github_env.api_url}/repos/{github_env.repository}"
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(url)
    assert caught.value.code == 401
    assert json.loads(caught.value.read())["message"] == "Bad credentials"


def test_wrong_token_is_a_clear_error_naming_the_fix(github_env: GitHubEnv) -> None:
    forge = GitHubForge(github_env.clone, token="ghs_wrongTOKENvalue42", env=github_env.env(), retries=0)
    with pytest.raises(ForgeError) as caught:
        forge.find_open_pr("tradeloop/opt/x")
    message = str(caught.value)
    assert "401" in message and "TRADELOOP_GITHUB_TOKEN" in message and "read repository" in message
    assert "ghs_wrongTOKENvalue42" not in message


def test_missing_token_or_repository_is_refused(github_env: GitHubEnv) -> None:
    with pytest.raises(ForgeError, match="no token"):
        GitHubForge(github_env.clone, env={"GITHUB_REPOSITORY": "acme/bot"})
    with pytest.raises(ForgeError, match="not OWNER/NAME"):
        GitHubForge(github_env.clone, env={"GITHUB_TOKEN": "x", "GITHUB_REPOSITORY": "acme"})


def test_branch_pull_request_labels_comment_status_and_files(github_env: GitHubEnv) -> None:
    forge = _forge(github_env)
    sha = _branch_commit(forge, {CONSTANTS: _tuned_constants(github_env)})
    forge.push_branch("tradeloop/opt/t", sha)
    assert github_env.bare.branch_sha("tradeloop/opt/t") == sha
    assert forge.branch_head("tradeloop/opt/t") == sha
    assert forge.branch_head("no/such/branch") is None
    assert forge.commit_emails(sha) == (forge.identity.email, forge.identity.email)

    pr = forge.open_or_update(branch="tradeloop/opt/t", base="main", title="T", body="B", existing=None)
    assert (pr.number, pr.head_sha, pr.state) == (1, sha, "open")
    forge.add_labels(pr, ["tradeloop", "risk:low"])
    assert forge.find_open_pr("tradeloop/opt/t").labels == ("tradeloop", "risk:low")  # type: ignore[union-attr]
    assert forge.count_open_prs("tradeloop") == 1
    assert [(f.status, f.path) for f in forge.pr_files(pr)] == [("modified", CONSTANTS)]

    assert forge.comment_once(pr, "<!-- m -->", "first") == "created"
    assert forge.comment_once(pr, "<!-- m -->", "second") == "updated"
    assert [c["body"] for c in github_env.standin.comments.values()] == ["second\n\n<!-- m -->\n"]
    forge.set_status(sha, "success", context="tradeloop/validation", description="ok", target_url=None)
    assert github_env.standin.statuses[sha][0]["context"] == "tradeloop/validation"

    forge.close(pr, delete_branch=True)
    assert github_env.bare.branch_sha("tradeloop/opt/t") is None
    closed = forge.find_closed_prs("tradeloop/opt/t")
    assert [(p.number, p.merged) for p in closed] == [(1, False)]


def test_a_retried_create_never_opens_a_second_pull_request(github_env: GitHubEnv) -> None:
    forge = _forge(github_env)
    forge.push_branch("b", _branch_commit(forge, {CONSTANTS: _tuned_constants(github_env)}))
    first = forge.open_or_update(branch="b", base="main", title="T", body="one", existing=None)
    again = forge.open_or_update(branch="b", base="main", title="T", body="two", existing=None)
    assert again.number == first.number and again.body == "two"
    assert len(github_env.standin.open_prs()) == 1


@pytest.mark.parametrize(
    ("inject", "method", "route"),
    [
        ("500", "POST", r"/repos/acme/trading-bot/pulls"),
        ("502", "PATCH", r"/repos/acme/trading-bot/pulls/\d+"),
        ("rate-403", "GET", r"/repos/acme/trading-bot/pulls"),
        ("429", "GET", r"/repos/acme/trading-bot/pulls"),
    ],
)
def test_server_errors_and_rate_limits_are_retried(
    github_env: GitHubEnv, inject: str, method: str, route: str
) -> None:
    forge = _forge(github_env)
    forge.push_branch("b", _branch_commit(forge, {CONSTANTS: _tuned_constants(github_env)}))
    standin = github_env.standin
    if inject == "rate-403":
        standin.rate_limit(method, route, times=2)
    elif inject == "429":
        standin.rate_limit(method, route, times=2, kind="429")
    else:
        standin.fail(method, route, int(inject), times=2)
    pr = forge.find_open_pr("b")
    pr = forge.open_or_update(branch="b", base="main", title="T", body="one", existing=pr)
    forge.open_or_update(branch="b", base="main", title="T", body="two", existing=pr)
    assert len(standin.calls(method, route)) >= 3  # two injected answers, then the one that got through
    assert [p.body for p in standin.open_prs()] == ["two"]


def test_forbidden_is_not_retried_and_names_the_permission(github_env: GitHubEnv) -> None:
    forge = _forge(github_env)
    github_env.standin.fail("GET", r"/repos/acme/trading-bot/pulls", 403, message="Resource not accessible")
    with pytest.raises(ForgeError) as caught:
        forge.find_open_pr("b")
    assert len(github_env.standin.calls("GET", r"/repos/acme/trading-bot/pulls")) == 1
    assert "403 Resource not accessible" in str(caught.value) and "pull-requests: write" in str(caught.value)


def test_validation_failure_is_a_clear_error(github_env: GitHubEnv) -> None:
    forge = _forge(github_env)
    with pytest.raises(ForgeError) as caught:
        forge.open_or_update(branch="missing", base="main", title="T", body="B", existing=None)
    assert "422" in str(caught.value) and "open a pull request from missing into main" in str(caught.value)


def test_persistent_server_errors_give_up_with_a_clear_error(github_env: GitHubEnv) -> None:
    forge = _forge(github_env, retries=2)
    github_env.standin.fail("GET", r"/repos/acme/trading-bot/pulls", 503, times=10)
    with pytest.raises(ForgeError, match="gave up after 3 attempts"):
        forge.find_open_pr("b")
    assert len(github_env.standin.calls("GET", r"/repos/acme/trading-bot/pulls")) == 3


def test_the_token_never_appears_in_output_errors_reprs_or_requests(
    github_env: GitHubEnv, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = github_env.token
    forge = _forge(github_env, retries=1)
    forge.push_branch("b", _branch_commit(forge, {CONSTANTS: _tuned_constants(github_env)}))
    pr = forge.open_or_update(branch="b", base="main", title="T", body="B", existing=None)
    forge.comment_once(pr, "<!-- m -->", "hello")
    errors = []
    for status in (401, 403, 404, 422, 500):
        times = 2 if status == 500 else 1  # a 500 is retried once (retries=1)
        github_env.standin.fail(
            "GET", r"/repos/acme/trading-bot/pulls", status, times=times, message=f"no {token}"
        )
        with pytest.raises(ForgeError) as caught:
            forge.find_open_pr("b")
        errors.append(caught.value)
    with pytest.raises(ForgeError) as push_error:
        GitHubForge(github_env.clone, env=github_env.env(), remote="/nonexistent/remote").push_branch(
            "b", "0" * 40
        )
    errors.append(push_error.value)
    captured = capsys.readouterr()
    texts = [captured.out, captured.err, caplog.text, repr(forge), *map(str, errors), *map(repr, errors)]
    texts += [json.dumps([r.headers, r.body, r.path]) for r in github_env.standin.requests]
    assert all(token not in text for text in texts)
    assert "***" in str(errors[0])  # the injected message echoed the token; it was scrubbed
    assert len(github_env.standin.requests) >= 9  # every call above went over HTTP


def test_git_auth_goes_through_the_environment_not_argv() -> None:
    env = auth_env("s3cret")
    assert env["GIT_CONFIG_KEY_1"] == "http.extraheader" and env["GIT_CONFIG_VALUE_0"] == ""
    assert "s3cret" not in env["GIT_CONFIG_VALUE_1"]  # base64 of x-access-token:<token>
    assert BotIdentity().email.endswith("@users.noreply.github.com")
