"""Alerts people act on: Slack (Block Kit), Discord (embeds) and a generic JSON webhook.

- **Channels** come from the environment (or the workflow's secrets mapped into it): every
  ``TRADELOOP_WEBHOOK_<NAME>`` variable is one webhook; a name starting with ``SLACK`` gets Slack's Block
  Kit, ``DISCORD`` Discord's embeds, anything else the generic JSON document (:meth:`Alert.to_dict`).
- **Severity** as Flagger's: ``info`` (stage changes), ``warn`` (holds, inconclusive or failed checks below
  the threshold), ``error`` (rollbacks, failed rollouts, the dead man's switch).
- **Once**: each alert has a dedup key (rollout, stage, event); a key is recorded in the sent log (a JSON
  file replaced atomically) when every channel took it, and never sent again.
- **Delivery**: each webhook is tried up to ``attempts`` times with exponential backoff; an HTTP 429 waits
  its ``Retry-After`` (capped); a timeout counts as a failed attempt. Texts are cut to the platforms' size
  limits. A webhook's URL is a secret: messages name the variable, never the URL.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import requests

from tradeloop import atomic_write_text
from tradeloop.errors import SettingsError

if TYPE_CHECKING:
    from deployment._model import Rollout
    from warehouse import Warehouse

__all__ = [
    "SEVERITIES",
    "Alert",
    "Delivery",
    "SentLog",
    "WarehouseSentLog",
    "Webhook",
    "discord_payload",
    "send_alerts",
    "slack_payload",
    "step_alerts",
    "webhooks_from_env",
]

Severity = Literal["info", "warn", "error"]
SEVERITIES: tuple[Severity, ...] = ("info", "warn", "error")
WEBHOOK_PREFIX = "TRADELOOP_WEBHOOK_"
_COLOURS = {"info": 0x2E86DE, "warn": 0xF39C12, "error": 0xC0392B}
_EMOJI = {"info": ":information_source:", "warn": ":warning:", "error": ":rotating_light:"}
#: Slack: section text 3,000 characters, header 150, fallback text kept short; Discord: title 256,
#: description 4,096, field value 1,024, 25 fields, 6,000 characters in all embeds; generic: 64 KiB.
SLACK_TEXT_LIMIT, SLACK_HEADER_LIMIT = 3000, 150
DISCORD_TITLE_LIMIT, DISCORD_DESCRIPTION_LIMIT, DISCORD_FIELD_LIMIT, DISCORD_FIELDS = 256, 4096, 1024, 25
DISCORD_TOTAL_LIMIT = 6000
GENERIC_LIMIT = 65536
MAX_RETRY_AFTER_S = 60.0


@dataclass(frozen=True)
class Alert:
    """One alert: what happened to which rollout, how bad, and what to do."""

    severity: Severity
    event: str
    rollout: str
    stage: str
    title: str
    text: str
    fields: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise SettingsError(
                f"alert severity {self.severity!r} is not one of {', '.join(SEVERITIES)}; pick one of them"
            )

    @property
    def dedup_key(self) -> str:
        return f"{self.rollout}|{self.stage}|{self.event}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "severity": self.severity,
            "event": self.event,
            "rollout": self.rollout,
            "stage": self.stage,
            "title": self.title,
            "text": self.text,
            "fields": dict(self.fields),
            "dedup_key": self.dedup_key,
        }


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slack_payload(alert: Alert) -> dict[str, Any]:
    """Slack's incoming-webhook message in Block Kit, within its limits."""
    header = _cut(f"[{alert.severity.upper()}] {alert.title}", SLACK_HEADER_LIMIT)
    facts = "\n".join(f"*{name}:* {value}" for name, value in alert.fields.items())
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": header}},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": _cut(alert.text or alert.title, SLACK_TEXT_LIMIT)},
        },
    ]
    if facts:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _cut(facts, SLACK_TEXT_LIMIT)}})
    context = f"{_EMOJI[alert.severity]} {alert.rollout} · {alert.stage} · {alert.event}"
    blocks.append(
        {"type": "context", "elements": [{"type": "mrkdwn", "text": _cut(context, SLACK_TEXT_LIMIT)}]}
    )
    return {"text": _cut(header, SLACK_HEADER_LIMIT), "blocks": blocks}


