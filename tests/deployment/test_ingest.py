"""``tradeloop deploy ingest``: every bad row is named (file, row, field, value, fix) and nothing is stored;
trade ids make a second ingest a no-op; rows of an unknown config hash are refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from gitops import load_feature_flags
from tests.deployment.conftest import (
    PAIR,
    T0,
    DeployRepo,
    bot_rows,
    merge_optimizer_change,
    write_csv,
    write_jsonl,
)
from warehouse import Warehouse


@pytest.fixture
def rows(deploy_repo: DeployRepo) -> list[dict[str, Any]]:
    merge_optimizer_change(deploy_repo)
    rollout = load_feature_flags(deploy_repo.repo / "feature_flags.json").rollout(*PAIR)
    assert rollout is not None and rollout.previous_config_hash is not None
    old = rollout.previous_config_hash
    return bot_rows(start=T0, bars=8, candidate=(rollout.config_hash, "paper"), baseline=(old, "live"),
                    edge=0.0, trades=(1, 1, 1, 0), seed=5)  # fmt: skip


def _stored(target: DeployRepo) -> int:
    with (
        Warehouse(f"sqlite:///{target.home / 'warehouse.db'}") as warehouse,
        warehouse.engine.connect() as db,
    ):
        return int(
            db.execute(
                text("SELECT (SELECT COUNT(*) FROM trades) + (SELECT COUNT(*) FROM equity)")
            ).scalar_one()
        )


def _refused(target: DeployRepo, path: Path) -> str:
    result = target.cli("deploy", "ingest", str(path))
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith("error: ")
    return " ".join(result.stderr.split())


BAD_ROWS: dict[str, tuple[dict[str, Any], str]] = {
    "a price that is not a number": (
        {"entry_price": "abc"},
        "field entry_price: got 'abc'; write a finite number >= 0, e.g. 101.5",
    ),
    "a time without its offset": (
        {"exit_time": "2024-06-01T00:30:00"},
        "field exit_time: got '2024-06-01T00:30:00'; write an ISO-8601 time with a UTC offset",
    ),
    "an unknown config hash": (
        {"config_hash": "0123456789abcdef"},
        "field config_hash: '0123456789abcdef' is not a config hash of rsi_reversion/DEMO",
    ),
    "a pair that is not live": (
        {"symbol": "BTC"},
        "fields strategy/symbol: rsi_reversion/BTC is not a live pair",
    ),
    "a mode the bot does not run": (
        {"mode": "backtest"},
        "field mode: got 'backtest'; use one of paper, live",
    ),
    "a missing trade id": ({"trade_id": ""}, "field trade_id: missing; add it"),
    "an exit before the entry": (
        {"exit_time": "2024-05-01T00:00:00+00:00"},
        "field exit_time: '2024-05-01T00:00:00+00:00' is before entry_time",
    ),
}


@pytest.mark.parametrize("case", list(BAD_ROWS))
@pytest.mark.parametrize("kind", ["csv", "jsonl"])
def test_a_bad_row_is_named_and_nothing_is_stored(
    deploy_repo: DeployRepo, rows: list[dict[str, Any]], tmp_path: Path, case: str, kind: str
) -> None:
    change, expected = BAD_ROWS[case]
    trades = [index for index, row in enumerate(rows) if row["kind"] == "trade"]
    bad = trades[1]
    rows[bad] = {**rows[bad], **change}
    path = (write_csv if kind == "csv" else write_jsonl)(tmp_path / f"bot.{kind}", rows)
    message = _refused(deploy_repo, path)
    assert message.startswith(f"error: bot.{kind}: row {bad + 1}"), message
    assert expected in message, message
    assert _stored(deploy_repo) == 0


def test_ingesting_twice_adds_nothing_and_a_changed_trade_is_refused(
    deploy_repo: DeployRepo, rows: list[dict[str, Any]], tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "bot.csv", rows)
    first = deploy_repo.cli("deploy", "ingest", str(path), json_output=True)
    assert (first["trades_new"], first["equity_new"]) == (3, 16)
    second = deploy_repo.cli("deploy", "ingest", str(path), json_output=True)
    assert (second["trades_new"], second["trades_known"], second["equity_new"], second["equity_known"]) == (
        0, 3, 0, 16,
    )  # fmt: skip
    index = next(i for i, row in enumerate(rows) if row["kind"] == "trade")
    rows[index] = {**rows[index], "pnl_usd": 99.0}
    message = _refused(deploy_repo, write_csv(tmp_path / "changed.csv", rows))
    assert (
        f"row {index + 1}, field trade_id: '{rows[index]['trade_id']}' is stored already with other figures"
        in message
    )
    assert _refused(deploy_repo, tmp_path / "missing.csv").startswith("error: ")


def test_a_file_that_is_not_json_lines_names_the_line(deploy_repo: DeployRepo, tmp_path: Path) -> None:
    merge_optimizer_change(deploy_repo)
    path = tmp_path / "bot.jsonl"
    path.write_text('{"kind": "equity"}\n{not json\n', encoding="utf-8")
    message = _refused(deploy_repo, path)
    assert message.startswith("error: bot.jsonl: row 1, field strategy: missing; add it, e.g. ema_cross")
    path.write_text('{"kind": "trade", "strategy": "rsi_reversion"}\n[1]\n', encoding="utf-8")
    assert "row 1, field symbol: missing" in _refused(deploy_repo, path)
    path.write_text("\n\n{oops\n", encoding="utf-8")
    assert "bot.jsonl: row 1 (line 3) is not JSON" in _refused(deploy_repo, path)
