"""``tradeloop cycle``: the whole loop on one machine, on the embedded data.

matrix run -> matrix merge (warehouse, flags, nightly report) -> for every live pair: propose (analyzer,
holdout, budgeted search, guardrails, re-backtest) -> validate -> pull request through the local forge (a
dry run unless ``--apply``) -> summary.

Each step is the same command a workflow runs, called in-process, so the cycle and the workflows cannot drift
apart. Everything lands in ``<home>/cycle/``: the matrix logs and the Optuna study are kept there, so a second
cycle resumes the matrix (nothing left to run) and reloads the finished study instead of searching again.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
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

    def __init__(self, ctx: typer.Context, cli: CliContext, label: str = "") -> None:
        self.ctx, self.cli, self.label = ctx, cli, label
        self.results: dict[str, Any] = {}

    def run(self, number: int, name: str, command: Callable[..., None], **options: Any) -> int:
        if not self.cli.json_output:
            suffix = f" · {self.label}" if self.label else ""
            self.cli.console.rule(f"[bold]{number}/{len(STEPS)} {name}{suffix}")
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


AUTO_CADENCE = "auto"


@dataclass
class _PairRun:
    """One live pair's way through propose, validate and the pull request."""

    strategy: str
    symbol: str
    timeframe: str
    cadence: str
    folder: Path
    proposal: dict[str, Any] = field(default_factory=dict)
    verdict: dict[str, Any] | None = None
    body_path: Path | None = None
    steps: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return f"{self.strategy}/{self.symbol} {self.timeframe}"

    @property
    def decision(self) -> str:
        return self.verdict["decision"] if self.verdict else "none"

    @property
    def outcome(self) -> str:
        return (
            "validated: pull request ready"
            if self.decision == "pass"
            else _why_not(self.proposal, self.verdict)
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy, "symbol": self.symbol, "timeframe": self.timeframe,
            "cadence": self.cadence, "decision": self.decision, "outcome": self.outcome,
            "proposal_status": self.proposal.get("status"), "proposal": str(self.folder / "proposal.json"),
            "verdict": str(self.folder / "verdict.json") if self.verdict else None,
            "pr_body": None if self.body_path is None else str(self.body_path), "steps": self.steps,
        }  # fmt: skip


def _targets(cli: CliContext, strategy: str | None, symbol: str | None) -> list[tuple[str, str, str]]:
    """The live pairs to run: every one, or those ``--strategy`` / ``--symbol`` select."""
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
    return chosen


def pair_cadence(cadence: str, timeframe: str) -> str:
    """``auto``: weekly (the whole history and the full bounds) for daily or longer bars, else daily."""
    if cadence != AUTO_CADENCE:
        return cadence
    from backtest_matrix.data import parse_timeframe

    return "weekly" if parse_timeframe(timeframe).total_seconds() >= 86_400 else "daily"


def cycle(
    ctx: typer.Context,
    strategy: Annotated[
        str | None,
        typer.Option("--strategy", "-s", help="Only this live strategy. \\[default: every live pair]"),
    ] = None,
    symbol: Annotated[
        str | None, typer.Option("--symbol", help="Only this live symbol. \\[default: every live pair]")
    ] = None,
    cadence: Annotated[
        str,
        typer.Option(
            "--cadence",
            help="Optimizer cadence: 6h, daily, weekly, or auto (weekly for daily bars, which need the whole "
            "history; daily for intraday bars).",
        ),
    ] = AUTO_CADENCE,
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
        typer.Option(
            "--apply", help="Commit each validated proposal on its branch (local forge). Default: dry run."
        ),
    ] = False,
) -> None:
    """Run the loop once on the embedded data: matrix, merge, then propose, validate and the pull request for
    every live pair, and a summary."""
    cli = get_context(ctx)
    work = cli.settings.home / "cycle"
    targets = _check_first(cli, strategy, symbol, cadence, matrix)
    with exclusive_lock(
        work / ".cycle.lock", f"cycle: home {cli.settings.home} is in use by another cycle",
        fix="wait for that cycle to finish (this one then resumes its work), or pass another --home",
    ):  # fmt: skip
        options = _Options(cadence, trials, seed, reps, workers, matrix, apply)
        _run_steps(ctx, cli, work, targets, options)


