"""The contract between a strategy's signal kernel and the engine.

A strategy provides one numba function with the signature :data:`SIGNALS_SIGNATURE`::

    signals_nb(ts, open, high, low, close, volume, params, flags, stop_frac) -> None

It reads the bars (``ts`` in UTC nanoseconds) and one parameter row, and writes for every bar ``t``:

- ``flags[t]``: a bit set of :data:`LONG_ENTRY`, :data:`LONG_EXIT`, :data:`SHORT_ENTRY`, :data:`SHORT_EXIT`,
  computed from information available at bar ``t``'s close and nothing later;
- ``stop_frac[t]``: the strategy's own stop distance as a fraction of price for an entry signalled at ``t``
  (e.g. an ATR stop), or NaN for none.

The engine passes the function as a first-class function value, so the sweep kernel is compiled and cached
once for all strategies, and adding a strategy needs no change to the engine.
"""

from __future__ import annotations

from numba import types

__all__ = [
    "LONG_ENTRY",
    "LONG_EXIT",
    "SHORT_ENTRY",
    "SHORT_EXIT",
    "SIGNALS_FUNCTION_TYPE",
    "SIGNALS_SIGNATURE",
]

LONG_ENTRY = 1
LONG_EXIT = 2
SHORT_ENTRY = 4
SHORT_EXIT = 8

_f8 = types.float64[::1]
SIGNALS_SIGNATURE = types.void(types.int64[::1], _f8, _f8, _f8, _f8, _f8, _f8, types.int8[::1], _f8)
SIGNALS_FUNCTION_TYPE = types.FunctionType(SIGNALS_SIGNATURE)
