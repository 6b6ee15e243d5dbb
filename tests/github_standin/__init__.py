"""A GitHub REST API stand-in for tests: PyGithub talks to it over HTTP; refs live in a real bare repo.

Use the ``github_env`` fixture (:mod:`tests.github_standin.fixtures`, registered in ``tests/conftest.py``):
it starts :class:`GitHubStandIn` on 127.0.0.1 with a bare ``origin`` seeded from copies of the shipped
``config/constants.py`` and ``feature_flags.json`` plus a source file, and a local clone to work in.
"""

from __future__ import annotations

from tests.github_standin._repo import HUMAN, BareRepo, git, seed_bare_repo
from tests.github_standin._server import GitHubStandIn, RecordedRequest
from tests.github_standin.fixtures import GitHubEnv, make_github_env

__all__ = [
    "HUMAN",
    "BareRepo",
    "GitHubEnv",
    "GitHubStandIn",
    "RecordedRequest",
    "git",
    "make_github_env",
    "seed_bare_repo",
]
