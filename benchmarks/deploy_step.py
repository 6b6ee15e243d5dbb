"""How long one ``tradeloop deploy step`` takes over 20 rollouts with a week of 5-minute evidence each.

Run from the repository root::

    .venv/bin/python benchmarks/deploy_step.py                    # 5 timed steps, median
    .venv/bin/python benchmarks/deploy_step.py --repeats 7 --json benchmarks/results/deploy_step.json

The set-up (untimed): a real git repository whose ``config/constants.py`` has 20 live ``rsi_reversion`` pairs
on 5-minute bars, 10 rollouts in WARM and 10 in LIMITED, each stage merged a week before the clock; a SQLite
warehouse holding, per rollout, a week (2,016 bars) of the new and the previous parameters' equity and their
trades (80,640 equity points, 1,600 trades). Each timed run starts from copies of both (so every rollout is
due), and runs the whole ``tradeloop deploy step --forge local`` in-process: the state read from git and the
history of ``feature_flags.json``, 20 analyses (evidence read from the warehouse, the checks, the mSPRT over
168 hourly looks), every check recorded, and a deployment pull request built and opened for each rollout that
moves (all of them: the evidence is good). Target (issue 17): at most 10 s on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from gitops import (  # noqa: E402
    FeatureFlags,
    Rollout,
    Stage,
    edit_constants_text,
    parse_constants,
    render_feature_flags,
)
from tradeloop import Provenance  # noqa: E402
from tradeloop.cli import app  # noqa: E402
from warehouse import Warehouse  # noqa: E402

TARGET_S = 10.0
ROLLOUTS = 20
BARS = 7 * 24 * 12  # a week of 5-minute bars
START = datetime(2025, 3, 3, tzinfo=UTC)
CLOCK = START + timedelta(days=7)
ENV = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "bench@example.com", "GIT_COMMITTER_NAME": "bench",
       "GIT_COMMITTER_EMAIL": "bench@example.com", "GIT_CONFIG_NOSYSTEM": "1"}  # fmt: skip


def _git(repo: Path, *args: str, at: datetime | None = None) -> None:
    env = dict(ENV)
    if at is not None:
        env |= {"GIT_AUTHOR_DATE": at.isoformat(), "GIT_COMMITTER_DATE": at.isoformat()}
    subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, env={**_os_env(), **env})


def _os_env() -> dict[str, str]:
    import os

    return dict(os.environ)


def _symbols() -> list[str]:
    return [f"BENCH{index:02d}" for index in range(ROLLOUTS)]


def build(workdir: Path) -> tuple[Path, Path]:
    """The repository (state at ``START``) and the warehouse file with a week of evidence per rollout."""
    repo = workdir / "repo"
    (repo / "config").mkdir(parents=True)
    text = (ROOT / "config" / "constants.py").read_text(encoding="utf-8")
    start = text.index("LIVE_PARAMS: Final = {")
    end = text.index("\n}\n", start) + 3
    entries = "".join(
        f'        "{symbol}": {{"timeframe": "5m", "overbought": 70.0, "oversold": 30.0, '
        '"rsi_period": 14},\n'
        for symbol in _symbols()
    )
    text = (
        text[:start]
        + 'LIVE_PARAMS: Final = {\n    "rsi_reversion": {\n'
        + entries
        + "    },\n}\n"
        + text[end:]
    )
    # A week in WARM or LIMITED would pass their default 5-minute deadlines (3 days, 1 week): give both room,
    # so that the rollouts promote and every step of the path (pull requests included) is timed.
    text = text.replace('"5m": 864,', '"5m": 4032,').replace(
        '"5m": 2016, "15m": 672', '"5m": 4032, "15m": 672'
    )
    live = parse_constants(text)
    provenance = Provenance(run_id="bench", git_sha="nogit", written_at=START.isoformat())
    new_text = edit_constants_text(
        text,
        {("LIVE_PARAMS", "rsi_reversion", s, "rsi_period"): 12 for s in _symbols()},
        provenance=provenance,
    )
    new = parse_constants(new_text)
    rollouts = {}
    for index, symbol in enumerate(_symbols()):
        stage = Stage.WARM if index % 2 == 0 else Stage.LIMITED
        rollouts[f"rsi_reversion/{symbol}"] = Rollout(
            stage=stage, canary_fraction=0.0 if stage == Stage.WARM else 0.1, config_hash=new.config_hash,
            pr_number=index + 1, started_at=START - timedelta(days=1), updated_at=START,
            previous_config_hash=live.config_hash, phase="progressing",
            previous_params=dict(live.live_params["rsi_reversion"][symbol]),
        )  # fmt: skip
    flags = FeatureFlags(provenance=provenance, rollouts=rollouts)
    (repo / "config" / "constants.py").write_text(new_text, encoding="utf-8")
    (repo / "feature_flags.json").write_text(render_feature_flags(flags), encoding="utf-8")
    _git(workdir, "init", "-q", "-b", "main", str(repo))
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", "20 rollouts, merged a week ago", at=START)
    database = workdir / "warehouse.db"
    with Warehouse(f"sqlite:///{database}") as warehouse:
        _evidence(warehouse, new.config_hash, live.config_hash)
    return repo, database


def _evidence(warehouse: Warehouse, new_hash: str, old_hash: str) -> None:
    rng = np.random.default_rng(17)
    times = [START + timedelta(minutes=5 * (i + 1)) for i in range(BARS)]
    for index, symbol in enumerate(_symbols()):
        mode = "paper" if index % 2 == 0 else "live"
        market = rng.normal(0.0, 0.001, BARS)
        new_returns = market + rng.normal(0.0003, 0.0005, BARS)
        points, trades = [], []
        sets = ((new_hash, mode, new_returns, 4), (old_hash, "live", market, 3))
        for config_hash, set_mode, returns, every in sets:
            equity = 1000.0 * np.cumprod(1.0 + returns)
            common = {"run_id": "bench", "strategy": "rsi_reversion", "symbol": symbol, "timeframe": "5m",
                      "config_hash": config_hash, "mode": set_mode}  # fmt: skip
            points += [
                {**common, "ts": at, "equity_usd": float(value)}
                for at, value in zip(times, equity, strict=True)
            ]
            for number in range(40):
                entry = times[number * 48 + 1]
                pnl = 0.9 if number % every else -0.5  # new: 3 wins in 4, previous: 2 in 3
                trades.append({**common, "trade_id": f"{symbol}-{config_hash[:6]}-{number}", "side": "long",
                               "entry_time": entry, "exit_time": entry + timedelta(minutes=15),
                               "entry_price": 100.0, "exit_price": 100.0 + pnl, "size": 1.0, "pnl": pnl,
                               "pnl_pct": pnl, "fees": 0.01})  # fmt: skip
        warehouse.add_equity(points)
        warehouse.add_evidence_trades(trades)


def one_step(repo: Path, database: Path, scratch: Path) -> tuple[float, dict[str, Any]]:
    """One timed ``deploy step`` on fresh copies of the repository and the warehouse."""
    if scratch.exists():
        shutil.rmtree(scratch)
    shutil.copytree(repo, scratch / "repo", symlinks=True)
    shutil.copyfile(database, scratch / "warehouse.db")
    args = ["--repo", str(scratch / "repo"), "--home", str(scratch / "home"), "--json", "deploy", "step",
            "--forge", "local"]  # fmt: skip
    env = {"TRADELOOP_NOW": CLOCK.isoformat(), "TRADELOOP_DB_URL": f"sqlite:///{scratch / 'warehouse.db'}"}
    began = time.perf_counter()
    result = CliRunner().invoke(app, args, env=env)
    elapsed = time.perf_counter() - began
    if result.exit_code != 0:
        raise SystemExit(f"deploy step failed: {result.output}")
    return elapsed, json.loads(result.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path, default=None, help="write the figures here too")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tradeloop-bench-deploy-") as scratch:
        workdir = Path(scratch)
        began = time.perf_counter()
        repo, database = build(workdir)
        setup_s = time.perf_counter() - began
        one_step(repo, database, workdir / "warm-up")  # imports and first-call costs, untimed
        times, document = [], {}
        for run in range(options.repeats):
            elapsed, document = one_step(repo, database, workdir / f"run-{run}")
            times.append(elapsed)
            print(f"run {run + 1}: {elapsed:.2f} s")
    decisions = [rollout["verdict"]["decision"] for rollout in document["rollouts"]]
    actions = [rollout["pull_request"]["action"] for rollout in document["rollouts"]]
    figures = {
        "rollouts": ROLLOUTS, "bars_per_rollout": BARS, "equity_points": ROLLOUTS * BARS * 2,
        "repeats": options.repeats, "median_s": statistics.median(times), "min_s": min(times),
        "max_s": max(times), "setup_s": setup_s, "target_s": TARGET_S,
        "decisions": {name: decisions.count(name) for name in sorted(set(decisions))},
        "pull_requests": {name: actions.count(name) for name in sorted(set(actions))},
    }  # fmt: skip
    print(
        f"deploy step over {ROLLOUTS} rollouts x {BARS} 5-minute bars: median {figures['median_s']:.2f} s "
        f"(min {figures['min_s']:.2f}, max {figures['max_s']:.2f}, {options.repeats} runs); target "
        f"{TARGET_S:g} s; "
        f"decisions {figures['decisions']}, pull requests {figures['pull_requests']}"
    )
    if options.json is not None:
        options.json.write_text(json.dumps(figures, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
