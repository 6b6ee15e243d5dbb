"""Editing the shipped ``config/constants.py`` text for tests."""

from __future__ import annotations

_DONCHIAN = '    "donchian_breakout": {\n        "SP500": {'


def without_donchian(text: str) -> str:
    """The shipped constants with ``donchian_breakout`` taken out of ``LIVE_PARAMS``: SP500 then trades two
    live strategies, ``ema_cross`` and ``rsi_reversion``."""
    start = text.index(_DONCHIAN)
    end = text.index('    "ema_cross": {', start)
    return text[:start] + text[end:]


#: The ensemble demo: three live strategies on the seeded mean-reverting ``DEMO`` market (15-minute bars, the
#: shipped matrix's ``DEMO: reverting``): ``rsi_reversion`` at its textbook bands, which trade the reversion,
#: and two trend followers at their defaults, which lose on a market without trends.
ENSEMBLE_DEMO_LIVE = """\
LIVE_PARAMS: Final = {
    "donchian_breakout": {
        "DEMO": {
            "timeframe": "15m",
            "atr_period": 14,
            "atr_stop": 2.0,
            "channel": 20,
            "exit_channel": 10,
            "trade_fraction": 0.1,
        },
    },
    "ema_cross": {
        "DEMO": {
            "timeframe": "15m",
            "ema_fast": 12,
            "ema_slow": 26,
            "trade_fraction": 0.1,
        },
    },
    "rsi_reversion": {
        "DEMO": {
            "timeframe": "15m",
            "overbought": 70.0,
            "oversold": 30.0,
            "rsi_period": 14,
            "trade_fraction": 0.1,
        },
    },
}
"""

#: The weights in force on ``DEMO``: stale, in favour of the two trend followers.
ENSEMBLE_DEMO_WEIGHTS = {"donchian_breakout": 0.4, "ema_cross": 0.4, "rsi_reversion": 0.2}


def ensemble_demo(text: str) -> str:
    """The shipped constants with the ensemble demo's three ``DEMO`` strategies as the only live pairs and
    :data:`ENSEMBLE_DEMO_WEIGHTS` in force; every threshold, bound and cap stays as shipped."""
    start = text.index("LIVE_PARAMS: Final = {")
    end = text.index("\n}\n", start) + 3
    text = text[:start] + ENSEMBLE_DEMO_LIVE + text[end:]
    assert "ENSEMBLE_WEIGHTS: Final = {}" in text, "the shipped constants have ENSEMBLE_WEIGHTS in force"
    weights = ", ".join(f'"{name}": {share}' for name, share in ENSEMBLE_DEMO_WEIGHTS.items())
    in_force = f'ENSEMBLE_WEIGHTS: Final = {{"DEMO": {{{weights}}}}}'
    return text.replace("ENSEMBLE_WEIGHTS: Final = {}", in_force)
