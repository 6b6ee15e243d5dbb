"""``tradeloop cycle``: the whole loop on one machine, on the embedded data.

matrix run -> matrix merge (warehouse, flags, nightly report) -> propose (analyzer, budgeted search,
guardrails, re-backtest) -> validate -> pull request through the local forge (a dry run unless
``--apply``) -> summary.

Each step is the same command a workflow runs, called in-process, so the cycle and the workflows cannot drift
apart. Everything lands in ``<home>/cycle/``: the matrix logs and the Optuna study are kept there, so a second
cycle resumes the matrix (nothing left to run) and reloads the finished study instead of searching again.
"""

from __future__ import annotations

import contextlib
import io
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from tradeloop._atomic import atomic_write_text
from tradeloop._locks import exclusive_lock
from tradeloop.cli._checks import check_optimizer_options, check_storage
from tradeloop.cli._context import CliContext, get_context
from tradeloop.errors import SettingsError

__all__ = ["cycle"]

STEPS = ("matrix", "merge", "propose", "validate", "pull request")
# KPI rows of the closing table: (key, label with its unit).
KPI_ROWS = (
    ("sharpe", "Sharpe"),
    ("return_pct", "Return [%]"),
    ("max_drawdown_pct", "Max DD [%]"),
    ("win_rate_pct", "Win rate [%]"),
    ("profit_factor", "Profit factor"),
    ("trades", "Trades"),
)


class _Steps:
    """Runs each step's command in-process; with --json, collects each step's JSON document instead."""

    def __init__(self, ctx: typer.Context, cli: CliContext) -> None:
        self.ctx, self.cli = ctx, cli
        self.results: dict[str, Any] = {}

    def run(self, number: int, name: str, command: Callable[..., None], **options: Any) -> int:
        if not self.cli.json_output:
            self.cli.console.rule(f"[bold]{number}/{len(STEPS)} {name}")
        exit_code = 0
        buffer = io.StringIO()
        with self._captured(buffer):
            try:
                command(self.ctx, **options)
            except typer.Exit as done:  # validate exits 1 on a failed verdict
                exit_code = done.exit_code
        if self.cli.json_output:
            self.results[name] = json.loads(buffer.getvalue())
        return exit_code

    @contextlib.contextmanager
    def _captured(self, buffer: io.StringIO) -> Iterator[None]:
        if not self.cli.json_output:
            yield
            return
        with contextlib.redirect_stdout(buffer):
            yield


def _target(cli: CliContext, strategy: str | None, symbol: str | None) -> tuple[str, str, str]:
    from gitops import load_constants

    live = load_constants(cli.settings.constants_path).live_params
    pairs = [(s, x, str(p["timeframe"])) for s, symbols in live.items() for x, p in symbols.items()]
    chosen = [p for p in pairs if strategy in (None, p[0]) and symbol in (None, p[1])]
    if not chosen:
        listed = ", ".join(f"{s}/{x}" for s, x, _ in pairs)
        raise SettingsError(
            f"config/constants.py: LIVE_PARAMS has no live pair {strategy or '*'}/{symbol or '*'}; "
            f"live pairs: {listed}; pass --strategy and --symbol of one of them"
        )
    return chosen[0]