def discord_payload(alert: Alert) -> dict[str, Any]:
    """Discord's webhook message with one embed, within its limits (6,000 characters in all)."""
    title = _cut(f"[{alert.severity.upper()}] {alert.title}", DISCORD_TITLE_LIMIT)
    footer = _cut(f"{alert.rollout} · {alert.stage} · {alert.event}", 2048)
    room = DISCORD_TOTAL_LIMIT - len(title) - len(footer)
    description = _cut(alert.text or alert.title, min(DISCORD_DESCRIPTION_LIMIT, room))
    room -= len(description)
    fields = []
    for name, value in list(alert.fields.items())[:DISCORD_FIELDS]:
        shown_name, shown_value = _cut(name, 256), _cut(value or "—", DISCORD_FIELD_LIMIT)
        if len(shown_name) + len(shown_value) > room:
            break
        room -= len(shown_name) + len(shown_value)
        fields.append({"name": shown_name, "value": shown_value, "inline": len(shown_value) < 40})
    embed = {"title": title, "description": description, "color": _COLOURS[alert.severity], "fields": fields,
             "footer": {"text": footer}}  # fmt: skip
    return {"embeds": [embed]}


def generic_payload(alert: Alert) -> dict[str, Any]:
    """The alert as a JSON document under 64 KiB: at most 25 fields of 1,024 characters, the text cut."""
    document = alert.to_dict()
    document["fields"] = {
        _cut(name, 256): _cut(value, 1024) for name, value in list(alert.fields.items())[:25]
    }
    size = len(json.dumps(document))
    if size > GENERIC_LIMIT:
        document["text"] = _cut(alert.text, max(0, len(alert.text) - (size - GENERIC_LIMIT) - 16))
    return document


_FORMATS: dict[str, Callable[[Alert], dict[str, Any]]] = {
    "slack": slack_payload,
    "discord": discord_payload,
    "json": generic_payload,
}


@dataclass(frozen=True)
class Webhook:
    """One configured webhook: the variable that names it (shown), its format and its URL (never shown)."""

    name: str
    kind: Literal["slack", "discord", "json"]
    url: str = field(repr=False)


def webhooks_from_env(env: Mapping[str, str] | None = None) -> list[Webhook]:
    """Every non-empty ``TRADELOOP_WEBHOOK_<NAME>`` (module docstring), sorted by name."""
    env = os.environ if env is None else env
    found = []
    for name in sorted(env):
        url = env[name].strip()
        if not name.startswith(WEBHOOK_PREFIX) or not url:
            continue
        if not url.startswith(("https://", "http://")):
            raise SettingsError(
                f"{name} is not an http(s) URL; set it to the webhook's URL (the value is not shown)"
            )
        suffix = name[len(WEBHOOK_PREFIX) :].upper()
        kind: Literal["slack", "discord", "json"] = (
            "slack" if suffix.startswith("SLACK") else "discord" if suffix.startswith("DISCORD") else "json"
        )
        found.append(Webhook(name, kind, url))
    return found


