"""Reading a schema-1 ``feature_flags.json``: the document upgraded to schema 2 before it is validated.

Schema 2 (tradeloop's deployment stages) changed what a rollout holds:

- ``canary_fraction`` is the share of capital on the new parameters *now*: 0 in COLD and WARM (WARM trades
  on paper), the canary share in LIMITED, 1 in FULL. Schema 1 wrote the share of the *next* promotion
  (``CANARY_FRACTIONS["WARM"]`` on a COLD rollout), so a COLD or WARM rollout is read with 0; LIMITED and
  FULL keep theirs (the capital the bot trades does not change on an upgrade);
- ``phase``: ``succeeded`` for FULL, ``progressing`` otherwise;
- ``previous_params``: ``null`` (schema 1 kept only the previous config hash; a rollout of an upgraded file
  learns them again from its next optimizer pull request);
- ``status``: ``null`` (no analysis recorded yet).

A schema-1 file is first held to the schema-1 rules, so its messages stay the ones it always had. The file
on disk is never rewritten by a read; the next write of tradeloop writes schema 2.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

__all__ = ["LEGACY_SCHEMA_VERSION", "upgrade_feature_flags_document"]

LEGACY_SCHEMA_VERSION = 1
_NO_CAPITAL = ("COLD", "WARM")


def upgrade_feature_flags_document(document: Mapping[str, Any]) -> dict[str, Any]:
    """A schema-1 document (valid under the schema-1 rules) as the schema-2 document it means."""
    upgraded = copy.deepcopy(dict(document))
    upgraded["schema_version"] = 2
    rollouts: dict[str, Any] = {}
    for key, old in document["rollouts"].items():
        stage = old["stage"]
        rollouts[key] = {
            "stage": stage,
            "phase": "succeeded" if stage == "FULL" else "progressing",
            "canary_fraction": 0.0 if stage in _NO_CAPITAL else old["canary_fraction"],
            "config_hash": old["config_hash"],
            "previous_config_hash": old.get("previous_config_hash"),
            "previous_params": None,
            "pr_number": old["pr_number"],
            "started_at": old["started_at"],
            "updated_at": old["updated_at"],
            "status": None,
        }
    upgraded["rollouts"] = rollouts
    return upgraded
