"""deployment: the COLD → WARM → LIMITED → FULL promotion state machine and rollback (later work)."""

__all__: list[str] = []
