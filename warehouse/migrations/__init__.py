"""Alembic migrations of the warehouse schema; :mod:`warehouse._migrate` runs them when one is opened."""
