"""The one masking function for secrets in anything tradeloop shows: messages, JSON, files and logs.

:func:`mask_secrets` works on free text, so a URL is masked wherever it appears (quoted in a message, inside a
driver's error, on a line of a log) and whatever its shape: with or without a scheme (``postgresql//u:pw@h``
is a typo users make), with an odd or malformed port, with a password containing ``/`` or ``@``, or with
secrets in its query string (``?password=…``, ``sslpassword=…``, libpq ``password=…`` pairs). Tokens of known
shapes (GitHub ``ghp_…``/``github_pat_…``, ``Authorization``/``Bearer`` values) and every value in
``known`` (the secrets of the environment: see :func:`environment_secrets`) are masked too. It never parses,
so it cannot fail on a malformed URL and never echoes one raw.

:func:`mask_url` is the same function under the name callers of URLs expect. The CLI passes every error line,
every JSON document and every log record through :func:`mask_secrets`, so a message that forgot to mask is
still safe.
"""

from __future__ import annotations

import base64
import logging
import os
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote, unquote

__all__ = [
    "MASK",
    "environment_secrets",
    "install_log_masking",
    "mask_secrets",
    "mask_url",
    "url_password",
]

MASK = "***"

#: Environment variables whose whole value is a secret.
SECRET_VARIABLES = ("TRADELOOP_GITHUB_TOKEN", "GITHUB_TOKEN", "GH_TOKEN")
#: Environment variables holding URLs whose password is a secret.
URL_VARIABLES = ("TRADELOOP_DB_URL", "TRADELOOP_OPTUNA_STORAGE", "TRADELOOP_TEST_PG_URL", "DATABASE_URL")

_STOP = r"\s'\"<>`"
# [scheme:]//user:password@host...: the password runs to the LAST "@" of the token, so one with a raw "@"
# or "/" in it is masked whole. The scheme is optional and its ":" too (``postgresql//`` is a common typo).
_USERINFO = re.compile(
    rf"(?P<lead>(?:[A-Za-z][A-Za-z0-9+.\-]*:?/{{1,3}})?[^{_STOP}:/@()\[\]{{}},;]*)"
    rf":(?!/)(?P<secret>[^{_STOP}]*?)@(?=[^{_STOP}@]*(?:[{_STOP}]|$))"
)
_SECRET_KEYS = (
    r"password|passwd|pwd|pass|sslpassword|secret|client_secret|token|access_token|auth_token|api_?key"
)
# key=value in query strings, libpq DSNs and environment dumps (``GITHUB_TOKEN=…``).
_KEY_VALUE = re.compile(
    rf"(?i)(?P<key>(?<![A-Za-z0-9])(?:[A-Za-z0-9]+_)*(?:{_SECRET_KEYS})\s*=\s*)"
    rf"(?P<secret>'[^']*'|\"[^\"]*\"|[^{_STOP}&;,)#]+)"
)
_AUTH_HEADER = re.compile(
    r"(?i)(?P<key>\b(?:authorization\s*[:=]\s*)?(?:bearer|basic)\s+)(?P<secret>[^\s'\"]+)"
)
_AUTH_TOKEN = re.compile(r"(?i)(?P<key>\bauthorization\s*[:=]\s*token\s+)(?P<secret>[^\s'\"]+)")
_TOKEN_SHAPES = re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{16,}|github_pat_[A-Za-z0-9_]{20,})\b")
#: Known secrets shorter than this are not replaced as plain substrings (they would hit ordinary words).
_MIN_KNOWN = 4


def mask_secrets(text: str, known: Iterable[str | None] = ()) -> str:
    """``text`` with every secret replaced by ``***``.

    Parameters
    ----------
    text
        Any text: a URL, a message, a JSON document, a log line.
    known
        Secret values to mask wherever they appear, as they are, URL-encoded and -decoded, plus the base64 of
        ``x-access-token:<secret>`` (how git sends a token). Values shorter than 4 characters are skipped.

    Returns
    -------
    str
        The masked text; text without secrets is returned unchanged.
    """
    for secret in _expanded(known):
        text = text.replace(secret, MASK)
    text = _USERINFO.sub(lambda m: f"{m['lead']}:{MASK}@" if m["secret"] else m[0], text)
    text = _KEY_VALUE.sub(lambda m: m["key"] + MASK, text)
    text = _AUTH_TOKEN.sub(lambda m: m["key"] + MASK, text)
    text = _AUTH_HEADER.sub(lambda m: m["key"] + MASK, text)
    return _TOKEN_SHAPES.sub(MASK, text)


def mask_url(url: str) -> str:
    """A URL safe for messages, outputs and logs: :func:`mask_secrets` of it (never raises)."""
    return mask_secrets(url, environment_secrets())


def url_password(url: str) -> str | None:
    """The password in a URL of any shape :func:`mask_secrets` knows, URL-decoded; None when it has none."""
    match = _USERINFO.search(url)
    return unquote(match["secret"]) if match and match["secret"] else None


def environment_secrets(env: Mapping[str, str] | None = None) -> list[str]:
    """The secrets of the environment: token variables, and the passwords of URL variables."""
    env = os.environ if env is None else env
    found = [env[name] for name in SECRET_VARIABLES if env.get(name)]
    for name in URL_VARIABLES:
        password = url_password(env.get(name) or "")
        if password:
            found.append(password)
    return found


def _expanded(known: Iterable[str | None]) -> list[str]:
    values: set[str] = set()
    for secret in known:
        if not secret or len(secret) < _MIN_KNOWN:
            continue
        values.update({secret, unquote(secret), quote(secret, safe="")})
        values.add(base64.b64encode(f"x-access-token:{secret}".encode()).decode())
    return sorted(values, key=len, reverse=True)  # a longer form first, so no piece of it is left behind


def _mask_record(record: logging.LogRecord) -> None:
    try:
        message = record.getMessage()
    except Exception:  # a record whose arguments do not fit its format: logging reports that itself
        return
    masked = mask_secrets(message, environment_secrets())
    if masked != message:
        record.msg, record.args = masked, None


def install_log_masking() -> None:
    """Mask the secrets of every log record of every logger, from now on, in this process (idempotent)."""
    factory = logging.getLogRecordFactory()
    if getattr(factory, "_tradeloop_masking", False):
        return

    def masking_factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = factory(*args, **kwargs)
        _mask_record(record)
        return record

    masking_factory._tradeloop_masking = True  # type: ignore[attr-defined]
    logging.setLogRecordFactory(masking_factory)
