"""``tradeloop demo rollout``: the demo pair's validated proposal from merge to FULL on a simulated clock.

Everything runs in a scratch repository and home under ``out`` (the user's repository is only read):

1. a git repository with the live state files of ``settings.repo``; the demo pair's validated proposal
   (``tradeloop cycle``'s, or ``--proposal FILE``) applied on a branch and merged with ``--no-ff`` at
   :data:`DEMO_START`, as a person merges the optimizer's pull request: the rollout starts at COLD;
2. the feed replays the demo market's **held-back bars** (:func:`demo_market`: the seeded reverting market
   continued after the year ``tradeloop cycle`` searched and validated on, bars no stage has seen) on a
   simulated clock that advances ``tick`` at a time;
3. at every tick, as in production: ``tradeloop paper run`` (:func:`deployment.paper_run`), the simulated bot
   (:func:`deployment.simulated_bot_step`: it reads the consumer contract and its trades and equity go through
   ``tradeloop deploy ingest``), then ``tradeloop deploy step`` (:func:`deployment.deploy_step`) on the local
   forge; every deployment pull request it opens is held to ``tradeloop pr check`` and merged by "a person"
   at that tick;
4. until the rollout succeeds at FULL or fails, or the horizon passes.

``degrade_bps`` plants a degradation the paper run cannot see: the bot's live fills of the new parameters
cost that many basis points more (a venue that fills the canary worse than the backtests assume). The
rollout passes COLD and WARM on paper and is stopped at LIMITED, which says why.
"""

from __future__ import annotations

import math
import os
import shutil
import subprocess
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tradeloop._settings import Settings
from tradeloop.errors import SettingsError, StateFileError

if TYPE_CHECKING:
    import pandas as pd

    from deployment import Rollout
    from gitops import LocalForge
    from tradeloop.documents import Proposal

__all__ = [
    "DEMO_PAIR",
    "DEMO_PROPOSAL",
    "DEMO_START",
    "DemoRollout",
    "RolloutMove",
    "RolloutOptions",
    "demo_market",
    "demo_rollout",
]

DEMO_PAIR = ("rsi_reversion", "DEMO")
#: The validated proposal ``tradeloop cycle`` made for the demo pair (``tests/gitops/golden`` holds the same).
DEMO_PROPOSAL = Path(__file__).resolve().parent / "data" / "demo_proposal.json"
#: The first instant after the year of bars the cycle searched and validated on: the optimizer's pull
#: request is merged then, and every bar the rollout sees comes after it.
DEMO_START = datetime(2025, 1, 1, tzinfo=UTC)
_EMAIL = "maintainer@demo.invalid"
_PERSON = {"GIT_AUTHOR_NAME": "demo maintainer", "GIT_AUTHOR_EMAIL": _EMAIL,
           "GIT_COMMITTER_NAME": "demo maintainer", "GIT_COMMITTER_EMAIL": _EMAIL}  # fmt: skip


def demo_market(days: float, *, seed: int = 1) -> pd.DataFrame:
    """The demo market's held-back bars: the seeded reverting market of ``DEMO: reverting`` (the same
    generator and parameters, 15-minute bars) continued from :data:`DEMO_START` for ``days`` days, with a seed
    of its own."""
    from backtest_matrix.data import generate_reverting

    return generate_reverting(bars=round(days * 96) + 1, seed=seed, start=DEMO_START.isoformat())


@dataclass(frozen=True)
class RolloutOptions:
    """The run: where (``out``, created; must not exist or be empty), which proposal (``None``: the shipped
    demo proposal), the clock's step, the horizon in days, the planted degradation and the market's seed."""

    out: Path
    proposal: Path | None = None
    tick: timedelta = timedelta(hours=6)
    days: float = 60.0
    degrade_bps: float = 0.0
    seed: int = 1


@dataclass(frozen=True)
class RolloutMove:
    """One deployment pull request of the run: the move, its evidence, ``pr check``'s word and the merge."""

    at: datetime
    move: str
    decision: str
    reason: str
    pr_number: int | None
    title: str
    checks: tuple[dict[str, Any], ...]
    pr_check_passed: bool
    merge_commit: str | None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "at": self.at.isoformat(), "checks": list(self.checks)}


