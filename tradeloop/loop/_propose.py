"""``propose`` as a call: a bounded, re-backtested parameter proposal for one live strategy/symbol.

Reads the live state (``config/constants.py``), the pair's bars, the warehouse's matrix history (the
analyzer) and the guardrail memory (git history and the forge), runs :func:`optimizer.make_proposal`,
withholds what the memory forbids, and writes ``proposal.json``, ``proposal.md`` and the search record
beside ``out`` and in the run directory. The proposal comes back typed, with its record and its bars.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tradeloop._atomic import atomic_write_text
from tradeloop._provenance import Provenance, json_safe
from tradeloop._settings import Settings
from tradeloop.errors import OptimizerError
from tradeloop.loop._common import QUIET, Feedback, load_source, matrix_path, pair_source
from tradeloop.loop._memory import guardrail_memory, reading_forge, settle_proposal

if TYPE_CHECKING:
    from backtest_matrix.data import LoadedBars
    from gitops import LiveConstants
    from optimizer import CellAnalysis, SearchRecord
    from tradeloop.documents import Proposal

__all__ = ["ProposeOptions", "ProposeResult", "propose"]


@dataclass(frozen=True)
class ProposeOptions:
    """What to propose for and how to search (``tradeloop propose``'s options)."""

    strategy: str
    symbol: str
    timeframe: str
    cadence: str
    out: Path = Path("proposal.json")
    trials: int = 50
    seed: int = 0
    storage: str | None = None
    data: str | None = None
    objective: str = "sharpe"
    sampler: str = "tpe"
    matrix: Path | None = None
    base: str = "HEAD"
    forge: str | None = None


@dataclass(frozen=True)
class ProposeResult:
    """The proposal (read back from nothing: it is the one written), its search record, where both were
    written, and the bars it was measured on."""

    proposal: Proposal
    record: SearchRecord | None
    out: Path
    markdown: Path
    run_dir: Path
    bars: LoadedBars

    def to_json(self) -> dict[str, Any]:
        """``tradeloop propose --json``."""
        proposal = self.proposal
        return {
            "ok": True, "status": proposal.status, "reason": proposal.reason,
            "proposal_hash": proposal.proposal_hash, "proposal": str(self.out),
            "markdown": str(self.markdown), "run_id": proposal.run_id,
            "changes": [change.to_json() for change in proposal.changes],
        }  # fmt: skip


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


def _analysis(settings: Settings, strategy: str, symbol: str, timeframe: str) -> CellAnalysis:
    from optimizer import analyze_history
    from warehouse import get_warehouse

    with get_warehouse(settings.warehouse_url) as warehouse:
        history = warehouse.backtest_history(strategy, symbol, timeframe)
        regimes = warehouse.regime_history(symbol, timeframe)
    return analyze_history(
        history, strategy=strategy, symbol=symbol, timeframe=timeframe, regime_history=regimes
    )


def _config_hasher(
    constants: LiveConstants, strategy: str, symbol: str, entry: Mapping[str, Any]
) -> Callable[[Mapping[str, float]], str]:
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


def propose(settings: Settings, options: ProposeOptions, feedback: Feedback = QUIET) -> ProposeResult:
    """Analyse, search, bound and re-backtest one live pair; write ``proposal.json`` and ``proposal.md``.

    Raises
    ------
    tradeloop.errors.OptimizerError
        The pair is not live, or its timeframe is not the live one, or the matrix names no data source for
        the symbol.
    """
    from backtest_matrix.engine import EngineConfig
    from gitops import guardrails_from, load_constants
    from optimizer import CADENCE_HOURS, ProposalRequest, default_storage_url, make_proposal

    o = options
    if o.cadence not in CADENCE_HOURS:
        raise OptimizerError(f"--cadence {o.cadence!r} is unknown; use one of {', '.join(CADENCE_HOURS)}")
    constants = load_constants(settings.constants_path)
    entry = _live_entry(constants, o.strategy, o.symbol, o.timeframe)
    loaded = load_source(
        settings, pair_source(constants, o.symbol, o.data, o.matrix or matrix_path(settings)), o.timeframe
    )
    analysis = _analysis(settings, o.strategy, o.symbol, o.timeframe)
    memory = guardrail_memory(settings, base=o.base, forge=reading_forge(settings, o.forge))
    provenance = Provenance.capture(settings.repo)
    run_dir = settings.run_dir(provenance.run_id)
    run_dir.mkdir(parents=True, exist_ok=True)
    study = f"{o.strategy}-{o.symbol}-{o.timeframe}-{o.cadence}-{o.objective}-{o.sampler}-s{o.seed}"
    request = ProposalRequest(
        strategy=o.strategy, symbol=o.symbol, timeframe=o.timeframe, cadence=o.cadence, bars=loaded.bars,
        data={"source": loaded.source, "timeframe": loaded.timeframe, "data_hash": loaded.data_hash},
        current={k: v for k, v in entry.items() if k != "timeframe"}, run_id=provenance.run_id,
        git_sha=provenance.git_sha, now=settings.current_time(), objective=o.objective, sampler=o.sampler,
        trials=o.trials, seed=o.seed, storage=o.storage or default_storage_url(settings.home),
        out_dir=run_dir / "search",
        study_name=f"{study}-{loaded.data_hash[:12]}-h{constants.validation_holdout_fraction:g}",
        record_name=f"{o.out.stem}.search_record.json.gz",
    )  # fmt: skip
    outcome = make_proposal(
        request, guardrails=guardrails_from(constants), history=memory.applied_changes(),
        flags=analysis.flags, has_history=not analysis.nights.empty,
        engine_config=EngineConfig(fee_bps=constants.fee_bps, slippage_bps=constants.slippage_bps),
        config_hash_of=_config_hasher(constants, o.strategy, o.symbol, entry),
        progress=feedback.shown, console=feedback.console,
    )  # fmt: skip
    proposal = settle_proposal(settings, outcome.proposal, memory)
    markdown = _write(proposal, outcome.record, o.out, run_dir)
    proposal = dataclasses.replace(proposal, source=str(o.out))
    return ProposeResult(proposal, outcome.record, o.out, markdown, run_dir, loaded)


def _write(proposal: Proposal, record: SearchRecord | None, out: Path, run_dir: Path) -> Path:
    """proposal.json, proposal.md and the search record, beside ``out`` and in the run directory."""
    from optimizer import render_proposal_markdown

    text = json.dumps(json_safe(proposal.to_json()), indent=2, allow_nan=False) + "\n"
    markdown = render_proposal_markdown(proposal)
    markdown_path = out.with_suffix(".md")
    for folder in (out.parent, run_dir):
        folder.mkdir(parents=True, exist_ok=True)
        if record is not None and proposal.search_record is not None:
            record.write(folder / proposal.search_record.path)
    for path, content in ((out, text), (markdown_path, markdown)):
        atomic_write_text(path, content)
    atomic_write_text(run_dir / "proposal.json", text)
    atomic_write_text(run_dir / "proposal.md", markdown)
    return markdown_path