def cycle(
    ctx: typer.Context,
    strategy: Annotated[
        str | None, typer.Option("--strategy", "-s", help="Live strategy to optimise. \\[default: the first]")
    ] = None,
    symbol: Annotated[
        str | None, typer.Option("--symbol", help="Its live symbol. \\[default: the first]")
    ] = None,
    cadence: Annotated[
        str,
        typer.Option(
            "--cadence",
            help="Optimizer cadence; weekly searches the whole history, which daily bars need.",
        ),
    ] = "weekly",
    trials: Annotated[int, typer.Option("--trials", min=1, help="Stage B trials (the search budget).")] = 40,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the search and the bootstraps.")] = 0,
    reps: Annotated[
        int | None,
        typer.Option(
            "--reps", min=10, help="Bootstrap replications of validation. \\[default: BOOTSTRAP_REPLICATIONS]"
        ),
    ] = None,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Matrix worker processes.")] = 2,
    matrix: Annotated[
        Path | None,
        typer.Option("--matrix", help="Matrix definition. \\[default: backtest_matrix/matrix.yaml]"),
    ] = None,
    apply: Annotated[
        bool,
        typer.Option("--apply", help="Commit the proposal on its branch (local forge). Default: dry run."),
    ] = False,
) -> None:
    """Run the loop once on the embedded data: matrix, merge, propose, validate, pull request, summary."""
    cli = get_context(ctx)
    work = cli.settings.home / "cycle"
    strategy, symbol, timeframe = _check_first(cli, strategy, symbol, cadence, matrix)
    with exclusive_lock(
        work / ".cycle.lock", f"cycle: home {cli.settings.home} is in use by another cycle",
        fix="wait for that cycle to finish (this one then resumes its work), or pass another --home",
    ):  # fmt: skip
        _run_steps(
            ctx, cli, work, strategy, symbol, timeframe, cadence, trials, seed, reps, workers, matrix, apply
        )


def _check_first(
    cli: CliContext, strategy: str | None, symbol: str | None, cadence: str, matrix: Path | None
) -> tuple[str, str, str]:
    """Every option of the cycle, checked before its first step: the steps must not fail on them later."""
    from backtest_matrix.matrix import DEFAULT_MATRIX_PATH, DEFAULT_MAX_CELLS, load_matrix_spec
    from gitops import load_constants
    from optimizer import default_storage_url

    check_optimizer_options(cadence=cadence)
    target = _target(cli, strategy, symbol)
    spec = load_matrix_spec(
        matrix or DEFAULT_MATRIX_PATH, live_params=load_constants(cli.settings.constants_path).live_params
    )
    if spec.cell_count > DEFAULT_MAX_CELLS:
        raise SettingsError(
            f"{spec.source}: the matrix has {spec.cell_count:,} cells, above the cap of "
            f"{DEFAULT_MAX_CELLS:,} that a cycle runs; use a smaller --matrix, or run "
            "`tradeloop matrix run --max-cells N` on its own"
        )
    check_storage(default_storage_url(cli.settings.home))
    return target


def _run_steps(
    ctx: typer.Context,
    cli: CliContext,
    work: Path,
    strategy: str,
    symbol: str,
    timeframe: str,
    cadence: str,
    trials: int,
    seed: int,
    reps: int | None,
    workers: int,
    matrix: Path | None,
    apply: bool,
) -> None:
    from tradeloop.cli._matrix import run_command
    from tradeloop.cli._matrix_merge import merge
    from tradeloop.cli._propose import propose
    from tradeloop.cli._validate import validate

    steps = _Steps(ctx, cli)
    logs, proposal_path = work / "matrix-logs", work / "proposal" / "proposal.json"
    steps.run(1, "matrix", run_command, shard="1/1", out=logs, workers=workers, matrix=matrix,
              cell_timeout=60.0, memory_limit=2048)  # fmt: skip
    steps.run(2, "merge", merge, paths=[logs], run_id=None, report_dir=work / "report", summary=None,
              baseline_nights=7, min_nights=3, sharpe_drop=0.5, drift_z=3.5)  # fmt: skip
    steps.run(3, "propose", propose, strategy=strategy, symbol=symbol, timeframe=timeframe, cadence=cadence,
              out=proposal_path, trials=trials, seed=seed, storage=None, data=None, objective="sharpe",
              sampler="tpe", matrix=matrix)  # fmt: skip
    proposal = json.loads(proposal_path.read_text(encoding="utf-8"))
    verdict: dict[str, Any] | None = None
    if proposal["status"] == "proposed":
        steps.run(4, "validate", validate, proposal=proposal_path, out=proposal_path.parent, seed=seed,
                  reps=reps, capital_usd=None, search_record=None)  # fmt: skip
        verdict = json.loads((proposal_path.parent / "verdict.json").read_text(encoding="utf-8"))
    body_path = _pull_request(steps, cli, proposal, verdict, proposal_path, apply)
    _finish(cli, steps, proposal, verdict, work, body_path)