@dataclass(frozen=True)
class DemoRollout:
    """Where the run ended (``outcome``: ``FULL``, ``failed`` or ``unfinished``) and how it got there."""

    out: str
    repo: str
    warehouse_url: str
    outcome: str
    stage: str
    phase: str
    reason: str
    clock: datetime
    ticks: int
    moves: tuple[RolloutMove, ...]
    evidence: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return {"out": self.out, "repo": self.repo, "warehouse_url": self.warehouse_url,
                "outcome": self.outcome, "stage": self.stage, "phase": self.phase, "reason": self.reason,
                "clock": self.clock.isoformat(), "ticks": self.ticks,
                "moves": [move.to_dict() for move in self.moves],
                "evidence": dict(self.evidence)}  # fmt: skip


def demo_rollout(settings: Settings, options: RolloutOptions) -> DemoRollout:
    """Run the demo pair's rollout end to end (module docstring).

    Raises
    ------
    tradeloop.errors.SettingsError
        ``out`` is not empty, the tick is not positive, or the proposal does not fit the live state.
    """
    from deployment import ReplayFeed, deploy_step, paper_run, simulated_bot_step
    from gitops import LocalForge, load_state
    from warehouse import Warehouse

    hours = options.tick / timedelta(hours=1)
    for option, value, least in (("--tick-hours", hours, "> 0"), ("--days", options.days, "> 0"),
                                 ("--degrade-bps", options.degrade_bps, ">= 0")):  # fmt: skip
        if not math.isfinite(value) or value < 0 or (least == "> 0" and value == 0):
            raise SettingsError(f"demo rollout: {option} must be a number {least}, got {value:g}")
    repo = _scratch_repo(settings.repo, options)
    feed = ReplayFeed(
        f"demo market, held back (seed {options.seed})", demo_market(options.days + 1, seed=options.seed)
    )
    forge = LocalForge(repo, home=options.out / "home")
    url = f"sqlite:///{(options.out / 'warehouse.db').resolve()}"
    moves: list[RolloutMove] = []
    clock, ticks, horizon = DEMO_START, 0, DEMO_START + timedelta(days=options.days)
    with Warehouse(url) as warehouse:
        while clock + options.tick <= horizon:
            clock, ticks = clock + options.tick, ticks + 1
            constants, flags = load_state(repo)
            paper_run(constants, flags, lambda *_: feed, warehouse, options.out / "paper", clock)
            simulated_bot_step(repo, lambda *_: feed, warehouse, options.out / "bot", clock,
                               extra_slippage_bps=options.degrade_bps)  # fmt: skip
            results = deploy_step(repo, warehouse, forge, clock, bars=_bars(feed))
            moves += [_merge(forge, result, clock) for result in results if result.pr_number and
                      result.action in ("created", "updated")]  # fmt: skip
            if _finished(repo) or (moves and not moves[-1].pr_check_passed):
                break
        evidence = _evidence_counts(warehouse, repo)
    return _result(options, repo, url, clock, ticks, moves, evidence)


def _scratch_repo(source: Path, options: RolloutOptions) -> Path:
    """The scratch repository under ``options.out`` with the proposal merged; nothing left behind on
    failure."""
    from tradeloop.documents import Proposal

    out = options.out
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise SettingsError(f"demo rollout: {out} is not an empty directory; pass --out with a new directory")
    proposal = Proposal.read(options.proposal or DEMO_PROPOSAL)  # before anything is written
    created = not out.exists()
    repo = out / "repo"
    try:
        _build_scratch_repo(source, repo, proposal)
    except BaseException:  # nothing half-written: the same --out works once the cause is fixed
        shutil.rmtree(out if created else repo, ignore_errors=True)
        raise
    return repo


def _build_scratch_repo(source: Path, repo: Path, proposal: Proposal) -> None:
    from gitops import CONSTANTS_FILE, FEATURE_FLAGS_FILE, apply_proposal, load_constants
    from tradeloop import Provenance

    for name in (CONSTANTS_FILE, FEATURE_FLAGS_FILE):
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source / name, repo / name)
    if DEMO_PAIR[1] not in load_constants(repo / CONSTANTS_FILE).live_params.get(DEMO_PAIR[0], {}):
        raise StateFileError(
            f"{CONSTANTS_FILE}: LIVE_PARAMS has no {'/'.join(DEMO_PAIR)}; the demo rollout needs the demo "
            "pair (docs/demo.md): restore it, or run in a clone of tradeloop"
        )
    _git(repo, "init", "-q", "-b", "main")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "the live state", at=DEMO_START - timedelta(days=1))
    _git(repo, "checkout", "-q", "-b", "tradeloop/opt/rsi_reversion-DEMO")
    provenance = Provenance(run_id="demo-rollout", git_sha="0" * 40, written_at=DEMO_START.isoformat())
    apply_proposal(repo, proposal, provenance=provenance, pr_number=1)
    _git(repo, "commit", "-q", "-am", "rsi_reversion/DEMO: the validated proposal",
         at=DEMO_START - timedelta(hours=1))  # fmt: skip
    _git(repo, "checkout", "-q", "main")
    _git(repo, "merge", "--no-ff", "-q", "-m", "Merge the optimizer pull request #1",
         "tradeloop/opt/rsi_reversion-DEMO", at=DEMO_START)  # fmt: skip


