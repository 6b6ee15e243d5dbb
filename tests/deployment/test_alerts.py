"""Alerts against a real local HTTP server: Slack Block Kit, Discord embeds and generic JSON; sent once per
dedup key; retried with backoff; 429 Retry-After honoured; timeouts retried; size limits kept; the webhook
URL never printed (``tradeloop notify`` end to end through the CLI)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from deployment import Alert, SentLog, Webhook, send_alerts, webhooks_from_env
from tests.deployment.alert_server import AlertServer, serve
from tradeloop.cli import app
from tradeloop.errors import SettingsError

runner = CliRunner()
AT = "2025-01-01T00:00:00+00:00"


@pytest.fixture
def webhooks() -> Iterator[AlertServer]:
    with serve() as server:
        yield server


def _alert(event: str = "rollback", text: str = "the monitor rolled it back", **fields: str) -> Alert:
    return Alert("error", event, "ema_cross/SP500@abc", "FULL", "ema_cross/SP500 rolled back", text, fields)


def _hooks(server: AlertServer) -> list[Webhook]:
    env = {
        "TRADELOOP_WEBHOOK_SLACK": server.hook("slack"),
        "TRADELOOP_WEBHOOK_DISCORD_OPS": server.hook("discord"),
        "TRADELOOP_WEBHOOK_PAGER": server.hook("json"),
        "UNRELATED": "x",
    }
    return webhooks_from_env(env)


def test_each_platform_gets_its_format_once_per_dedup_key(webhooks: AlertServer, tmp_path: Path) -> None:
    hooks = _hooks(webhooks)
    assert [(h.name, h.kind) for h in hooks] == [
        ("TRADELOOP_WEBHOOK_DISCORD_OPS", "discord"), ("TRADELOOP_WEBHOOK_PAGER", "json"),
        ("TRADELOOP_WEBHOOK_SLACK", "slack"),
    ]  # fmt: skip
    assert webhooks.url not in repr(hooks)
    sent = SentLog(tmp_path / "sent.json")
    first = send_alerts([_alert(figure="9.1 %")], hooks, sent, at=AT, backoff_s=0)
    assert [d.outcome for d in first] == ["sent"]
    [slack] = webhooks.bodies("slack")
    assert slack["blocks"][0]["type"] == "header" and slack["blocks"][0]["text"]["text"].startswith("[ERROR]")
    assert {block["type"] for block in slack["blocks"]} == {"header", "section", "context"}
    [discord] = webhooks.bodies("discord")
    assert discord["embeds"][0]["color"] == 0xC0392B and discord["embeds"][0]["fields"][0]["name"] == "figure"
    [generic] = webhooks.bodies("json")
    assert generic["dedup_key"] == "ema_cross/SP500@abc|FULL|rollback" and generic["severity"] == "error"
    # Sent once: the same key again (a later run, the log re-read from disk) goes nowhere.
    again = send_alerts([_alert()], hooks, SentLog(tmp_path / "sent.json"), at=AT, backoff_s=0)
    assert [d.outcome for d in again] == ["duplicate"] and len(webhooks.received) == 3
    assert json.loads((tmp_path / "sent.json").read_text())["sent"]


def test_retries_back_off_honour_retry_after_and_survive_a_timeout(webhooks: AlertServer) -> None:
    [hook] = webhooks_from_env({"TRADELOOP_WEBHOOK_X": webhooks.hook("x")})
    waits: list[float] = []
    webhooks.plan = [("fail", 503), ("429", 2), ("slow", 1.0), ("ok",)]
    [done] = send_alerts([_alert()], [hook], None, at=AT, backoff_s=0.5, timeout_s=0.3, sleep=waits.append)
    assert done.outcome == "sent" and done.attempts == 4
    assert waits == [0.5, 2.0, 2.0]  # backoff, then Retry-After, then the doubled backoff after the timeout
    assert [answer for _, answer, _ in webhooks.attempts] == ["fail", "429", "slow", "ok"]
    assert len(webhooks.bodies("x")) == 1


def test_a_webhook_that_keeps_failing_is_reported_without_its_url(webhooks: AlertServer) -> None:
    [hook] = webhooks_from_env({"TRADELOOP_WEBHOOK_SLACK": webhooks.hook("slack")})
    webhooks.plan = [("fail", 500)] * 3
    [done] = send_alerts([_alert()], [hook], None, at=AT, attempts=3, backoff_s=0, sleep=lambda _: None)
    assert done.outcome == "failed" and done.attempts == 3
    assert done.errors == ("TRADELOOP_WEBHOOK_SLACK: HTTP 500 after 3 attempt(s)",)
    webhooks.plan = [("fail", 404)]
    [refused] = send_alerts([_alert()], [hook], None, at=AT, backoff_s=0, sleep=lambda _: None)
    assert refused.attempts == 1 and "check TRADELOOP_WEBHOOK_SLACK" in refused.errors[0]


def test_size_limits_of_each_platform_are_kept(webhooks: AlertServer) -> None:
    huge = "x" * 20_000
    fields = {f"field {i}": "y" * 2000 for i in range(40)}
    send_alerts([_alert(text=huge, **fields)], _hooks(webhooks), None, at=AT, backoff_s=0)
    [slack] = webhooks.bodies("slack")
    assert all(len(block["text"]["text"]) <= 3000 for block in slack["blocks"] if block["type"] == "section")
    assert len(slack["blocks"][0]["text"]["text"]) <= 150
    [discord] = webhooks.bodies("discord")
    embed = discord["embeds"][0]
    total = len(embed["title"]) + len(embed["description"]) + len(embed["footer"]["text"])
    total += sum(len(f["name"]) + len(f["value"]) for f in embed["fields"])
    assert total <= 6000 and len(embed["fields"]) <= 25 and len(embed["description"]) <= 4096
    assert all(len(f["value"]) <= 1024 for f in embed["fields"])
    [generic] = webhooks.bodies("json")
    assert len(json.dumps(generic)) <= 65536


def test_bad_configuration_is_refused_clearly() -> None:
    with pytest.raises(SettingsError, match="TRADELOOP_WEBHOOK_SLACK is not an http"):
        webhooks_from_env({"TRADELOOP_WEBHOOK_SLACK": "hooks.slack.com/services/T/B/secret"})
    with pytest.raises(SettingsError, match="severity 'fatal' is not one of info, warn, error"):
        Alert("fatal", "e", "r", "s", "t", "")  # type: ignore[arg-type]


def test_notify_cli_sends_once_and_never_prints_the_url(webhooks: AlertServer, tmp_path: Path) -> None:
    secret_url = webhooks.hook("slack") + "/T000/B000/very-secret-token"
    env = {"TRADELOOP_WEBHOOK_SLACK": secret_url, "TRADELOOP_ALERT_BACKOFF_S": "0"}
    args = ["--home", str(tmp_path / "home"), "notify", "--title", "LIMITED held", "--severity", "warn",
            "--event", "hold", "--rollout", "ema_cross/SP500", "--stage", "LIMITED"]  # fmt: skip
    first = runner.invoke(app, args, env=env)
    assert first.exit_code == 0 and "alert warn hold: sent" in first.stdout, first.output
    second = runner.invoke(app, args, env=env)
    assert second.exit_code == 0 and "duplicate" in second.stdout
    assert len(webhooks.received) == 1
    webhooks.plan = [("fail", 502)] * 4
    failed = runner.invoke(app, [*args[:-1], "WARM"], env=env)
    assert failed.exit_code == 1 and "TRADELOOP_WEBHOOK_SLACK: HTTP 502 after 4 attempt(s)" in failed.output
    for result in (first, second, failed):
        assert "very-secret-token" not in result.output and webhooks.url not in result.output
    bad = runner.invoke(app, [*args[:5], "--severity", "fatal"], env=env)
    assert bad.exit_code != 0 and "--severity 'fatal' is not one of info, warn, error" in bad.output


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_sent_keys_and_the_monitor_heartbeat_live_in_the_warehouse(backend: str, tmp_path: Path) -> None:
    from datetime import UTC, datetime
    from uuid import uuid4

    from deployment import WarehouseSentLog, last_monitor_run
    from tests.conftest import pg_url_or_skip
    from warehouse import Warehouse

    url = f"sqlite:///{tmp_path / 'w.db'}" if backend == "sqlite" else pg_url_or_skip()
    key = f"pair/{uuid4().hex}@abc|FULL|rollback|TRADELOOP_WEBHOOK_X"  # unique: a shared database
    with Warehouse(url) as warehouse:
        before = last_monitor_run(warehouse)
        WarehouseSentLog(warehouse).add(key, AT)
        WarehouseSentLog(warehouse).add(key, AT)  # a retry that raced: still one key, no error
        run = f"monitor-{uuid4().hex[:12]}"
        at = datetime(2031, 1, 1, tzinfo=UTC)
        warehouse.start_run("monitor", git_sha="x", run_id=run, started_at=at)
        warehouse.finish_run(run, "ok", finished_at=at)
    with Warehouse(url) as warehouse:  # a fresh runner reading the same database
        assert key in WarehouseSentLog(warehouse)
        assert last_monitor_run(warehouse) == max(at, before or at)
