"""The root ``tradeloop`` command: global options and the translation of errors into exit codes."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from typer._click.exceptions import UsageError
from typer.core import TyperGroup

from tradeloop._atomic import write_error
from tradeloop._secrets import environment_secrets, install_log_masking, mask_secrets
from tradeloop._settings import DEFAULT_HOME, Settings
from tradeloop.cli._context import CliContext
from tradeloop.errors import TradeloopError

__all__ = ["EXIT_ERROR", "EXIT_FINDINGS", "app", "main"]

EXIT_FINDINGS = 1  # a check ran and found errors in the data or state
EXIT_ERROR = 2  # a TradeloopError (bad input, missing file, ...) or a usage error


class _ErrorHandlingGroup(TyperGroup):
    """Turns an error into one line on stderr and exit code 2 (``--debug`` re-raises).

    A :class:`TradeloopError` carries its own message. An ``OSError`` or ``MemoryError`` that no writer or
    reader translated is a fault of the environment (a full disk, a file-size limit, exhausted memory), not
    a bug, so it gets the same one-line treatment naming the file and the cause. Every line is masked
    (:func:`tradeloop._secrets.mask_secrets`): no password or token reaches the output.
    """

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        # At the root, `tradeloop deploy plan --json` means `tradeloop --json deploy plan`.
        if ctx.parent is None:
            args = _global_flags_first(args)
        return super().parse_args(ctx, args)

    def invoke(self, ctx: Any) -> Any:  # typer vendors click; its Context class is private
        try:
            return super().invoke(ctx)
        except UsageError as exc:  # a bad option of a command: one line too, naming the option and --help
            if ctx.obj is None:  # an unknown command stops before the root's callback makes the context
                ctx.obj = CliContext(
                    settings=Settings(home=Path(DEFAULT_HOME), repo=Path()),
                    json_output=bool(ctx.params.get("json_output")),
                    debug=bool(ctx.params.get("debug")),
                )
            if isinstance(ctx.obj, CliContext) and ctx.obj.debug:
                raise
            where = exc.ctx.command_path if exc.ctx is not None else "tradeloop"
            what = exc.format_message().strip()
            if not what and exc.ctx is not None and isinstance(exc.ctx.command, TyperGroup):
                # a group without its command (`tradeloop data`): click printed the help and no message
                names = exc.ctx.command.list_commands(exc.ctx)
                what = f"`{where}` needs a command: {', '.join(names)}"
            _fail(ctx, "UsageError", f"{what} (see `{where} --help`)")
        except BrokenPipeError:  # the reader went away (`tradeloop ... | head`): stop quietly, as Unix does
            _silence_stdout()
            ctx.exit(EXIT_FINDINGS)
        except (TradeloopError, OSError, MemoryError) as exc:
            obj = ctx.obj
            if isinstance(obj, CliContext) and obj.debug:
                raise
            _fail(ctx, *_describe(exc))


_GLOBAL_FLAGS = frozenset({"--json", "--debug"})


def _global_flags_first(args: list[str]) -> list[str]:
    """The global flags ``--json`` and ``--debug`` moved before the command name, wherever they stand.

    Both are options of the root and take no value, so a user may write them after the command, as the
    docs do (`tradeloop matrix plan --shards 4 --json`); arguments after ``--`` stay as they are.
    """
    end = args.index("--") if "--" in args else len(args)
    head = args[:end]
    flags = [arg for arg in head if arg in _GLOBAL_FLAGS]
    return [*flags, *(arg for arg in head if arg not in _GLOBAL_FLAGS), *args[end:]]


def _silence_stdout() -> None:
    """Point stdout at the null device, so that the flush at exit does not fail on the closed pipe again."""
    try:
        fileno = sys.stdout.fileno()
    except (OSError, ValueError):  # not a file (a test runner's buffer): nothing will flush to a pipe
        return
    os.dup2(os.open(os.devnull, os.O_WRONLY), fileno)


def _fail(ctx: Any, kind: str, text: str) -> None:
    """Print ``error: <text>`` on one line (masked; a JSON error document too under --json), exit 2."""
    message = mask_secrets(" ".join(text.split()), environment_secrets())
    obj = ctx.obj
    if isinstance(obj, CliContext) and obj.json_output:
        obj.emit_json({"ok": False, "error": {"type": kind, "message": message}})
    typer.echo(f"error: {message}", err=True)
    ctx.exit(EXIT_ERROR)


def _describe(exc: BaseException) -> tuple[str, str]:
    """The error's type name and its message, for an error the product did not raise on purpose too."""
    if isinstance(exc, TradeloopError):
        return type(exc).__name__, str(exc)
    if isinstance(exc, MemoryError):
        return "MemoryError", (
            f"out of memory ({exc or 'an allocation was refused'}); use smaller inputs (fewer bars, cells or "
            "combinations) or raise the memory limit"
        )
    assert isinstance(exc, OSError)
    where = exc.filename if exc.filename is not None else "a file"
    return type(exc).__name__, str(write_error(where, exc, "input/output failed"))