@dataclass(frozen=True)
class _Options:
    cadence: str
    trials: int
    seed: int
    reps: int | None
    workers: int
    matrix: Path | None
    apply: bool


def _check_first(
    cli: CliContext, strategy: str | None, symbol: str | None, cadence: str, matrix: Path | None
) -> list[tuple[str, str, str]]:
    """Every option of the cycle, checked before its first step: the steps must not fail on them later."""
    from backtest_matrix.matrix import DEFAULT_MATRIX_PATH, DEFAULT_MAX_CELLS, load_matrix_spec
    from gitops import load_constants
    from optimizer import default_storage_url

    if cadence != AUTO_CADENCE:
        check_optimizer_options(cadence=cadence)
    targets = _targets(cli, strategy, symbol)
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
    return targets


def _run_steps(
    ctx: typer.Context, cli: CliContext, work: Path, targets: list[tuple[str, str, str]], options: _Options
) -> None:
    from tradeloop.cli._matrix import run_command
    from tradeloop.cli._matrix_merge import merge

    steps = _Steps(ctx, cli)
    logs = work / "matrix-logs"
    steps.run(1, "matrix", run_command, shard="1/1", out=logs, workers=options.workers, matrix=options.matrix,
              cell_timeout=60.0, memory_limit=2048)  # fmt: skip
    steps.run(2, "merge", merge, paths=[logs], run_id=None, report_dir=work / "report", summary=None,
              baseline_nights=7, min_nights=3, sharpe_drop=0.5, drift_z=3.5)  # fmt: skip
    runs = [_run_pair(ctx, cli, work, target, options) for target in targets]
    _finish(cli, steps, runs, work, options)


def _run_pair(
    ctx: typer.Context, cli: CliContext, work: Path, target: tuple[str, str, str], options: _Options
) -> _PairRun:
    from tradeloop.cli._propose import propose
    from tradeloop.cli._validate import validate

    strategy, symbol, timeframe = target
    cadence = pair_cadence(options.cadence, timeframe)
    run = _PairRun(strategy, symbol, timeframe, cadence, work / "proposals" / f"{strategy}-{symbol}")
    steps = _Steps(ctx, cli, label=run.name)
    proposal_path = run.folder / "proposal.json"
    steps.run(3, "propose", propose, strategy=strategy, symbol=symbol, timeframe=timeframe, cadence=cadence,
              out=proposal_path, trials=options.trials, seed=options.seed, storage=None, data=None,
              objective="sharpe", sampler="tpe", matrix=options.matrix)  # fmt: skip
    run.proposal = json.loads(proposal_path.read_text(encoding="utf-8"))
    if run.proposal["status"] == "proposed":
        steps.run(4, "validate", validate, proposal=proposal_path, out=run.folder, seed=options.seed,
                  reps=options.reps, capital_usd=None, search_record=None)  # fmt: skip
        run.verdict = json.loads((run.folder / "verdict.json").read_text(encoding="utf-8"))
    run.body_path = _pull_request(steps, cli, run, options.apply, work / "report" / "report.html")
    run.steps = steps.results
    return run


def _pull_request(steps: _Steps, cli: CliContext, run: _PairRun, apply: bool, report: Path) -> Path | None:
    """Open the pull request when the verdict passed; write the body it has (or would have) either way.

    Both bodies link the cycle's report by a path relative to the body's own file, so the link opens from
    wherever the home folder lies.
    """
    from gitops import render_pr_body
    from tradeloop.cli._pr import open_pr

    body_path = None
    if run.proposal["status"] == "proposed":
        body_path = run.folder / "pr-body.md"
        body = render_pr_body(
            run.proposal, run.verdict, run_url=None, report_url=_relative_link(report, body_path.parent),
            base_branch="main", commit_sha=None,
        )  # fmt: skip
        atomic_write_text(body_path, body)
    if run.decision != "pass":
        if not cli.json_output:
            cli.console.rule(f"[bold]5/{len(STEPS)} pull request · {run.name}")
            cli.console.print("no pull request: " + run.outcome)
        return body_path
    forge_bodies = cli.settings.run_dir(run.proposal["run_id"])  # where the local forge writes its body
    steps.run(5, "pull request", open_pr, proposal=run.folder / "proposal.json",
              verdict=run.folder / "verdict.json", forge="local", base=None, label=None, max_open_prs=5,
              run_url=None, report_url=_relative_link(report, forge_bodies), dry_run=not apply,
              remote="origin", github_repository=None)  # fmt: skip
    return body_path


