"""The snapshot agent: sanitized capture and restore of databases, run as ``microstax snapshot-agent``.

It runs inside Kubernetes Jobs and in tests alike, so it imports nothing from Django: policy
(:mod:`.policy`), rule compilation (:mod:`.sql`), the artifact format (:mod:`.artifact`) and the
PostgreSQL engine (:mod:`.postgres`) are plain Python around psycopg and ``pg_dump``.
"""

from __future__ import annotations

from snapshots.agent.artifact import ArtifactError, ArtifactReader
from snapshots.agent.engine import Engine, engine_for
from snapshots.agent.errors import EngineError, SnapshotAgentError
from snapshots.agent.policy import (
    Policy,
    PolicyError,
    PolicyProblem,
    load_policy,
    parse_policy,
    validate_against_schema,
)
from snapshots.agent.postgres import CaptureResult, RestoreResult

__all__ = [
    "ArtifactError",
    "ArtifactReader",
    "CaptureResult",
    "Engine",
    "EngineError",
    "Policy",
    "PolicyError",
    "PolicyProblem",
    "RestoreResult",
    "SnapshotAgentError",
    "engine_for",
    "load_policy",
    "parse_policy",
    "validate_against_schema",
]
