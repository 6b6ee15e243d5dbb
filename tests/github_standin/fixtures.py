"""pytest fixtures for the stand-in: a running server, its bare ``origin`` and a local clone."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.github_standin._repo import HUMAN, BareRepo, git, identity_args, seed_bare_repo
from tests.github_standin._server import GitHubStandIn

REPO_ROOT = Path(__file__).resolve().parents[2]
TOKEN = "ghs_standinSECRETtoken0123456789abcdef"
OWNER, NAME = "acme", "trading-bot"
SOURCE_FILE = "bot/strategy.py"


@dataclass
class GitHubEnv:
    """What a forge test needs: the server, its bare repository, a clone and the credentials."""

    standin: GitHubStandIn
    bare: BareRepo
    clone: Path
    token: str = TOKEN
    repository: str = f"{OWNER}/{NAME}"

    @property
    def api_url(self) -> str:
        return self.standin.url

    def env(self) -> dict[str, str]:
        """The environment a workflow step would see."""
        return {
            "GITHUB_TOKEN": self.token,
            "GITHUB_API_URL": self.api_url,
            "GITHUB_REPOSITORY": self.repository,
        }


def seed_files() -> dict[str, str]:
    return {
        "config/constants.py": (REPO_ROOT / "config" / "constants.py").read_text(),
        "feature_flags.json": (REPO_ROOT / "feature_flags.json").read_text(),
        SOURCE_FILE: "def signal(bar):\n    return bar.close > bar.open\n",
        "README.md": "# trading bot\n",
    }


def make_github_env(root: Path) -> GitHubEnv:
    """Seed a bare repository under ``root``, clone it and start the stand-in (call ``standin.stop()``)."""
    bare = seed_bare_repo(root, seed_files())
    clone = root / "clone"
    git("clone", "--quiet", str(bare.path), str(clone), cwd=root)
    for key, value in zip(("user.name", "user.email"), HUMAN, strict=True):
        git("config", key, value, cwd=clone)
    git(*identity_args(*HUMAN), "config", "commit.gpgsign", "false", cwd=clone)
    standin = GitHubStandIn(bare, owner=OWNER, name=NAME, token=TOKEN).start()
    return GitHubEnv(standin=standin, bare=bare, clone=clone)


@pytest.fixture
def github_env(tmp_path: Path) -> Iterator[GitHubEnv]:
    env = make_github_env(tmp_path / "github")
    try:
        yield env
    finally:
        env.standin.stop()
