"""``tradeloop paper run`` on a real git repository: the same engine as the backtests, append-only, resumable.

The demo pair's merged optimizer change starts a rollout at ``T0``; the feed replays the seeded reverting
market (``--feed reverting``) on the clock ``TRADELOOP_NOW``. A paper run split into steps, killed between
storing and journaling, or cut in the middle of a journal line, ends with the warehouse holding exactly the
backtest of the bars since ``T0``: every equity point and every closed trade, once.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from backtest_matrix import load_bars
from backtest_matrix.engine import EngineConfig, backtest
from gitops import load_state
from tests.deployment.conftest import PAIR, T0, DeployRepo, merge_optimizer_change
from tradeloop.loop import PAPER_TEST_PAUSE_ENV
from warehouse import Warehouse

DAY = timedelta(days=1)


def _backtest(target: DeployRepo, role: str, end: datetime) -> tuple[pd.Series, pd.DataFrame]:
    """The backtest of the bars in (T0, end] with the candidate's or the previous parameters."""
    constants, flags = load_state(target.repo)
    rollout = flags.rollout(*PAIR)
    assert rollout is not None and rollout.previous_params is not None
    params = constants.live_params[PAIR[0]][PAIR[1]] if role == "candidate" else rollout.previous_params
    bars = load_bars("reverting", timeframe="15m", cache_dir=target.home / "cache").bars
    window = bars[(bars.index > pd.Timestamp(T0)) & (bars.index <= pd.Timestamp(end))]
    config = EngineConfig(init_cash=constants.trading_capital_usd, fee_bps=constants.fee_bps,
                          slippage_bps=constants.slippage_bps)  # fmt: skip
    result = backtest(window, PAIR[0], {k: v for k, v in params.items() if k != "timeframe"}, config=config)
    trades = result.trades[result.trades["reason"] != "open"]
    return result.equity, trades


def _stored(target: DeployRepo, config_hash: str) -> tuple[list[tuple[datetime, float]], list[float]]:
    with Warehouse(f"sqlite:///{target.home / 'warehouse.db'}") as warehouse:
        points = warehouse.equity_points(*PAIR, config_hash, "paper")
        pnls = warehouse.trade_pnls(*PAIR, config_hash, "paper")
    return points, pnls


def _assert_equals_backtest(target: DeployRepo, end: datetime) -> None:
    _, flags = load_state(target.repo)
    rollout = flags.rollout(*PAIR)
    assert rollout is not None and rollout.previous_config_hash is not None
    for role, config_hash in (("candidate", rollout.config_hash), ("previous", rollout.previous_config_hash)):
        equity, trades = _backtest(target, role, end)
        points, pnls = _stored(target, config_hash)
        assert [pd.Timestamp(at) for at, _ in points] == list(equity.index), role
        np.testing.assert_allclose([value for _, value in points], equity.to_numpy(), rtol=1e-12)
        np.testing.assert_allclose(pnls, trades.sort_values("exit_time")["pnl"].to_numpy(), rtol=1e-9)
        assert len(pnls) >= 3, role  # real trading, not an empty comparison


def _journal(target: DeployRepo) -> Path:
    [journal] = (target.home / "paper").glob("*/rsi_reversion-DEMO-*.jsonl")
    return journal


def test_a_paper_run_in_steps_equals_the_backtest_of_the_same_bars(deploy_repo: DeployRepo) -> None:
    target = deploy_repo
    merge_optimizer_change(target)
    for clock in (T0 + 2 * DAY, T0 + 2 * DAY, T0 + 5 * DAY + timedelta(minutes=7), T0 + 8 * DAY):
        out = target.cli("paper", "run", "--feed", "reverting", now=clock, json_output=True)
        assert isinstance(out, dict), out.output
    [run] = out["runs"]
    assert [item["role"] for item in run["sets"]] == ["candidate", "previous"]
    assert run["sets"][0]["last_bar"] == (T0 + 8 * DAY).isoformat()
    _assert_equals_backtest(target, T0 + 8 * DAY)
    lines = [json.loads(line) for line in _journal(target).read_text().splitlines()]
    assert {line["mode"] for line in lines} == {"paper"}
    assert len(lines) == len({json.dumps(line, sort_keys=True) for line in lines})  # nothing twice
    # The journal is in the ingest schema: `deploy ingest` takes it and finds everything stored already.
    again = target.cli("deploy", "ingest", str(_journal(target)), json_output=True)
    assert again["trades_new"] == 0 and again["equity_new"] == 0 and again["equity_known"] == 2 * 8 * 96


def test_a_torn_journal_line_is_cut_off_and_reported_again(deploy_repo: DeployRepo) -> None:
    target = deploy_repo
    merge_optimizer_change(target)
    target.cli("paper", "run", "--feed", "reverting", now=T0 + 3 * DAY)
    journal = _journal(target)
    text = journal.read_bytes()
    journal.write_bytes(text[: len(text) - 40])  # a kill in the middle of the last line
    out = target.cli("paper", "run", "--feed", "reverting", now=T0 + 4 * DAY, json_output=True)
    assert isinstance(out, dict), out.output
    _assert_equals_backtest(target, T0 + 4 * DAY)
    lines = journal.read_text().splitlines()
    assert len(lines) == len(set(lines)) and all(json.loads(line) for line in lines)


def _paper_process(target: DeployRepo, now: datetime, **env: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "tradeloop", "--json", "--repo", str(target.repo), "--home",
               str(target.home), "paper", "run", "--feed", "reverting"]  # fmt: skip
    full_env = {**os.environ, "TRADELOOP_NOW": now.isoformat(), "PYTHONDONTWRITEBYTECODE": "1", **env}
    return subprocess.Popen(command, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _stored_points(target: DeployRepo) -> int:
    database = target.home / "warehouse.db"
    if not database.exists():
        return 0
    try:
        with sqlite3.connect(database, timeout=30) as db:
            return int(db.execute("SELECT count(*) FROM equity").fetchone()[0])
    except sqlite3.OperationalError:  # the tables are being created
        return 0


def test_a_sigkilled_paper_run_loses_nothing_and_duplicates_nothing(deploy_repo: DeployRepo) -> None:
    target = deploy_repo
    merge_optimizer_change(target)
    target.cli("paper", "run", "--feed", "reverting", now=T0 + DAY)
    before = _stored_points(target)
    process = _paper_process(target, T0 + 3 * DAY, **{PAPER_TEST_PAUSE_ENV: "600"})
    while _stored_points(target) == before:  # the first set's new rows are stored, not yet journaled
        assert process.poll() is None, process.communicate()
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL
    journaled = [json.loads(line) for line in _journal(target).read_text().splitlines()]
    # The killed run stored the first set's new rows in the warehouse but journaled none of them.
    assert sum(line["kind"] == "equity" for line in journaled) == 2 * 96
    assert _stored_points(target) > 2 * 96
    resumed = _paper_process(target, T0 + 3 * DAY)
    _, errors = resumed.communicate()
    assert resumed.returncode == 0, errors
    _assert_equals_backtest(target, T0 + 3 * DAY)
    lines = _journal(target).read_text().splitlines()
    assert len(lines) == len(set(lines))
    assert sum(json.loads(line)["kind"] == "equity" for line in lines) == 2 * 3 * 96
