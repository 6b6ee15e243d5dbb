"""``run_cycle``: the whole loop on one machine, as the calls the workflows make.

matrix run -> matrix merge (warehouse, flags, nightly report) -> for every live pair: propose (analyzer,
holdout, budgeted search, guardrails, re-backtest) -> validate -> pull request through the local forge (a
dry run unless ``apply``) -> the home's dashboard (``cycle/dashboard/index.html``) -> summary. Each step
is the library call behind the command a workflow runs (:func:`matrix_run`, :func:`matrix_merge`,
:func:`propose`, :func:`validate`, :func:`pr_open`, :func:`dashboard`), and the
proposal and verdict go from one step to the next typed: the files each step writes are for the user, the
cycle never reads them back.

Everything lands in ``<home>/cycle/``: the matrix logs and the Optuna study are kept there, so a second
cycle resumes the matrix (nothing left to run) and reloads the finished study instead of searching again.
One cycle at a time holds ``cycle/.cycle.lock``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from tradeloop._atomic import atomic_write_text
from tradeloop._locks import exclusive_lock
from tradeloop._settings import Settings
from tradeloop.errors import SettingsError
from tradeloop.loop._checks import check_optimizer_options, check_storage
from tradeloop.loop._common import QUIET, Feedback, matrix_path
from tradeloop.loop._dashboard import DashboardOptions, dashboard
from tradeloop.loop._matrix import (
    MatrixMerge,
    MatrixRun,
    MergeOptions,
    ShardOptions,
    matrix_merge,
    matrix_run,
)
from tradeloop.loop._propose import ProposeOptions, ProposeResult, propose
from tradeloop.loop._publish import ForgeOptions, PrOpenOptions, PrOpenResult, pr_open
from tradeloop.loop._validate import ValidateOptions, ValidateResult, validate
from tradeloop.loop._weights import WeightsOptions, WeightsResult, propose_weights

if TYPE_CHECKING:
    from reports import DashboardSite
    from tradeloop.documents import Proposal, Verdict

__all__ = [
    "AUTO_CADENCE",
    "STEPS",
    "CycleObserver",
    "CycleOptions",
    "CycleResult",
    "PairResult",
    "pair_cadence",
    "run_cycle",
]

STEPS = ("matrix", "merge", "propose", "validate", "pull request", "ensemble")
AUTO_CADENCE = "auto"
StepResult = MatrixRun | MatrixMerge | ProposeResult | ValidateResult | PrOpenResult | WeightsResult


@dataclass(frozen=True)
class CycleOptions:
    """Which live pairs and how (``tradeloop cycle``'s options)."""

    strategy: str | None = None
    symbol: str | None = None
    cadence: str = AUTO_CADENCE
    trials: int = 40
    seed: int = 0
    reps: int | None = None
    workers: int = 2
    matrix: Path | None = None
    apply: bool = False


class CycleObserver(Protocol):
    """What a caller sees of a running cycle: each step as it starts and its result as it ends."""

    def started(self, number: int, name: str, label: str) -> None:
        """Step ``number`` of :data:`STEPS` (``name``) starts, for the pair ``label`` ("" before pairs)."""

    def finished(self, name: str, result: StepResult) -> None:
        """Step ``name`` ended with ``result``."""

    def skipped(self, number: int, name: str, label: str, reason: str) -> None:
        """Step ``number`` does not run for the pair ``label``, because of ``reason``."""


class _Unobserved:
    def started(self, number: int, name: str, label: str) -> None:
        del number, name, label

    def finished(self, name: str, result: StepResult) -> None:
        del name, result

    def skipped(self, number: int, name: str, label: str, reason: str) -> None:
        del number, name, label, reason


@dataclass(frozen=True)
class PairResult:
    """One live pair's way through propose, validate and the pull request."""

    strategy: str
    symbol: str
    timeframe: str
    cadence: str
    folder: Path
    proposed: ProposeResult
    validated: ValidateResult | None = None
    published: PrOpenResult | None = None
    body_path: Path | None = None

    @property
    def name(self) -> str:
        return f"{self.strategy}/{self.symbol} {self.timeframe}"

    @property
    def proposal(self) -> Proposal:
        return self.proposed.proposal

    @property
    def verdict(self) -> Verdict | None:
        return None if self.validated is None else self.validated.verdict

    @property
    def decision(self) -> str:
        return self.verdict.decision if self.verdict is not None else "none"

    @property
    def outcome(self) -> str:
        if self.decision == "pass":
            return "validated: pull request ready"
        if not self.proposal.proposed:
            return f"no change proposed: {self.proposal.reason}"
        assert self.verdict is not None
        return f"validation failed ({', '.join(self.verdict.failed_gates)})"

    @property
    def steps(self) -> dict[str, StepResult]:
        """The results of this pair's steps, by step name."""
        steps: dict[str, StepResult] = {"propose": self.proposed}
        if self.validated is not None:
            steps["validate"] = self.validated
        if self.published is not None:
            steps["pull request"] = self.published
        return steps

    def to_json(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy, "symbol": self.symbol, "timeframe": self.timeframe,
            "cadence": self.cadence, "decision": self.decision, "outcome": self.outcome,
            "proposal_status": self.proposal.status, "proposal": str(self.folder / "proposal.json"),
            "verdict": str(self.folder / "verdict.json") if self.verdict else None,
            "pr_body": None if self.body_path is None else str(self.body_path),
            "steps": {name: result.to_json() for name, result in self.steps.items()},
        }  # fmt: skip


@dataclass(frozen=True)
class CycleResult:
    """The matrix, the merge and every pair's way; the summary leads with :attr:`lead`."""

    matrix: MatrixRun
    merge: MatrixMerge
    pairs: tuple[PairResult, ...]
    report: Path
    options: CycleOptions = field(default_factory=CycleOptions)
    dashboard: DashboardSite | None = None
    ensembles: tuple[WeightsResult, ...] = ()

    @property
    def lead(self) -> PairResult:
        """The pair the summary leads with: a validated one, else one with a proposal, else the first."""
        for wanted in ("pass", "fail"):
            for pair in self.pairs:
                if pair.decision == wanted:
                    return pair
        return self.pairs[0]

    def to_json(self) -> dict[str, Any]:
        """``tradeloop cycle --json``: the lead pair's outcome, every step's document, every pair."""
        lead = self.lead
        steps = {"matrix": self.matrix.to_json(), "merge": self.merge.to_json()}
        return {
            "ok": True, "decision": lead.decision, "outcome": lead.outcome,
            "proposal_status": lead.proposal.status, "proposal": str(lead.folder / "proposal.json"),
            "report": str(self.report), "pr_body": None if lead.body_path is None else str(lead.body_path),
            "dashboard": None if self.dashboard is None else str(self.dashboard.index),
            "steps": {**steps, **{name: result.to_json() for name, result in lead.steps.items()}},
            "pairs": [pair.to_json() for pair in self.pairs],
            "ensembles": [weights.to_json() for weights in self.ensembles],
        }  # fmt: skip


def pair_cadence(cadence: str, timeframe: str) -> str:
    """``auto``: weekly (the whole history and the full bounds) for daily or longer bars, else daily."""
    if cadence != AUTO_CADENCE:
        return cadence
    from backtest_matrix.data import parse_timeframe

    return "weekly" if parse_timeframe(timeframe).total_seconds() >= 86_400 else "daily"


def live_targets(settings: Settings, strategy: str | None, symbol: str | None) -> list[tuple[str, str, str]]:
    """The live pairs to run: every one, or those ``strategy`` / ``symbol`` select."""
    from gitops import load_constants

    live = load_constants(settings.constants_path).live_params
    pairs = [(s, x, str(p["timeframe"])) for s, symbols in live.items() for x, p in symbols.items()]
    chosen = [p for p in pairs if strategy in (None, p[0]) and symbol in (None, p[1])]
    if not chosen:
        listed = ", ".join(f"{s}/{x}" for s, x, _ in pairs)
        raise SettingsError(
            f"config/constants.py: LIVE_PARAMS has no live pair {strategy or '*'}/{symbol or '*'}; "
            f"live pairs: {listed}; pass --strategy and --symbol of one of them"
        )
    return chosen


def check_cycle(settings: Settings, options: CycleOptions) -> list[tuple[str, str, str]]:
    """Every option of the cycle, checked before its first step (the steps must not fail on them later);
    the live pairs it runs."""
    from backtest_matrix.matrix import DEFAULT_MAX_CELLS, load_matrix_spec
    from gitops import load_constants
    from optimizer import default_storage_url

    if options.cadence != AUTO_CADENCE:
        check_optimizer_options(cadence=options.cadence)
    targets = live_targets(settings, options.strategy, options.symbol)
    spec = load_matrix_spec(
        options.matrix or matrix_path(settings),
        live_params=load_constants(settings.constants_path).live_params,
    )
    if spec.cell_count > DEFAULT_MAX_CELLS:
        raise SettingsError(
            f"{spec.source}: the matrix has {spec.cell_count:,} cells, above the cap of "
            f"{DEFAULT_MAX_CELLS:,} that a cycle runs; use a smaller --matrix, or run "
            "`tradeloop matrix run --max-cells N` on its own"
        )
    check_storage(default_storage_url(settings.home))
    return targets


def run_cycle(
    settings: Settings,
    options: CycleOptions = CycleOptions(),
    *,
    observer: CycleObserver | None = None,
    feedback: Feedback = QUIET,
) -> CycleResult:
    """Run the loop once (module docstring): matrix, merge, then propose, validate and the pull request for
    every live pair ``options`` selects.

    Raises
    ------
    tradeloop.errors.LockError
        Another cycle holds the home.
    tradeloop.errors.TradeloopError
        An option is invalid (before any step runs), or a step failed.
    """
    seen = observer or _Unobserved()
    work = settings.home / "cycle"
    targets = check_cycle(settings, options)
    with exclusive_lock(
        work / ".cycle.lock", f"cycle: home {settings.home} is in use by another cycle",
        fix="wait for that cycle to finish (this one then resumes its work), or pass another --home",
    ):  # fmt: skip
        logs = work / "matrix-logs"
        seen.started(1, "matrix", "")
        shard = ShardOptions(shard="1/1", out=logs, workers=options.workers, matrix=options.matrix)
        matrix = matrix_run(settings, shard, feedback)
        seen.finished("matrix", matrix)
        seen.started(2, "merge", "")
        merged = matrix_merge(settings, MergeOptions(paths=[logs], report_dir=work / "report"))
        seen.finished("merge", merged)
        report = work / "report" / "report.html"
        pairs = tuple(
            _run_pair(settings, work, target, options, report, seen, feedback) for target in targets
        )
        ensembles = _ensembles(settings, options, seen)
        site = dashboard(settings, DashboardOptions(out=work / "dashboard", summary=None))
    return CycleResult(matrix, merged, pairs, report, options, site, ensembles)


def _ensembles(settings: Settings, options: CycleOptions, seen: CycleObserver) -> tuple[WeightsResult, ...]:
    """The ensemble weights of every symbol the cycle ran whose live strategies can be weighted (daily)."""
    from gitops import ensemble_symbols, load_constants

    symbols = [
        symbol
        for symbol in ensemble_symbols(load_constants(settings.constants_path))
        if options.symbol in (None, symbol) and options.strategy is None
    ]
    results = []
    for symbol in symbols:
        seen.started(STEPS.index("ensemble") + 1, "ensemble", symbol)
        weights = propose_weights(settings, WeightsOptions(symbol=symbol, apply=options.apply, forge="local"))
        seen.finished("ensemble", weights)
        results.append(weights)
    return tuple(results)


def _run_pair(
    settings: Settings, work: Path, target: tuple[str, str, str], options: CycleOptions, report: Path,
    seen: CycleObserver, feedback: Feedback,
) -> PairResult:  # fmt: skip
    strategy, symbol, timeframe = target
    cadence = pair_cadence(options.cadence, timeframe)
    folder = work / "proposals" / f"{strategy}-{symbol}"
    label = f"{strategy}/{symbol} {timeframe}"
    seen.started(3, "propose", label)
    proposed = propose(
        settings,
        ProposeOptions(
            strategy=strategy, symbol=symbol, timeframe=timeframe, cadence=cadence,
            out=folder / "proposal.json", trials=options.trials, seed=options.seed, matrix=options.matrix,
        ),
        feedback,
    )  # fmt: skip
    seen.finished("propose", proposed)
    pair = PairResult(strategy, symbol, timeframe, cadence, folder, proposed)
    if proposed.proposal.proposed:
        seen.started(4, "validate", label)
        checks = ValidateOptions(out=folder, seed=options.seed, reps=options.reps)
        validated = validate(
            settings, proposed.proposal, proposed.record, checks, bars=proposed.bars, feedback=feedback
        )
        seen.finished("validate", validated)
        pair = PairResult(strategy, symbol, timeframe, cadence, folder, proposed, validated)
    return _pull_request(settings, pair, options.apply, report, seen)


def _pull_request(
    settings: Settings, pair: PairResult, apply: bool, report: Path, seen: CycleObserver
) -> PairResult:
    """Open the pull request when the verdict passed; write the body it has (or would have) either way.

    Both bodies link the cycle's report by a path relative to the body's own file, so the link opens from
    wherever the home folder lies.
    """
    from dataclasses import replace

    from gitops import render_pr_body

    body_path = None
    if pair.proposal.proposed:
        body_path = pair.folder / "pr-body.md"
        body = render_pr_body(
            pair.proposal, pair.verdict, run_url=None, report_url=_relative_link(report, body_path.parent),
            base_branch="main", commit_sha=None,
        )  # fmt: skip
        atomic_write_text(body_path, body)
    pair = replace(pair, body_path=body_path)
    if pair.decision != "pass":
        seen.skipped(5, "pull request", pair.name, "no pull request: " + pair.outcome)
        return pair
    seen.started(5, "pull request", pair.name)
    forge_bodies = settings.run_dir(pair.proposal.run_id)  # where the local forge writes its body
    opened = pr_open(
        settings, pair.proposal, pair.verdict,
        PrOpenOptions(forge=ForgeOptions(kind="local"), report_url=_relative_link(report, forge_bodies),
                      dry_run=not apply),
    )  # fmt: skip
    seen.finished("pull request", opened)
    return replace(pair, published=opened)


def _relative_link(target: Path, start: Path) -> str | None:
    """``target`` as a link relative to the folder ``start`` (``../../report/report.html``), if it exists."""
    if not target.exists():
        return None
    return Path(os.path.relpath(target.resolve(), start.resolve())).as_posix()
