"""The GitHub side of the act tests: the API stand-in over an :class:`ActRepo`'s bare ``origin``.

Inside an act job the checkout's remote ``origin`` is that bare repository, so the GitHub forge's
``git push origin`` lands where the stand-in reads its refs, and ``GITHUB_API_URL`` /
``GITHUB_REPOSITORY`` (passed with ``--env``; act keeps both as given) point the forge at the stand-in.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

from tests.act.harness import BOT, ActRepo, git
from tests.github_standin._repo import BareRepo
from tests.github_standin._server import GitHubStandIn
from tests.gitops.constants_text import ensemble_demo

OWNER, NAME = "acme", "trading-bot"
REPOSITORY = f"{OWNER}/{NAME}"
TOKEN = "ghs_actSECRETtoken0123456789abcdef"

#: The demo pair: rsi_reversion on the seeded mean-reverting market, its live bands churning into costs, so
#: the optimizer finds a real improvement that passes validation with the shipped thresholds.
DEMO_LIVE_PAIR = """\
LIVE_PARAMS: Final = {
    "rsi_reversion": {
        "DEMO": {
            "timeframe": "15m",
            "overbought": 55.0,
            "oversold": 35.0,
            "rsi_period": 6,
            "trade_fraction": 0.1,
        },
    },
}
"""


def demo_constants(text: str) -> str:
    """``config/constants.py`` with only the demo pair live; every threshold stays as shipped."""
    start = text.index("LIVE_PARAMS: Final = {")
    end = text.index("\n}\n", start) + 3
    return text[:start] + DEMO_LIVE_PAIR + text[end:]


def demo_matrix(text: str) -> str:
    """``backtest_matrix/matrix.yaml`` with the demo symbol's source (the seeded ``reverting`` market)."""
    if "  DEMO: reverting\n" in text:  # the shipped matrix has it
        return text
    marker = "symbols:\n"
    assert marker in text
    return text.replace(marker, marker + "  DEMO: reverting\n", 1)


def demo_files(repo: ActRepo) -> dict[str, str]:
    """The two files a test commits to make the demo pair the repository's only live pair."""
    constants = (repo.work / "config" / "constants.py").read_text(encoding="utf-8")
    matrix = (repo.work / "backtest_matrix" / "matrix.yaml").read_text(encoding="utf-8")
    return {
        "config/constants.py": demo_constants(constants),
        "backtest_matrix/matrix.yaml": demo_matrix(matrix),
    }


def ensemble_demo_files(repo: ActRepo) -> dict[str, str]:
    """The files a test commits to make the ensemble demo (three strategies on DEMO, stale weights; see
    ``tests/gitops/constants_text.py``) the repository's only live pairs."""
    files = demo_files(repo)
    files["config/constants.py"] = ensemble_demo((repo.work / "config" / "constants.py").read_text("utf-8"))
    return files


def act_env(standin: GitHubStandIn, tmp_numba: str) -> dict[str, str]:
    return {
        "GITHUB_API_URL": standin.url,
        "GITHUB_REPOSITORY": REPOSITORY,
        "NUMBA_CACHE_DIR": tmp_numba,
    }


@contextmanager
def standin_for(repo: ActRepo) -> Iterator[GitHubStandIn]:
    """A running stand-in for ``acme/trading-bot`` backed by ``repo.origin``."""
    standin = GitHubStandIn(BareRepo(repo.origin), owner=OWNER, name=NAME, token=TOKEN).start()
    try:
        yield standin
    finally:
        standin.stop()


def push_branch(repo: ActRepo, branch: str, files: dict[str, str], message: str) -> str:
    """A maintainer's branch off ``main`` with ``files`` changed, pushed to ``origin``; its head sha."""
    git("checkout", "-q", "-b", branch, "main", cwd=repo.work)
    try:
        for name, text in files.items():
            (repo.work / name).parent.mkdir(parents=True, exist_ok=True)
            (repo.work / name).write_text(text, encoding="utf-8")
        git("add", "-A", cwd=repo.work)
        git("commit", "-q", "-m", message, cwd=repo.work, env=BOT)
        git("push", "-q", "origin", f"HEAD:refs/heads/{branch}", cwd=repo.work)
        return git("rev-parse", "HEAD", cwd=repo.work)
    finally:
        git("checkout", "-q", "main", cwd=repo.work)


def open_pull_request(standin: GitHubStandIn, *, head: str, title: str, base: str = "main") -> int:
    """``POST /repos/{owner}/{name}/pulls`` over HTTP, as a person or bot would; the new number."""
    request = urllib.request.Request(
        f"{standin.url}/repos/{REPOSITORY}/pulls",
        data=json.dumps({"head": head, "base": base, "title": title, "body": "by hand"}).encode(),
        method="POST",
        headers={"Authorization": f"token {TOKEN}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return int(json.load(response)["number"])


def labeled_event(standin: GitHubStandIn, number: int, label: str, *, title: str) -> dict[str, object]:
    """The ``pull_request`` payload of action ``labeled`` for pull request ``number`` (same repository)."""
    pull = standin.pulls[number]
    head_sha, base_sha = standin.bare.branch_sha(pull.head), standin.bare.branch_sha(pull.base)
    repository = {"full_name": REPOSITORY, "name": NAME, "owner": {"login": OWNER}}
    return {
        "action": "labeled",
        "number": number,
        "label": {"name": label},
        "repository": repository,
        "pull_request": {
            "number": number,
            "title": title,
            "labels": [{"name": label}],
            "head": {"ref": pull.head, "sha": head_sha, "repo": repository},
            "base": {"ref": pull.base, "sha": base_sha, "repo": repository},
        },
    }


def merge_at(standin: GitHubStandIn, repo: ActRepo, number: int, at: str) -> str:
    """A person merges pull request ``number`` with a merge commit dated ``at`` (ISO 8601), as GitHub's merge
    button would at that time: pushed to the base on ``origin``, the pull request recorded merged; its sha."""
    pull = standin.pulls[number]
    dated = {**BOT, "GIT_AUTHOR_DATE": at, "GIT_COMMITTER_DATE": at}
    git("checkout", "-q", pull.base, cwd=repo.work)
    git("pull", "-q", "--ff-only", "origin", pull.base, cwd=repo.work)
    git("fetch", "-q", "origin", f"refs/heads/{pull.head}", cwd=repo.work)
    message = f"Merge pull request #{number} from {pull.head}"
    git("merge", "-q", "--no-ff", "-m", message, "FETCH_HEAD", cwd=repo.work, env=dated)
    git("push", "-q", "origin", f"HEAD:{pull.base}", cwd=repo.work)
    sha = git("rev-parse", "HEAD", cwd=repo.work)
    with standin._lock:
        pull.merged, pull.merge_commit_sha = True, sha
        standin._close(pull)
    return sha
