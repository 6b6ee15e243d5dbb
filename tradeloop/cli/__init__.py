"""The ``tradeloop`` command line (typer + rich).

It is the composition root: the only code in ``tradeloop/`` that may import the stage packages, and it
does so lazily inside commands so that ``tradeloop --help`` stays fast.
"""

from __future__ import annotations

from tradeloop.cli._app import EXIT_ERROR, EXIT_FINDINGS, app, main

__all__ = ["EXIT_ERROR", "EXIT_FINDINGS", "app", "main"]