app = typer.Typer(
    name="tradeloop",
    cls=_ErrorHandlingGroup,
    help="Keep a trading bot's parameters improving in small, validated, reversible steps.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root(
    ctx: typer.Context,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one machine-readable JSON document on stdout.")
    ] = False,
    home: Annotated[
        Path | None,
        typer.Option(
            "--home",
            envvar="TRADELOOP_HOME",
            help="Local state directory: data cache, logs, databases, reports. \\[default: .tradeloop/]",
            show_default=False,
        ),
    ] = None,
    repo: Annotated[
        Path | None,
        typer.Option(
            "--repo",
            envvar="TRADELOOP_REPO",
            help="Repository holding config/constants.py and feature_flags.json. \\[default: .]",
            show_default=False,
        ),
    ] = None,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show full tracebacks instead of one-line errors.")
    ] = False,
) -> None:
    install_log_masking()
    # The context exists before settings are validated, so --debug and --json apply to their errors too.
    ctx.obj = CliContext(
        settings=Settings(home=Path(DEFAULT_HOME), repo=Path()), json_output=json_output, debug=debug
    )
    ctx.obj.settings = Settings.from_env().with_overrides(home=home, repo=repo)


def _register_commands() -> None:
    from tradeloop.cli import (
        _backtest,
        _cycle,
        _dashboard,
        _data,
        _demo,
        _deploy,
        _ensemble,
        _loadouts,
        _matrix,
        _matrix_merge,
        _memory,
        _monitor,
        _optimize,
        _paper,
        _pr,
        _propose,
        _regime,
        _state,
        _validate,
        _version,
    )

    app.command("version", help="Show the versions of tradeloop, its engines and the code's git sha.")(
        _version.version
    )
    app.command("backtest")(_backtest.backtest)
    app.command("sweep")(_backtest.sweep)
    app.command("strategies")(_backtest.strategies)
    app.add_typer(_data.data_app, name="data")
    app.add_typer(_state.state_app, name="state")
    _state.state_app.command("memory")(_memory.show_memory)
    app.add_typer(_matrix.matrix_app, name="matrix")
    _matrix.matrix_app.command("merge")(_matrix_merge.merge)
    app.add_typer(_regime.regime_app, name="regime")
    app.command("optimize")(_optimize.optimize)
    app.command("propose")(_propose.propose)
    app.command("validate")(_validate.validate)
    app.add_typer(_pr.pr_app, name="pr")
    app.command("rollback")(_pr.rollback)
    app.command("cycle")(_cycle.cycle)
    app.command("dashboard")(_dashboard.build_dashboard)
    app.add_typer(_deploy.deploy_app, name="deploy")
    app.command("monitor")(_monitor.monitor)
    app.command("notify")(_monitor.notify)
    app.add_typer(_ensemble.ensemble_app, name="ensemble")
    app.add_typer(_loadouts.loadouts_app, name="loadouts")
    app.add_typer(_paper.paper_app, name="paper")
    app.add_typer(_demo.demo_app, name="demo")


_register_commands()


def main() -> None:
    """Console-script entry point."""
    app()
