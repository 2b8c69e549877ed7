from __future__ import annotations

from datetime import date, datetime

import strawberry
import strawberry_django
from strawberry.scalars import JSON

from audit import models
from audit.integrity import VerifyResult


@strawberry_django.type(models.AuditEvent, name="AuditEvent")
class AuditEventType:
    """One recorded action: who (user, and token name when a token was used), which team, what, to
    which target, with what outcome, from which request; the before/after data is redacted."""

    id: strawberry.ID = strawberry_django.field(field_name="sequence", description="The event's sequence number")
    sequence: int
    created_at: datetime
    actor_name: str
    actor_kind: str
    token_name: str
    team_slug: str
    action: str
    outcome: str
    target_type: str
    target_id: str
    request_id: str
    ip: str | None
    user_agent: str
    reason: str
    before: JSON | None
    after: JSON | None
    prev_hash: str
    hash: str
    key_id: str
    signature: str


@strawberry.input(description="Filters of auditEvents; all optional, combined with AND")
class AuditEventFilter:
    since: date | None = strawberry.field(default=None, description="From this UTC day (inclusive)")
    until: date | None = strawberry.field(default=None, description="Up to this UTC day (inclusive)")
    team: str | None = strawberry.field(default=None, description="Team slug")
    actor: str | None = strawberry.field(default=None, description="Username or API token name")
    action: str | None = strawberry.field(default=None, description="Exact action, or a prefix ending in '.' or '*'")
    target: str | None = strawberry.field(default=None, description="Target id (env_…) or target type")
    outcome: str | None = strawberry.field(default=None, description="success, failure or denied")
    search: str | None = strawberry.field(default=None, description="Free text, or a request id")


@strawberry.type
class AuditVerification:
    """The result of verifying the trail: verified, or broken at the first bad event and why."""

    status: str
    ok: bool
    checked: int
    broken_sequence: int | None
    kind: str | None = strawberry.field(
        description="field_changed, row_deleted, rows_reordered, link_broken, signature_invalid, checkpoint_mismatch"
    )
    problem: str | None
    first_sequence: int | None
    last_sequence: int | None
    checkpoints_checked: int
    started_from: str

    @classmethod
    def of(cls, result: VerifyResult) -> AuditVerification:
        return cls(
            status=result.status,
            ok=result.ok,
            checked=result.checked,
            broken_sequence=result.broken_sequence,
            kind=result.kind or None,
            problem=result.problem or None,
            first_sequence=result.first_sequence,
            last_sequence=result.last_sequence,
            checkpoints_checked=result.checkpoints_checked,
            started_from=result.started_from,
        )


@strawberry.type
class RoleMembers:
    role: str
    members: list[str]


@strawberry.type
class TeamAccess:
    team: str
    roles: list[RoleMembers]


@strawberry.type
class TokenUse:
    user: str
    name: str
    status: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None


@strawberry.type
class CrossTeamRestore:
    snapshot: str
    from_team: str
    into_team: str
    environment: str
    sanitized: bool
    requested_by: str
    state: str
    created_at: datetime


@strawberry.type
class RetainedSnapshot:
    id: str
    team: str
    environment: str
    service: str
    created_by: str
    created_at: datetime
    expires_at: datetime | None


@strawberry.type
class PlatformAccess:
    username: str
    role: str


@strawberry.type
class ComplianceSummary:
    """Who can access what, for the teams the caller reviews."""

    teams: list[TeamAccess]
    tokens: list[TokenUse]
    cross_team_restores: list[CrossTeamRestore]
    unsanitized_snapshots: list[RetainedSnapshot]
    promotions: list[AuditEventType]
    platform: list[PlatformAccess]

    @classmethod
    def of(cls, summary: dict) -> ComplianceSummary:
        return cls(
            teams=[
                TeamAccess(team=team, roles=[RoleMembers(role=r, members=m) for r, m in roles.items()])
                for team, roles in summary["members"].items()
            ],
            tokens=[
                TokenUse(
                    user=t.user.username,
                    name=t.name,
                    status=t.status,
                    created_at=t.created_at,
                    expires_at=t.expires_at,
                    last_used_at=t.last_used_at,
                )
                for t in summary["tokens"]
            ],
            cross_team_restores=[
                CrossTeamRestore(
                    snapshot=r.snapshot.public_id,
                    from_team=r.snapshot.team.slug,
                    into_team=r.environment.team.slug,
                    environment=r.environment.public_id,
                    sanitized=r.snapshot.sanitized,
                    requested_by=r.requested_by.username,
                    state=r.state,
                    created_at=r.created_at,
                )
                for r in summary["cross_team_restores"]
            ],
            unsanitized_snapshots=[
                RetainedSnapshot(
                    id=s.public_id,
                    team=s.team.slug,
                    environment=s.environment.public_id,
                    service=s.service,
                    created_by=s.created_by.username,
                    created_at=s.created_at,
                    expires_at=s.expires_at,
                )
                for s in summary["unsanitized_snapshots"]
            ],
            promotions=summary["promotions"],
            platform=[
                PlatformAccess(username=u["username"], role="platform admin" if u["is_superuser"] else "auditor")
                for u in summary["platform"]
            ],
        )
