"""``tradeloop deploy plan | status | ingest | step``: COLD → WARM → LIMITED → FULL, on evidence, in git."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from tradeloop.cli._context import CliContext, get_context
from tradeloop.cli._pr import ForgeOpt
from tradeloop.errors import DataSourceError, SettingsError

if TYPE_CHECKING:
    import pandas as pd

    from deployment import BarsProvider, PairPlan

__all__ = ["deploy_app"]

deploy_app = typer.Typer(
    help="Deployment: what the bot runs (plan), the bot's evidence (ingest), the canary analyses and their "
    "pull requests (step), and where every rollout stands (status).",
    no_args_is_help=True,
)


@deploy_app.command("plan")
def plan(ctx: typer.Context) -> None:
    """Print which parameter sets the bot runs per strategy/symbol: paper or live, at what share of the
    capital, the config hash to tag their trades and equity with, the ensemble weight, and the regime in
    force with its loadout (from the detections `tradeloop regime detect --store` keeps)."""
    from deployment import read_plan
    from warehouse import get_warehouse

    cli = get_context(ctx)
    with get_warehouse(cli.settings.warehouse_url) as warehouse:
        found = read_plan(cli.settings.repo, warehouse)
    if cli.json_output:
        cli.emit_json(found.to_dict())
        return
    cli.console.print(f"deployment plan at config hash {found.config_hash}")
    for pair in found.pairs:
        stage = "no rollout" if pair.stage is None else f"{pair.stage} ({pair.phase})"
        cli.console.print(f"[bold]{pair.key}[/bold] ({pair.timeframe}): {stage}")
        if not pair.sets:
            cli.console.print(f"  nothing to run: {pair.note}")
        for item in pair.sets:
            params = ", ".join(f"{k}={v}" for k, v in item.params.items() if k != "timeframe")
            share = f"{item.capital_fraction:<4g}"
            cli.console.print(
                f"  {item.role:<9} {item.mode:<5} capital {share} tag {item.config_hash}: {params}"
            )
        if pair.note and pair.sets:
            cli.console.print(f"  note: {pair.note}")
        cli.console.print(f"  {_regime_line(pair)}")


def _regime_line(pair: PairPlan) -> str:
    weight = f"ensemble weight {pair.ensemble_weight:.3g}"
    regime = pair.regime
    if regime is None:
        return f"{weight}; regime unknown (no stored detection: run tradeloop regime refresh)"
    loadout = ", ".join(f"{k}={v}" for k, v in pair.loadout.items()) or "none (LIVE_PARAMS as they are)"
    line = (
        f"{weight}; regime {regime.regime} (confidence {regime.confidence:.2f}) since "
        f"{regime.since.date().isoformat()}; loadout in force: {loadout}"
    )
    if regime.pending is not None:
        pending = regime.pending
        line += (
            f"; switch to {pending.regime} pending (confidence {pending.confidence:.2f}, needs "
            f"{pending.min_confidence:g}; {pending.bars} of {pending.bars_needed} bars)"
        )
    return line


@deploy_app.command("status")
def status(ctx: typer.Context) -> None:
    """Show every rollout: stage, capital share, time in stage, the last analysis's checks, what it
    waits for."""
    from deployment import rollout_status
    from warehouse import get_warehouse

    cli = get_context(ctx)
    with get_warehouse(cli.settings.warehouse_url) as warehouse:
        rows = rollout_status(cli.settings.repo, warehouse, cli.settings.current_time())
    if cli.json_output:
        cli.emit_json({"rollouts": [row.to_dict() for row in rows]})
        return
    if not rows:
        cli.console.print("no rollouts: every live pair runs its LIVE_PARAMS (tradeloop deploy plan)")
        return
    for row in rows:
        cli.console.print(
            f"[bold]{row.key}[/bold] {row.stage} ({row.phase}) at {row.canary_fraction:g} of the capital, "
            f"{row.bars_in_stage:.1f} bars of {row.timeframe} in stage since {row.since.isoformat()}"
        )
        cli.console.print(f"  last analysis: {row.reason}")
        for check in row.checks:
            cli.console.print(
                f"    {check.outcome:<12} {check.name:<18} {_fig(check.figure)} {check.comparator} "
                f"{_fig(check.threshold)} {check.unit}".rstrip()
            )
        if row.waiting_for and row.phase == "progressing":
            cli.console.print(f"  waits for: {'; '.join(row.waiting_for)}")
        if row.next_analysis is not None:
            cli.console.print(f"  next analysis: {row.next_analysis.isoformat()}")


def _fig(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"


@deploy_app.command("ingest")
def ingest(
    ctx: typer.Context,
    file: Annotated[
        Path, typer.Argument(help="The bot's trades and equity: CSV or JSON lines (docs/deployment.md).")
    ],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Check every row; store nothing.")] = False,
) -> None:
    """Store the bot's trades and equity in the warehouse; every row is checked first, and a trade id or an
    equity point already stored is skipped, so ingesting a file twice adds nothing."""
    from deployment import ingest_file
    from gitops import load_state
    from warehouse import get_warehouse

    cli = get_context(ctx)
    constants, flags = load_state(cli.settings.repo)
    with get_warehouse(cli.settings.warehouse_url) as warehouse:
        result = ingest_file(file, warehouse, constants, flags, dry_run=dry_run)
    if cli.json_output:
        cli.emit_json({**result.to_dict(), "dry_run": dry_run})
        return
    cli.console.print(
        f"{result.file}: {result.rows} rows; trades {result.trades_new} new, {result.trades_known} already "
        f"stored; equity points {result.equity_new} new, {result.equity_known} already stored"
        + (" (dry run: nothing stored)" if dry_run else "")
    )


@deploy_app.command("step")
def step(
    ctx: typer.Context,
    forge: ForgeOpt = None,
    apply: Annotated[
        bool,
        typer.Option(
            "--apply",
            help="No forge: write the moves and analyses into this working tree's "
            "feature_flags.json (atomically) instead of opening pull requests.",
        ),
    ] = False,
    base: Annotated[str, typer.Option("--base", help="The branch the rollouts are read from.")] = "main",
    data: Annotated[
        str | None,
        typer.Option(
            "--data",
            "-d",
            help="Bars for COLD's backtest. \\[default: the symbol's matrix.yaml source]",
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Analyse and decide; record, push and open nothing.")
    ] = False,
    run_url: Annotated[str | None, typer.Option("--run-url", help="Link to the workflow run.")] = None,
    remote: Annotated[
        str,
        typer.Option(
            "--remote", envvar="TRADELOOP_GIT_REMOTE", help="Git remote the github forge pushes to."
        ),
    ] = "origin",
    github_repository: Annotated[
        str | None,
        typer.Option(
            "--github-repository",
            help="OWNER/NAME on GitHub. \\[default: $GITHUB_REPOSITORY]",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Analyse every rollout once per interval; open or update one deployment pull request per rollout that
    moves (promotion or failure), with its evidence. Exit 0 whatever the decisions."""
    from tradeloop import git_sha
    from tradeloop.loop import actions_run_url, deploy_step

    cli = get_context(ctx)
    if apply and forge is not None:
        raise SettingsError(
            "--apply writes the working tree and opens no pull request; drop --forge or --apply"
        )
    if apply and base != "main":
        raise SettingsError(
            f"--apply reads and writes this working tree's feature_flags.json, not --base {base!r}; "
            f"check out {base} and drop --base, or drop --apply to open pull requests against it"
        )
    done = deploy_step(
        cli.settings, forge=forge, apply=apply, base=base, bars=_bars_provider(cli, data), dry_run=dry_run,
        run_url=run_url or actions_run_url(), remote=remote, repository=github_repository,
        git_sha=git_sha(Path(__file__).resolve().parent),
    )  # fmt: skip
    results = done.rollouts
    if cli.json_output:
        cli.emit_json(done.to_json())
        return
    if not results:
        cli.console.print("no rollouts to analyse")
    for result in results:
        verdict = result.verdict
        what = verdict.reason if verdict is not None else "; ".join(result.notes)
        line = f"{result.key} {result.stage}: {what}"
        if result.action != "none" or result.pr_number:
            where = f" #{result.pr_number}" if result.pr_number else ""
            line += f" — pull request {result.action}{where}: {result.pr_reason}"
        cli.console.print(line)
    for delivery in done.deliveries:
        alert = delivery.alert
        errors = "".join(f"; {error}" for error in delivery.errors)
        cli.console.print(
            f"alert {alert.severity} {alert.event} ({alert.rollout}): {delivery.outcome}{errors}"
        )


def _bars_provider(cli: CliContext, data: str | None) -> BarsProvider:
    """COLD's bars: ``--data`` or the symbol's ``matrix.yaml`` source, cut to ``(start, end]``. ``--data`` is
    checked here, before any rollout is analysed."""
    if data is not None:
        from backtest_matrix import resolve_source

        spec = resolve_source(data)
        if spec.path is not None and not spec.path.is_file():
            raise DataSourceError(
                f"--data {data}: no such file; give a CSV/Parquet file of the pairs' bars, or a built-in "
                "source such as reverting or sp500"
            )

    def provide(
        strategy: str, symbol: str, timeframe: str, start: datetime, end: datetime
    ) -> pd.DataFrame | None:
        import pandas as pd

        from backtest_matrix import load_bars
        from gitops import load_constants
        from tradeloop.loop import matrix_path, pair_source

        source = data or pair_source(
            load_constants(cli.settings.constants_path), symbol, None, matrix_path(cli.settings)
        )
        loaded = load_bars(source, cache_dir=cli.settings.cache_dir, check=True, timeframe=timeframe)
        bars = loaded.bars
        window = bars[(bars.index > pd.Timestamp(start)) & (bars.index <= pd.Timestamp(end))]
        return window if len(window) else None

    return provide
