"""``tradeloop propose``: a bounded, re-backtested parameter proposal for one live strategy/symbol."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from tradeloop._atomic import atomic_write_text
from tradeloop._provenance import Provenance, json_safe, utc_now
from tradeloop.cli._checks import check_options_first
from tradeloop.cli._context import CliContext, get_context, quiet_optuna
from tradeloop.errors import OptimizerError

if TYPE_CHECKING:
    from gitops import LiveConstants
    from optimizer import AppliedChange, CellAnalysis
    from warehouse import ProposalRecord

__all__ = ["propose"]

#: Outcomes of an optimization_history row whose change reached the live state.
APPLIED_OUTCOMES = ("merged", "reverted", "rolled_back")


def _live_entry(constants: LiveConstants, strategy: str, symbol: str, timeframe: str) -> dict[str, Any]:
    entry = constants.live_params.get(strategy, {}).get(symbol)
    if entry is None:
        live = sorted(f"{s}/{x}" for s, symbols in constants.live_params.items() for x in symbols)
        raise OptimizerError(
            f"LIVE_PARAMS has no entry {strategy}/{symbol}; propose works on live pairs ({', '.join(live)}); "
            "add the pair to config/constants.py through a pull request first"
        )
    if entry.get("timeframe") != timeframe:
        raise OptimizerError(
            f"--timeframe {timeframe!r} differs from LIVE_PARAMS.{strategy}.{symbol}.timeframe "
            f"{entry.get('timeframe')!r}; pass --timeframe {entry.get('timeframe')}"
        )
    return dict(entry)


def _source(constants: LiveConstants, symbol: str, data: str | None, matrix: Path | None) -> str:
    if data:
        return data
    from backtest_matrix.matrix import DEFAULT_MATRIX_PATH, load_matrix_spec

    spec = load_matrix_spec(matrix or DEFAULT_MATRIX_PATH, live_params=constants.live_params)
    if symbol not in spec.sources:
        raise OptimizerError(
            f"{spec.source}: symbols has no data source for {symbol!r}; add it there or pass --data SOURCE"
        )
    return str(spec.sources[symbol])


def applied_history(records: list[ProposalRecord]) -> list[AppliedChange]:
    """Applied changes (one per proposal: its rows share run id and config hash), for the guardrails."""
    from optimizer import AppliedChange

    grouped: dict[tuple[str, str, str, str], list[ProposalRecord]] = {}
    for record in records:
        if record.outcome in APPLIED_OUTCOMES:
            key = (record.strategy, record.symbol, record.run_id, record.config_hash)
            grouped.setdefault(key, []).append(record)
    return [
        AppliedChange(
            strategy=strategy,
            symbol=symbol,
            applied_at=max(row.decided_at or row.created_at for row in rows),
            parameters=tuple(sorted({row.parameter for row in rows})),
        )
        for (strategy, symbol, _, _), rows in grouped.items()
    ]


def _analysis(cli: CliContext, strategy: str, symbol: str, timeframe: str) -> tuple[CellAnalysis, list[Any]]:
    from optimizer import analyze_history
    from warehouse import get_warehouse

    with get_warehouse(cli.settings.warehouse_url) as warehouse:
        history = warehouse.backtest_history(strategy, symbol, timeframe)
        regimes = warehouse.regime_history(symbol, timeframe)
        records = warehouse.proposals(strategy, symbol)
    analysis = analyze_history(
        history, strategy=strategy, symbol=symbol, timeframe=timeframe, regime_history=regimes
    )
    return analysis, records


def _config_hasher(constants: LiveConstants, strategy: str, symbol: str, entry: Mapping[str, Any]) -> Any:
    """Config hash of the whole constants file with this pair's changed parameters replaced (gitops-style).

    A parameter enters the live entry only when it differs from the live value (or, for a parameter the
    entry leaves at its default, from the default), so the hash of the live set is the file's own.
    """
    from backtest_matrix.strategies import get_strategy

    cls = get_strategy(strategy)
    baseline = cls.resolve({k: v for k, v in entry.items() if k != "timeframe"})
    ints = {param.name for param in cls.space() if param.kind == "int"}

    def hash_of(params: Mapping[str, float]) -> str:
        updated = dict(entry)
        for name, value in params.items():
            if value != baseline.get(name):
                # As gitops writes it: an int parameter is written as an int, whether or not it was live.
                updated[name] = int(value) if name in ints else value
        live = {s: {x: dict(p) for x, p in symbols.items()} for s, symbols in constants.live_params.items()}
        live[strategy][symbol] = updated
        return dataclasses.replace(constants, live_params=live).config_hash

    return hash_of


def propose(
    ctx: typer.Context,
    strategy: Annotated[str, typer.Option("--strategy", "-s", help="A live strategy.")],
    symbol: Annotated[str, typer.Option("--symbol", help="A live symbol of that strategy.")],
    timeframe: Annotated[str, typer.Option("--timeframe", "-t", help="Its live bar timeframe.")],
    cadence: Annotated[str, typer.Option("--cadence", help="6h, daily or weekly.")],
    out: Annotated[
        Path, typer.Option("--out", help="Where to write the proposal JSON (.md beside it).")
    ] = Path("proposal.json"),
    trials: Annotated[int, typer.Option("--trials", min=1, help="Stage B trials.")] = 50,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the search.")] = 0,
    storage: Annotated[
        str | None,
        typer.Option("--storage", help="Optuna storage URL or 'memory'. \\[default: SQLite in home]"),
    ] = None,
    data: Annotated[
        str | None, typer.Option("--data", "-d", help="Data source. \\[default: matrix.yaml symbols]")
    ] = None,
    objective: Annotated[str, typer.Option("--objective", help="Objective to maximise.")] = "sharpe",
    sampler: Annotated[str, typer.Option("--sampler", help="tpe, gp, cmaes, nsga2 or skopt-gp.")] = "tpe",
    matrix: Annotated[
        Path | None, typer.Option("--matrix", help="Matrix definition for the data sources.", dir_okay=False)
    ] = None,
) -> None:
    """Analyse, search, bound and re-backtest: write proposal.json (contract 2) and proposal.md."""
    from backtest_matrix.engine import EngineConfig
    from gitops import load_constants
    from optimizer import (
        CADENCE_HOURS,
        Guardrails,
        ProposalRequest,
        default_storage_url,
        make_proposal,
        render_proposal_markdown,
    )
    from tradeloop.cli._data import _load

    cli = get_context(ctx)
    quiet_optuna(cli)
    if cadence not in CADENCE_HOURS:
        raise OptimizerError(f"--cadence {cadence!r} is unknown; use one of {', '.join(CADENCE_HOURS)}")
    check_options_first(out, objective, sampler, storage or default_storage_url(cli.settings.home))
    constants = load_constants(cli.settings.constants_path)
    entry = _live_entry(constants, strategy, symbol, timeframe)
    source = _source(constants, symbol, data, matrix)
    loaded = _load(
        cli, source, check=True, timeframe=timeframe, days=None, bars=None, seed=0, start=None,
        mapping=None, timestamp_column=None, unit="auto", tz="UTC",
    )  # fmt: skip
    analysis, records = _analysis(cli, strategy, symbol, timeframe)
    provenance = Provenance.capture(cli.settings.repo)
    run_dir = cli.settings.run_dir(provenance.run_id)
    run_dir.mkdir(parents=True, exist_ok=True)
    request = ProposalRequest(
        strategy=strategy, symbol=symbol, timeframe=timeframe, cadence=cadence, bars=loaded.bars,
        data={"source": loaded.source, "timeframe": loaded.timeframe, "data_hash": loaded.data_hash},
        current={k: v for k, v in entry.items() if k != "timeframe"}, run_id=provenance.run_id,
        git_sha=provenance.git_sha, now=utc_now(), objective=objective, sampler=sampler, trials=trials,
        seed=seed, storage=storage or default_storage_url(cli.settings.home), out_dir=run_dir / "search",
        study_name=f"{strategy}-{symbol}-{timeframe}-{cadence}-{objective}-{sampler}-s{seed}-{loaded.data_hash[:12]}",
    )  # fmt: skip
    guardrails = Guardrails(
        max_delta=constants.optimizer_max_delta, max_knobs=constants.optimizer_max_knobs,
        cooldown_hours=constants.optimizer_cooldown_hours, change_budget=constants.optimizer_change_budget,
        budget_window_hours=constants.optimizer_budget_window_hours, min_trades=constants.min_trades,
        max_drawdown_pct=constants.max_drawdown_pct, min_win_rate_pct=constants.min_win_rate_pct,
    )  # fmt: skip
    proposal = make_proposal(
        request, guardrails=guardrails, history=applied_history(records), flags=analysis.flags,
        has_history=not analysis.nights.empty,
        engine_config=EngineConfig(fee_bps=constants.fee_bps, slippage_bps=constants.slippage_bps),
        config_hash_of=_config_hasher(constants, strategy, symbol, entry),
        progress=not cli.json_output, console=cli.console,
    )  # fmt: skip
    _write(cli, proposal, out, run_dir, render_proposal_markdown(proposal))


def _write(cli: CliContext, proposal: dict[str, Any], out: Path, run_dir: Path, markdown: str) -> None:
    text = json.dumps(json_safe(proposal), indent=2, allow_nan=False) + "\n"
    markdown_path = out.with_suffix(".md")
    out.parent.mkdir(parents=True, exist_ok=True)
    for path, content in ((out, text), (markdown_path, markdown)):
        atomic_write_text(path, content)
    atomic_write_text(run_dir / "proposal.json", text)
    atomic_write_text(run_dir / "proposal.md", markdown)
    summary = {
        "ok": True, "status": proposal["status"], "reason": proposal["reason"],
        "proposal_hash": proposal["proposal_hash"], "proposal": str(out), "markdown": str(markdown_path),
        "run_id": proposal["run_id"], "changes": proposal["changes"],
    }  # fmt: skip
    if cli.json_output:
        cli.emit_json(summary)
        return
    table = Table("parameter", "current", "proposed", "Δ %", "cap %", "bound", "binding", title="proposal")
    for c in proposal["changes"]:
        table.add_row(
            c["parameter"], f"{c['current']:g}", f"{c['proposed']:g}", f"{c['delta_pct']:+.2f}",
            f"±{c['cap_pct']:g}", c["bound"], c["binding"],
        )  # fmt: skip
    cli.console.print(proposal["rationale"]["summary"])
    if proposal["changes"]:
        cli.console.print(table)
    cli.console.print(f"{proposal['status']}: written to {out} and {markdown_path}")