def _git(repo: Path, *args: str, at: datetime | None = None) -> str:
    env = {**os.environ, **_PERSON, "GIT_CONFIG_NOSYSTEM": "1"}
    if at is not None:
        env |= {"GIT_AUTHOR_DATE": at.isoformat(), "GIT_COMMITTER_DATE": at.isoformat()}
    done = subprocess.run(
        ["git", "-C", str(repo), *args], capture_output=True, text=True, env=env, check=False
    )
    if done.returncode != 0:
        raise StateFileError(
            f"demo rollout: git {' '.join(args[:2])} failed in {repo}: {done.stderr.strip()}"
        )
    return done.stdout.strip()


def _bars(feed: Any) -> Any:
    """COLD's bars: the feed's bars in ``(start, end]``."""

    def provide(strategy: str, symbol: str, timeframe: str, start: datetime, end: datetime) -> Any:
        window = feed.read(end).since(start)
        return window if len(window) else None

    return provide


def _merge(forge: LocalForge, result: Rollout, clock: datetime) -> RolloutMove:
    """``pr check`` the deployment pull request, then merge it as a person would (at ``clock``)."""
    from gitops import check_pull_request

    assert result.pr_number is not None and result.verdict is not None
    report = check_pull_request(forge, result.pr_number, base="main")
    pull = forge.get_pr(result.pr_number)
    merged = None
    if report.passed:
        _git(forge.repo, "merge", "--no-ff", "-q", "-m", f"Merge pull request #{pull.number}: {pull.title}",
             pull.branch, at=clock)  # fmt: skip
        merged = _git(forge.repo, "rev-parse", "HEAD")
    target = "failed" if result.verdict.decision == "fail" else result.verdict.stage
    return RolloutMove(
        at=clock, move=f"{result.stage} → {target}", decision=result.verdict.decision,
        reason=result.verdict.reason if report.passed else "; ".join(report.violations),
        pr_number=pull.number, title=pull.title, checks=tuple(check.to_dict() for check in result.checks),
        pr_check_passed=report.passed, merge_commit=merged,
    )  # fmt: skip


def _finished(repo: Path) -> bool:
    from gitops import load_feature_flags

    rollout = load_feature_flags(repo / "feature_flags.json").rollout(*DEMO_PAIR)
    return rollout is None or rollout.phase != "progressing"


def _evidence_counts(warehouse: Any, repo: Path) -> dict[str, int]:
    """The evidence stored, by set, mode and kind: ``candidate_paper_equity``, ``previous_live_trades`` ..."""
    from gitops import load_feature_flags

    rollout = load_feature_flags(repo / "feature_flags.json").rollout(*DEMO_PAIR)
    assert rollout is not None and rollout.previous_config_hash is not None
    counts = {}
    for role, config_hash in (("candidate", rollout.config_hash), ("previous", rollout.previous_config_hash)):
        for mode in ("paper", "live"):
            counts[f"{role}_{mode}_equity"] = len(warehouse.equity_points(*DEMO_PAIR, config_hash, mode))
            counts[f"{role}_{mode}_trades"] = len(warehouse.trade_pnls(*DEMO_PAIR, config_hash, mode))
    return counts


def _result(
    options: RolloutOptions,
    repo: Path,
    url: str,
    clock: datetime,
    ticks: int,
    moves: list[RolloutMove],
    evidence: dict[str, int],
) -> DemoRollout:
    from gitops import load_feature_flags

    rollout = load_feature_flags(repo / "feature_flags.json").rollout(*DEMO_PAIR)
    assert rollout is not None
    stage, phase = rollout.stage.value, rollout.phase
    outcome = {"succeeded": "FULL", "failed": "failed"}.get(phase, "unfinished")
    if moves and not moves[-1].pr_check_passed:
        reason = f"pr check refused #{moves[-1].pr_number}: {moves[-1].reason}"
    elif outcome == "unfinished":
        reason = f"still in {stage} after {options.days:g} days; a longer --days lets it finish"
    else:
        reason = moves[-1].reason if moves else ""
    return DemoRollout(str(options.out), str(repo), url, outcome, stage, phase, reason, clock, ticks,
                       tuple(moves), evidence)  # fmt: skip
