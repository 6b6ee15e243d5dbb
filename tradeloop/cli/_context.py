"""What every command receives: settings, output mode and a console."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.markup import escape

from tradeloop._provenance import canonical_json, json_safe
from tradeloop._secrets import environment_secrets, mask_secrets
from tradeloop._settings import Settings

if TYPE_CHECKING:
    from tradeloop.loop import Feedback

__all__ = ["CliContext", "feedback", "get_context", "print_check", "quiet_optuna"]


@dataclass
class CliContext:
    settings: Settings
    json_output: bool = False
    debug: bool = False
    console: Console = field(default_factory=lambda: Console(highlight=False, soft_wrap=True))

    def emit_json(self, payload: Any) -> None:
        """Write one JSON document to stdout (plain, so workflows can parse it). NaN and inf become null."""
        text = json.dumps(json.loads(canonical_json(json_safe(payload))), indent=2)
        text = mask_secrets(text, environment_secrets())
        sys.stdout.write(text + "\n")
        sys.stdout.flush()


def print_check(cli: CliContext, passed: bool, summary: str, errors: Iterable[object]) -> None:
    """A check's outcome for people: PASS or FAIL with its summary, then one line per error.

    The summary and the errors are printed as written: a ``[int]`` in ``Final[int]`` is text, not markup.
    """
    if passed:
        cli.console.print(f"[green]PASS[/green] {escape(summary)}")
        return
    cli.console.print(f"[red]FAIL[/red] {escape(summary)}")
    for error in errors:
        cli.console.print(f"  [red]error[/red] {escape(str(error))}")


def get_context(ctx: typer.Context) -> CliContext:
    root = ctx.find_root()
    obj = root.obj
    if not isinstance(obj, CliContext):  # a sub-app invoked on its own, as in some tests
        obj = CliContext(settings=Settings.from_env())
        root.obj = obj
    return obj


def quiet_optuna(cli: CliContext) -> None:
    """Keep Optuna's per-study INFO lines out of the command's output; ``--debug`` shows them."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.DEBUG if cli.debug else optuna.logging.WARNING)


def feedback(cli: CliContext) -> Feedback:
    """How a library call shows its progress: bars and status lines on the console unless --json; one-line
    notes to stderr under --json (stdout carries the JSON document only), else to the console."""
    from tradeloop.loop import Feedback

    if cli.json_output:
        return Feedback(console=cli.console, progress=False, echo=lambda line: typer.echo(line, err=True))
    return Feedback(console=cli.console, progress=True, echo=cli.console.print)
