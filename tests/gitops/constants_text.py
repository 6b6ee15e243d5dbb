"""Editing the shipped ``config/constants.py`` text for tests."""

from __future__ import annotations

_DONCHIAN = '    "donchian_breakout": {\n        "SP500": {'


def without_donchian(text: str) -> str:
    """The shipped constants with ``donchian_breakout`` taken out of ``LIVE_PARAMS``: SP500 then trades two
    live strategies, ``ema_cross`` and ``rsi_reversion``."""
    start = text.index(_DONCHIAN)
    end = text.index('    "ema_cross": {', start)
    return text[:start] + text[end:]
