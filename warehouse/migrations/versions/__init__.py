"""One Alembic revision per warehouse schema version (``0002`` is schema version 2)."""
