"""A fault-injection seam for tests: make chosen cells hang, exhaust memory or crash their worker.

Like an httpx mock transport, it lets a test drive the real runner into its failure paths without a
test-only strategy in the product tree. The runner reads ``TRADELOOP_MATRIX_FAULTS`` once when a shard run
starts: a JSON object mapping a cell to a fault. A cell is named by its ``cell_hash``, by
``"strategy/symbol/window/param_set"`` or by ``"strategy/symbol/window"`` (every parameter set of it)::

    TRADELOOP_MATRIX_FAULTS='{"ema_cross/BTC/30d/n01": "hang", "rsi_reversion/BTC/full": "memory"}'

Faults, run by the worker in place of the cell's backtest:

- ``hang``: sleep forever; the runner kills the worker at the cell timeout;
- ``memory``: allocate 64 MiB blocks until the worker's address-space limit (``RLIMIT_AS``) refuses one;
- ``crash``: SIGKILL its own worker, as the kernel's out-of-memory killer would.

Never set it in production: a faulted cell is recorded as ``timeout`` / ``error`` like a real failure.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Mapping
from typing import Literal

import numpy as np

from tradeloop.errors import SettingsError

__all__ = ["FAULTS_ENV", "FAULT_KINDS", "Fault", "fault_for", "inject_fault", "read_faults"]

FAULTS_ENV = "TRADELOOP_MATRIX_FAULTS"
Fault = Literal["hang", "memory", "crash"]
FAULT_KINDS: tuple[str, ...] = ("hang", "memory", "crash")
_BLOCK_BYTES = 64 << 20
_MAX_BLOCKS = 16_384  # 1 TiB of address space: a bound for a worker that runs without a memory limit


def read_faults(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The faults named by ``TRADELOOP_MATRIX_FAULTS`` (empty when unset); bad JSON raises SettingsError."""
    text = (os.environ if env is None else env).get(FAULTS_ENV, "").strip()
    if not text:
        return {}
    try:
        faults = json.loads(text)
    except ValueError as error:
        raise SettingsError(f"{FAULTS_ENV}: not valid JSON ({error}); unset it or fix it") from None
    if not isinstance(faults, dict):
        raise SettingsError(f"{FAULTS_ENV}: must be a JSON object {{cell: fault}}, got {text!r}")
    for cell, kind in faults.items():
        if kind not in FAULT_KINDS:
            raise SettingsError(
                f"{FAULTS_ENV}: {cell!r} has fault {kind!r}; use one of {', '.join(FAULT_KINDS)}"
            )
    return faults


def fault_for(
    faults: Mapping[str, str], cell_hash: str, strategy: str, symbol: str, window: str, param_set: str
) -> str | None:
    """The fault for one cell, looked up by hash, then by its set, then by its window."""
    for key in (cell_hash, f"{strategy}/{symbol}/{window}/{param_set}", f"{strategy}/{symbol}/{window}"):
        if key in faults:
            return faults[key]
    return None


def inject_fault(kind: str) -> None:
    """Run a fault in the current (worker) process; ``memory`` ends in :class:`MemoryError`."""
    if kind == "hang":
        while True:
            time.sleep(3600)
    if kind == "memory":
        blocks = []
        for _ in range(_MAX_BLOCKS):
            blocks.append(np.empty(_BLOCK_BYTES, dtype=np.uint8))
        raise MemoryError(f"fault 'memory' allocated {_MAX_BLOCKS * 64} MiB without reaching a limit")
    if kind == "crash":
        os.kill(os.getpid(), signal.SIGKILL)
    raise SettingsError(f"{FAULTS_ENV}: unknown fault {kind!r}; use one of {', '.join(FAULT_KINDS)}")