class SentLog:
    """The dedup keys already sent, in a JSON file replaced atomically on every change (tests and
    scripts; the monitor keeps them in the warehouse: :class:`WarehouseSentLog`)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._keys = self._load()

    def _load(self) -> dict[str, str]:
        if not self.path.exists():
            return {}
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SettingsError(
                f"{self.path}: the sent-alerts log is not readable JSON ({exc}); delete it to send every "
                "alert again"
            ) from None
        keys = document.get("sent") if isinstance(document, dict) else None
        if not isinstance(keys, dict):
            raise SettingsError(f"{self.path}: no 'sent' object; delete it to send every alert again")
        return {str(key): str(at) for key, at in keys.items()}

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def add(self, key: str, at: str) -> None:
        self._keys[key] = at
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.path, json.dumps({"sent": self._keys}, indent=2, sort_keys=True) + "\n")


class WarehouseSentLog(SentLog):
    """The dedup keys already sent, as warehouse runs of kind ``alert`` (one row per key and webhook,
    written in one transaction), so they hold across runners wherever ``TRADELOOP_DB_URL`` points."""

    def __init__(self, warehouse: Warehouse) -> None:
        self.warehouse = warehouse
        self.path = Path(str(warehouse.url))
        self._keys = {
            str(run.params["dedup_key"]): run.started_at.isoformat()
            for run in warehouse.runs("alert")
            if run.params and "dedup_key" in run.params
        }

    def add(self, key: str, at: str) -> None:
        self._keys[key] = at
        run_id = "alert-" + hashlib.sha256(key.encode()).hexdigest()[:32]
        when = datetime.fromisoformat(at)
        self.warehouse.start_run("alert", git_sha="-", run_id=run_id, params={"dedup_key": key},
                                 started_at=when, resume=True)  # fmt: skip
        self.warehouse.finish_run(run_id, "ok", finished_at=when)


@dataclass(frozen=True)
class Delivery:
    """What became of one alert: ``sent`` to every webhook, ``duplicate`` (sent before), ``failed`` on
    some (``errors`` name the variable and the cause), or ``none`` (no webhook configured)."""

    alert: Alert
    outcome: Literal["sent", "duplicate", "failed", "none"]
    attempts: int = 0
    errors: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {"alert": self.alert.to_dict(), "outcome": self.outcome, "attempts": self.attempts,
                "errors": list(self.errors)}  # fmt: skip


def _post(
    hook: Webhook,
    payload: dict[str, Any],
    *,
    attempts: int,
    backoff_s: float,
    timeout_s: float,
    sleep: Callable[[float], None],
) -> tuple[int, str | None]:
    """POST with retries; ``(attempts made, None)`` on success, else the last cause (no URL in it)."""
    cause = "not tried"
    for attempt in range(1, attempts + 1):
        wait = backoff_s * 2 ** (attempt - 1)
        try:
            response = requests.post(hook.url, json=payload, timeout=timeout_s)
        except requests.Timeout:
            cause = f"no answer within {timeout_s:g} s"
        except requests.RequestException as exc:
            cause = f"connection failed ({type(exc).__name__})"
        else:
            if response.status_code < 300:
                return attempt, None
            cause = f"HTTP {response.status_code}"
            if response.status_code == 429:
                wait = _retry_after(response.headers.get("Retry-After"), wait)
                cause += f" (rate limited, Retry-After {wait:g} s)"
            elif 400 <= response.status_code < 500 and response.status_code != 408:
                return attempt, f"{cause}: the webhook refused the message; check {hook.name}"
        if attempt < attempts:
            sleep(wait)
    return attempts, cause


def _retry_after(value: str | None, default: float) -> float:
    try:
        seconds = float(value) if value is not None else default
    except ValueError:
        seconds = default
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


def send_alerts(
    alerts: Sequence[Alert],
    webhooks: Sequence[Webhook],
    sent: SentLog | None,
    *,
    at: str,
    attempts: int = 4,
    backoff_s: float = 1.0,
    timeout_s: float = 10.0,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Delivery]:
    """Send each alert not sent before to every webhook (module docstring); record the ones delivered."""
    deliveries = []
    for alert in alerts:
        if not webhooks:
            deliveries.append(Delivery(alert, "none"))
            continue
        pending = [hook for hook in webhooks if sent is None or _key(alert, hook) not in sent]
        if not pending:
            deliveries.append(Delivery(alert, "duplicate"))
            continue
        tries, errors = 0, []
        for hook in pending:
            made, cause = _post(hook, _FORMATS[hook.kind](alert), attempts=attempts, backoff_s=backoff_s,
                                timeout_s=timeout_s, sleep=sleep)  # fmt: skip
            tries += made
            if cause is not None:
                errors.append(f"{hook.name}: {cause} after {made} attempt(s)")
            elif sent is not None:  # per webhook: a retry later sends only to those that missed it
                sent.add(_key(alert, hook), at)
        outcome: Literal["sent", "failed"] = "failed" if errors else "sent"
        deliveries.append(Delivery(alert, outcome, tries, tuple(errors)))
    return deliveries


def _key(alert: Alert, hook: Webhook) -> str:
    return f"{alert.dedup_key}|{hook.name}"


def _fact(outcome: str, figure: float | None, unit: str) -> str:
    return f"{outcome}: {'—' if figure is None else f'{figure:.4g}'} {unit}".strip()


def step_alerts(results: Sequence[Rollout]) -> list[Alert]:
    """The alerts of one ``deploy step`` (its :class:`deployment.Rollout` results): ``info`` for a stage
    change proposed, ``warn`` for a hold on an inconclusive or failed analysis, ``error`` for a failed
    rollout; each once per (rollout, stage, event)."""
    found = []
    for result in results:
        verdict = result.verdict
        if verdict is None or not result.analyzed:
            continue
        rollout = f"{result.key}@{result.config_hash}"
        facts = {check.name: _fact(check.outcome, check.figure, check.unit) for check in result.checks}
        where = f" (pull request #{result.pr_number})" if result.pr_number else ""
        if verdict.decision == "promote":
            title = f"{result.key}: {result.stage} → {verdict.stage}"
            text = f"{verdict.reason}{where}. What to do: review and merge the deployment pull request."
            found.append(Alert("info", "promote", rollout, result.stage, title, text, facts))
        elif verdict.decision == "fail":
            title = f"{result.key} failed in {result.stage}"
            text = (
                f"{verdict.reason}{where}. What to do: merge it; the bot returns to the previous parameters."
            )
            found.append(Alert("error", "rollout_failed", rollout, result.stage, title, text, facts))
        elif verdict.outcome != "pass":
            title = f"{result.key} holds in {result.stage}"
            text = f"{verdict.reason}. What to do: nothing yet; check that the bot reports its evidence."
            found.append(Alert("warn", "hold", rollout, result.stage, title, text, facts))
    return found