def _pull_request(
    steps: _Steps,
    cli: CliContext,
    proposal: dict[str, Any],
    verdict: dict[str, Any] | None,
    proposal_path: Path,
    apply: bool,
) -> Path | None:
    """Open the pull request when the verdict passed; write the body it has (or would have) either way."""
    from gitops import render_pr_body
    from tradeloop.cli._pr import open_pr

    if proposal["status"] != "proposed":
        body_path = None
    else:
        body = render_pr_body(
            proposal, verdict, run_url=None, report_url=None, base_branch="main", commit_sha=None
        )
        body_path = proposal_path.parent / "pr-body.md"
        atomic_write_text(body_path, body)
    if verdict is None or verdict["decision"] != "pass":
        if not cli.json_output:
            cli.console.rule(f"[bold]5/{len(STEPS)} pull request")
            cli.console.print("no pull request: " + _why_not(proposal, verdict))
        return body_path
    verdict_path = proposal_path.parent / "verdict.json"
    steps.run(5, "pull request", open_pr, proposal=proposal_path, verdict=verdict_path, forge="local",
              base=None, label=None, max_open_prs=5, run_url=None, report_url=None, dry_run=not apply,
              remote="origin", github_repository=None)  # fmt: skip
    return body_path


def _why_not(proposal: dict[str, Any], verdict: dict[str, Any] | None) -> str:
    if proposal["status"] != "proposed":
        return f"no change proposed: {proposal['reason']}"
    assert verdict is not None
    failed = [g["name"] for g in verdict["gates"] if g["gating"] and not g["passed"]]
    return f"validation failed ({', '.join(failed)})"


def _finish(
    cli: CliContext,
    steps: _Steps,
    proposal: dict[str, Any],
    verdict: dict[str, Any] | None,
    work: Path,
    body_path: Path | None,
) -> None:
    report = work / "report" / "report.html"
    decision = verdict["decision"] if verdict else "none"
    outcome = _why_not(proposal, verdict) if decision != "pass" else "validated: pull request ready"
    if cli.json_output:
        cli.emit_json({
            "ok": True, "decision": decision, "outcome": outcome, "proposal_status": proposal["status"],
            "proposal": str(work / "proposal" / "proposal.json"), "report": str(report),
            "pr_body": None if body_path is None else str(body_path), "steps": steps.results,
        })  # fmt: skip
        return
    console = cli.console
    console.rule("[bold]cycle")
    console.print(f"verdict: [bold]{decision}[/bold]: {outcome}")
    if proposal["status"] == "proposed":
        console.print(_kpi_table(proposal))
    console.print(f"report:  {report}")
    console.print(f"PR body: {body_path if body_path else '(no change proposed)'}")


def _kpi_table(proposal: dict[str, Any]) -> Table:
    before, after = proposal["kpis_before"]["overall"], proposal["kpis_after"]["overall"]
    title = f"{proposal['strategy']}/{proposal['symbol']} {proposal['timeframe']}: before -> after"
    table = Table("KPI", "before", "after", "Δ", title=title)
    for key, label in KPI_ROWS:
        old, new = before.get(key), after.get(key)
        digits = 0 if key == "trades" else 3  # a count, even when the engine reports it as a float
        delta = ""
        if isinstance(old, int | float) and isinstance(new, int | float):
            delta = f"{new - old:+.{digits}f}"
        table.add_row(label, _number(old, digits), _number(new, digits), delta)
    return table


def _number(value: Any, digits: int) -> str:
    return f"{value:.{digits}f}" if isinstance(value, int | float) else str(value)
