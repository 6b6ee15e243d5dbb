"""The one exception tree of tradeloop.

Every error the product raises on purpose derives from :class:`TradeloopError`. Only the CLI catches
them, turning each into a one-line message and exit code 2. A message always names the thing (file,
field, row), the value received, and the fix.

::

    TradeloopError
    ├── SettingsError        a TRADELOOP_* variable or global option is invalid
    │   └── DeviceError      the compute device asked for (--device cuda) is not there (names what is missing)
    ├── DataError
    │   ├── DataSourceError  an unknown source, a missing file, unmapped columns, unparseable timestamps
    │   └── DataQualityError bars failed the quality checks (carries the findings)
    ├── StrategyError        an unknown strategy or parameter, or a value outside its bounds
    ├── StateFileError       config/constants.py or feature_flags.json is missing or invalid
    ├── WarehouseError       the results store cannot be opened or has a newer schema
    ├── ProvenanceError      git or hashing failed in a way that is not "not a repository"
    ├── OptimizerError       an optimizer input is invalid (bounds, weights, histories, guardrails)
    ├── ValidationError      a validation statistic got invalid input, or was read before it was computed
    ├── ForgeError           a forge or git operation failed (auth, permissions, missing PR, push)
    ├── ProposalError        a proposal.json or verdict.json breaks its contract (field, value, fix)
    ├── ChangePolicyError    a change touches a file outside the allowlist of an auto-PR
    ├── WriteError           a file could not be written (disk full, file-size limit, permissions)
    └── LockError            another run holds the lock of a log, a home or a study (names the holder)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = [
    "ChangePolicyError",
    "DataError",
    "DataQualityError",
    "DataSourceError",
    "DeviceError",
    "ForgeError",
    "LockError",
    "OptimizerError",
    "ProposalError",
    "ProvenanceError",
    "SettingsError",
    "StateFileError",
    "StrategyError",
    "TradeloopError",
    "ValidationError",
    "WarehouseError",
    "WriteError",
]


class TradeloopError(Exception):
    """Base of every error tradeloop raises on purpose."""


class SettingsError(TradeloopError):
    """A ``TRADELOOP_*`` environment variable or a global option is invalid."""


class DeviceError(SettingsError):
    """``--device cuda`` (or ``TRADELOOP_DEVICE=cuda``) and the package, the driver or the GPU is missing."""


class DataError(TradeloopError):
    """Market data could not be loaded or used."""


class DataSourceError(DataError):
    """A data source is unknown, missing or malformed (columns, timestamps)."""


class DataQualityError(DataError):
    """Bars failed one or more quality checks.

    Parameters
    ----------
    message
        The one-line summary shown by the CLI.
    findings
        The error-level findings (``backtest_matrix`` ``Finding`` objects) behind it.
    """

    def __init__(self, message: str, findings: Sequence[Any] = ()) -> None:
        super().__init__(message)
        self.findings = list(findings)


class StrategyError(TradeloopError):
    """An unknown strategy or parameter name, or a parameter value outside its type or bounds."""


class StateFileError(TradeloopError):
    """A live state file (``config/constants.py``, ``feature_flags.json``) is missing or invalid."""


class WarehouseError(TradeloopError):
    """The results store cannot be opened, or its schema is newer than this code."""


class ProvenanceError(TradeloopError):
    """Provenance (git sha, hashes) could not be established."""


class OptimizerError(TradeloopError):
    """An optimizer input is invalid: infeasible weight bounds, a malformed history or guardrail value."""


class ValidationError(TradeloopError):
    """A validation statistic got bad input (shape, NaN, odd block count), or was read before compute()."""


class ForgeError(TradeloopError):
    """A forge (GitHub, local git) or git operation failed: auth, permissions, missing PR, refused push."""


class ProposalError(TradeloopError):
    """A ``proposal.json`` or ``verdict.json`` breaks its contract (missing or mistyped field, bad hash)."""


class ChangePolicyError(TradeloopError):
    """A change touches a path outside the files an auto-PR may change (``config/constants.py``,
    ``feature_flags.json``)."""


class WriteError(TradeloopError):
    """A file could not be written: disk full (ENOSPC), the file-size limit (EFBIG), permissions, a path
    that is not a directory. The message names the file and the cause; what was written before stays."""


class LockError(TradeloopError):
    """Another run holds the lock of a result log, a cycle's home or a study; the message names the holder."""
