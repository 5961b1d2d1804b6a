"""Use cases: each function is one thing a user or the worker does, on a SQLAlchemy session.

Services raise :mod:`server.errors` exceptions and never commit: the entry point (API
request, CLI command, worker pass) owns the transaction, so a use case is all-or-nothing.
"""
