"""``tradeloop version``."""

from __future__ import annotations

import platform
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version

import typer

from tradeloop._provenance import git_sha
from tradeloop.cli._context import get_context

_COMPONENTS = ("numpy", "pandas", "numba", "optuna", "sqlalchemy", "arch")


def _installed(name: str) -> str | None:
    try:
        return package_version(name)
    except PackageNotFoundError:
        return None


def version(ctx: typer.Context) -> None:
    cli = get_context(ctx)
    own = _installed("tradeloop") or "0.0.0+unknown"
    python = platform.python_version()
    sha = git_sha(cli.settings.repo)
    components = {name: _installed(name) for name in _COMPONENTS}
    if cli.json_output:
        cli.emit_json({"tradeloop": own, "python": python, "git_sha": sha, "components": components})
        return
    cli.console.print(f"tradeloop {own} (python {python}, git {sha})")
    for name, ver in components.items():
        cli.console.print(f"  {name:<11} {ver or 'not installed'}")
