"""What the loop's calls share: how they report progress, the data they load, the forge they talk to."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tradeloop._settings import Settings
from tradeloop.errors import ForgeError, OptimizerError

if TYPE_CHECKING:
    from rich.console import Console

    from backtest_matrix.data import LoadedBars
    from gitops import Forge, LiveConstants

__all__ = ["QUIET", "Feedback", "actions_run_url", "load_source", "make_forge", "matrix_path", "pair_source"]


def _silent(line: str) -> None:
    del line


@dataclass(frozen=True)
class Feedback:
    """How a long call tells a person how it goes: progress bars and status lines on ``console`` (none when
    ``console`` is None or ``progress`` is off), and one-line notes through ``echo``."""

    console: Console | None = None
    progress: bool = False
    echo: Callable[[str], Any] = _silent

    @property
    def shown(self) -> bool:
        """Whether progress is drawn."""
        return self.progress and self.console is not None


#: No progress, no notes.
QUIET = Feedback()


def actions_run_url() -> str | None:
    """The workflow run's URL inside GitHub Actions, else ``None``."""
    parts = [os.environ.get(name) for name in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")]
    return f"{parts[0]}/{parts[1]}/actions/runs/{parts[2]}" if all(parts) else None


def make_forge(
    settings: Settings,
    kind: str | None,
    *,
    remote: str = "origin",
    repository: str | None = None,
    run_dir: Path | None = None,
) -> Forge:
    """The forge pull requests live on: ``github`` (when a token is set, by default) or ``local``."""
    from gitops import GitHubForge, LocalForge, github_token

    chosen = kind or ("github" if github_token() else "local")
    if chosen == "github":
        return GitHubForge(settings.repo, repository=repository, remote=remote)
    if chosen == "local":
        return LocalForge(settings.repo, home=settings.home, run_dir=run_dir)
    raise ForgeError(f"--forge {kind!r} is not a forge; use github or local")


def load_source(settings: Settings, source: str, timeframe: str, *, seed: int = 0) -> LoadedBars:
    """The bars of ``source`` at ``timeframe``, quality-checked, through the home's data cache."""
    from backtest_matrix import load_bars

    return load_bars(source, timeframe=timeframe, seed=seed, cache_dir=settings.cache_dir, check=True)


def matrix_path(settings: Settings) -> Path:
    """The matrix definition: the repository's ``backtest_matrix/matrix.yaml`` when it has one, else the copy
    tradeloop ships; so an edit of the repository's file counts with ``pip install .`` and ``--repo`` too."""
    own = settings.repo / "backtest_matrix" / "matrix.yaml"
    if own.is_file():
        return own
    from backtest_matrix.matrix import DEFAULT_MATRIX_PATH

    return DEFAULT_MATRIX_PATH


def pair_source(constants: LiveConstants, symbol: str, data: str | None, matrix: Path | None) -> str:
    """The data source of ``symbol``: ``data`` when given, else the matrix definition's ``symbols`` entry."""
    if data:
        return data
    from backtest_matrix.matrix import DEFAULT_MATRIX_PATH, load_matrix_spec

    spec = load_matrix_spec(matrix or DEFAULT_MATRIX_PATH, live_params=constants.live_params)
    if symbol not in spec.sources:
        raise OptimizerError(
            f"{spec.source}: symbols has no data source for {symbol!r}; add it there or pass --data SOURCE"
        )
    return str(spec.sources[symbol])
