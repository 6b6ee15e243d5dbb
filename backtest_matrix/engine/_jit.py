"""``njit_unrefcounted``: numba's ``njit(cache=True)`` without its reference counting.

numba counts references to every array passed to a compiled call with two atomic updates (one on entry,
one on exit). A kernel called once per row pays that once; the functions a sweep row goes through at
every acting bar (``row_advance``, the hold loops, the lanes' helpers) are called thousands of times per
row, with a dozen arrays each, and on several threads the shared arrays' counters bounce between the
cores. These functions allocate nothing, so they need no counting (numba's ``_nrt=False``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

from numba import njit

__all__ = ["njit_unrefcounted"]

F = TypeVar("F", bound=Callable[..., Any])
_njit: Any = njit  # numba's stubs do not list the _nrt option


def njit_unrefcounted(function: F) -> F:
    """``njit(cache=True)`` for a function that allocates nothing: no reference counting of its arrays."""
    return cast(F, _njit(cache=True, _nrt=False)(function))
