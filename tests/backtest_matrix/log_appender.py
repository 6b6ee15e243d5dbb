"""The body of the appender processes in the result-log kill test (forked, then SIGKILLed at random).

Each appender writes ~20 KB self-checking records to one log until killed: each record carries the SHA-256
of its own payload, so a reader can prove the payload arrived intact.
"""

from __future__ import annotations

import base64
import hashlib
import os
import random
import time
from pathlib import Path
from typing import Any

from typing_extensions import Buffer

import backtest_matrix.matrix._log as _log
from backtest_matrix.matrix import ResultLog

PAYLOAD_BYTES = 15_000  # base64 makes 20,000 characters of it


def make_record(writer: str, index: int, rng: random.Random) -> dict[str, Any]:
    payload = base64.b64encode(rng.randbytes(PAYLOAD_BYTES)).decode("ascii")
    return {
        "cell_hash": f"{writer}-{os.getpid()}-{index}",
        "payload": payload,
        "payload_sha256": hashlib.sha256(payload.encode("ascii")).hexdigest(),
        "sharpe": float("nan"),
        "trades": index,
    }


_real_write = os.write


def _slow_write(fd: int, data: Buffer) -> int:
    """``os.write`` then a millisecond's pause: a writer spends most of its time mid-line."""
    written = _real_write(fd, data)
    time.sleep(0.001)
    return written


def append_forever(path: Path, writer: str, seed: int, ready: Any) -> None:
    """Append single records and batches to ``path``; set ``ready`` once the first record is durable.

    Meant as the target of a forked process: it patches ``os.write`` and the log's chunk size, which
    affects that process only. The log code itself runs unchanged.
    """
    _log._WRITE_CHUNK = 4096  # a 20 KB line takes 5 writes
    os.write = _slow_write
    rng = random.Random(seed)
    log = ResultLog(path)
    log.append(make_record(writer, 0, rng))
    ready.set()
    index = 1
    while True:
        batch = [make_record(writer, index + k, rng) for k in range(rng.choice((1, 1, 2, 3)))]
        index += len(batch)
        if len(batch) == 1:
            log.append(batch[0])
        else:
            log.append_many(batch)
