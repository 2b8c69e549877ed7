"""The agent's error hierarchy: everything it raises on purpose is a :class:`SnapshotAgentError`."""

from __future__ import annotations


class SnapshotAgentError(Exception):
    """A failure the agent explains to its caller (the CLI prints it without a traceback)."""


class EngineError(SnapshotAgentError):
    """The database or its client tools failed (connection, pg_dump, COPY, a constraint on restore)."""