def _relative_link(target: Path, start: Path) -> str | None:
    """``target`` as a link relative to the folder ``start`` (``../../report/report.html``), if it exists."""
    if not target.exists():
        return None
    return Path(os.path.relpath(target.resolve(), start.resolve())).as_posix()


def _why_not(proposal: dict[str, Any], verdict: dict[str, Any] | None) -> str:
    if proposal["status"] != "proposed":
        return f"no change proposed: {proposal['reason']}"
    assert verdict is not None
    failed = [g["name"] for g in verdict["gates"] if g["gating"] and not g["passed"]]
    return f"validation failed ({', '.join(failed)})"


def _headline(runs: list[_PairRun]) -> _PairRun:
    """The pair the summary leads with: a validated one, else one with a proposal, else the first."""
    for wanted in ("pass", "fail"):
        for run in runs:
            if run.decision == wanted:
                return run
    return runs[0]


def _finish(cli: CliContext, steps: _Steps, runs: list[_PairRun], work: Path, options: _Options) -> None:
    report = work / "report" / "report.html"
    lead = _headline(runs)
    if cli.json_output:
        cli.emit_json({
            "ok": True, "decision": lead.decision, "outcome": lead.outcome,
            "proposal_status": lead.proposal["status"], "proposal": str(lead.folder / "proposal.json"),
            "report": str(report), "pr_body": None if lead.body_path is None else str(lead.body_path),
            "steps": {**steps.results, **lead.steps}, "pairs": [run.as_dict() for run in runs],
        })  # fmt: skip
        return
    console = cli.console
    console.rule("[bold]cycle")
    table = Table("pair", "cadence", "outcome", title="live pairs")
    for run in runs:
        table.add_row(run.name, run.cadence, run.outcome.split(";")[0])  # the reason's first clause
    console.print(table)
    console.print(f"verdict: [bold]{lead.decision}[/bold] ({lead.name}): {lead.outcome}")
    if lead.proposal["status"] == "proposed":
        console.print(_kpi_table(lead.proposal, lead.verdict))
    console.print(f"report:  {report}")
    console.print(f"PR body: {lead.body_path if lead.body_path else '(no change proposed)'}")
    if lead.decision == "pass" and not options.apply:
        console.print(
            f"dry run: nothing committed; apply it with `tradeloop cycle --apply --strategy {lead.strategy} "
            f"--symbol {lead.symbol}` (commits the change on its branch through the local forge)"
        )


def _kpi_table(proposal: dict[str, Any], verdict: dict[str, Any] | None) -> Table:
    """Live vs proposed on the search bars, and on the holdout the search never saw (from the verdict)."""
    before, after = proposal["kpis_before"]["overall"], proposal["kpis_after"]["overall"]
    held = (verdict or {}).get("kpis") or {}
    title = f"{proposal['strategy']}/{proposal['symbol']} {proposal['timeframe']}: live -> proposed"
    table = Table("KPI", "search bars: live", "proposed", "holdout: live", "proposed", title=title)
    for key, label in KPI_ROWS:
        digits = 0 if key == "trades" else 3  # a count, even when the engine reports it as a float
        values = (before.get(key), after.get(key), held.get("baseline", {}).get(key),
                  held.get("candidate", {}).get(key))  # fmt: skip
        table.add_row(label, *(_number(value, digits) for value in values))
    return table


def _number(value: Any, digits: int) -> str:
    if value is None:
        return "—"
    return f"{value:.{digits}f}" if isinstance(value, int | float) else str(value)
