"""Read-only GraphQL of the audit trail: there is deliberately no audit mutation."""

from __future__ import annotations

from datetime import date

import strawberry
from graphql import GraphQLError
from strawberry.types import Info

from audit import queries
from audit.actions import verify_chain, verify_event
from audit.graphql.types import AuditEventFilter, AuditEventType, AuditVerification, ComplianceSummary
from microstax.graphql.context import current_user
from microstax.graphql.pagination import Connection, paginate
from microstax.lib.errors import NotFound


def _reviewer(info: Info):
    user = current_user(info)
    if not queries.can_review(user):
        raise GraphQLError(
            "the audit trail is read by auditors and team owners only", extensions={"code": "PERMISSION_DENIED"}
        )
    return user


def _filter(filters: AuditEventFilter | None) -> queries.EventFilter:
    if filters is None:
        return queries.EventFilter()
    return queries.EventFilter.from_params(
        {
            "since": filters.since.isoformat() if filters.since else None,
            "until": filters.until.isoformat() if filters.until else None,
            "team": filters.team,
            "actor": filters.actor,
            "action": filters.action,
            "target": filters.target,
            "outcome": filters.outcome,
            "q": filters.search,
        }
    )


@strawberry.type
class Query:
    @strawberry.field(
        description="Audit events the caller may read (auditors: all; owners: their teams'), newest first"
    )
    def audit_events(
        self,
        info: Info,
        filters: AuditEventFilter | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[AuditEventType]:
        events = _filter(filters).apply(queries.visible_events(current_user(info)))
        return paginate(events.order_by("-sequence"), first=first, after=after)

    @strawberry.field(description="One audit event by sequence number; null when absent or not readable")
    def audit_event(self, info: Info, id: strawberry.ID) -> AuditEventType | None:
        if not str(id).isdigit():
            return None
        return queries.visible_events(current_user(info)).filter(sequence=int(id)).first()

    @strawberry.field(
        description="Verify the trail (from the last checkpoint before `since`, else everything stored), or "
        "one event and the chain up to it; reports the first broken event and why"
    )
    def verify_audit(
        self, info: Info, since: date | None = None, event: strawberry.ID | None = None
    ) -> AuditVerification:
        _reviewer(info)
        if event is not None:
            if not str(event).isdigit():
                raise GraphQLError("event must be a sequence number", extensions={"code": "BAD_USER_INPUT"})
            try:
                return AuditVerification.of(verify_event(int(event)))
            except NotFound as exc:
                raise GraphQLError(exc.message, extensions={"code": "NOT_FOUND", "field": "event"}) from None
        return AuditVerification.of(verify_chain(since=since))

    @strawberry.field(description="Who can access what, for the teams the caller reviews")
    def compliance_summary(self, info: Info) -> ComplianceSummary:
        return ComplianceSummary.of(queries.compliance_summary(_reviewer(info)))
