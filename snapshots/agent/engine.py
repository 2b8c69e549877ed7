"""Choosing the database engine from a DSN; the seam where MySQL would plug in.

An engine offers three operations — ``validate``, ``capture`` and ``restore`` — and everything
engine-specific (catalog queries, rule compilation, dump tools) stays behind it. The policy, the
schema description and the artifact format are shared.
"""

from __future__ import annotations

import os
from typing import Protocol

from snapshots.agent.errors import EngineError
from snapshots.agent.policy import Policy, PolicyProblem
from snapshots.agent.postgres import CaptureResult, PostgresEngine, RestoreResult


class Engine(Protocol):
    name: str

    def validate(self, policy: Policy, *, policy_text: str | None = None) -> list[PolicyProblem]: ...

    def capture(
        self, policy: Policy, output: str | os.PathLike[str], *, policy_text: str | None = None
    ) -> CaptureResult: ...

    def restore(self, artifact: str | os.PathLike[str]) -> RestoreResult: ...


def engine_for(dsn: str) -> Engine:
    """The engine for ``dsn``: a ``postgres[ql]://`` URI or a libpq ``key=value`` string."""
    scheme = dsn.partition("://")[0].lower() if "://" in dsn else "postgresql"
    if scheme in ("postgres", "postgresql"):
        return PostgresEngine(dsn)
    if scheme.startswith("mysql"):
        raise EngineError("MySQL snapshots are not supported yet; only PostgreSQL is")
    raise EngineError(f"unsupported database scheme {scheme!r} (expected postgresql://)")
