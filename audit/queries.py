"""Reading the trail for reviewers: who may see which events, filters, keyset pages, an environment's
history, the integrity status and the compliance summary. Shared by the pages, GraphQL and exports;
every restriction is a SQL filter.

Who reads what: auditors (``audit.view_all_events``) and platform admins read every event; a team's
owners read their team's events; nobody else reads the trail (the pages answer 404).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from audit.choices import Outcome
from audit.models import AuditCheckpoint, AuditEvent
from microstax.teams import permissions
from microstax.teams.choices import TeamPermission
from microstax.teams.models import Team

# The columns a list or an export reads: everything but the before/after payloads.
LIST_FIELDS = (
    "sequence",
    "created_at",
    "actor_name",
    "actor_kind",
    "token_name",
    "team_slug",
    "action",
    "outcome",
    "target_type",
    "target_id",
    "request_id",
    "ip",
)
PROMOTE_ACTION = "environment.promote"


def owned_teams(user) -> QuerySet[Team]:
    """Teams whose audit trail ``user`` reads as an owner (the role that manages members)."""
    return permissions.teams_for(user, TeamPermission.MANAGE_MEMBERS)


def can_review(user) -> bool:
    return permissions.is_auditor(user) or owned_teams(user).exists()


def visible_events(user) -> QuerySet[AuditEvent]:
    """Every event ``user`` may read, as one SQL query (nothing for non-reviewers)."""
    if permissions.is_auditor(user):
        return AuditEvent.objects.all()
    return AuditEvent.objects.filter(team__in=owned_teams(user))


def reviewable_teams(user) -> QuerySet[Team]:
    return Team.objects.all() if permissions.is_auditor(user) else owned_teams(user)


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=UTC)


def _parse_day(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        return None


@dataclass(frozen=True)
class EventFilter:
    """A reviewer's filter; its query string (``to_params``) is the stable URL of the filtered view.

    ``since``/``until`` are UTC days (inclusive), ``team`` a slug, ``actor`` a username (or token
    name), ``action`` an exact action or a prefix ending in ``.``/``*`` (``environment.*``),
    ``target`` a target id or type, ``outcome`` one of the outcomes, ``q`` free text.
    """

    since: date | None = None
    until: date | None = None
    team: str = ""
    actor: str = ""
    action: str = ""
    target: str = ""
    outcome: str = ""
    q: str = ""

    @classmethod
    def from_params(cls, params: Any) -> EventFilter:
        def text(name: str, limit: int = 150) -> str:
            return (params.get(name) or "").strip()[:limit]

        outcome = text("outcome")
        return cls(
            since=_parse_day(params.get("since")),
            until=_parse_day(params.get("until")),
            team=text("team", 50),
            actor=text("actor"),
            action=text("action", 80),
            target=text("target", 80),
            outcome=outcome if outcome in Outcome.values else "",
            q=text("q", 200),
        )

    def to_params(self) -> dict[str, str]:
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value:
                out[f.name] = value.isoformat() if isinstance(value, date) else value
        return out

    @property
    def active(self) -> bool:
        return bool(self.to_params())

    def apply(self, events: QuerySet[AuditEvent]) -> QuerySet[AuditEvent]:
        if self.since:
            events = events.filter(created_at__gte=_day_start(self.since))
        if self.until:
            events = events.filter(created_at__lt=_day_start(self.until + timedelta(days=1)))
        if self.team:
            events = events.filter(team_slug=self.team)
        if self.actor:
            events = events.filter(Q(actor_name=self.actor) | Q(token_name=self.actor))
        if self.action:
            if self.action.endswith(("*", ".")):
                events = events.filter(action__startswith=self.action.rstrip("*"))
            else:
                events = events.filter(action=self.action)
        if self.target:
            events = events.filter(Q(target_id=self.target) | Q(target_type=self.target))
        if self.outcome:
            events = events.filter(outcome=self.outcome)
        if self.q:
            events = events.filter(
                Q(action__icontains=self.q)
                | Q(actor_name__icontains=self.q)
                | Q(token_name__icontains=self.q)
                | Q(target_id__icontains=self.q)
                | Q(request_id=self.q)
                | Q(reason__icontains=self.q)
            )
        return events


@dataclass(frozen=True)
class Page:
    """One page of events, newest first; ``next_before`` is the keyset cursor of the next page."""

    events: list[AuditEvent]
    next_before: int | None
    before: int | None


def keyset_page(events: QuerySet[AuditEvent], *, before: int | None, size: int) -> Page:
    """Newest first, ``size`` at a time, continuing below ``before`` (a sequence): the page costs one
    indexed query however deep it is, and stays stable while new events arrive."""
    if before is not None:
        events = events.filter(sequence__lt=before)
    rows = list(events.only(*LIST_FIELDS).order_by("-sequence")[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    return Page(events=rows, next_before=rows[-1].sequence if more else None, before=before)


def environment_history(user, environment) -> QuerySet[AuditEvent]:
    """Every event about ``environment``: the environment itself, its operations, its snapshots
    and the restores into it."""
    from snapshots.models import Snapshot

    targets = Q(target_id=environment.public_id)
    targets |= Q(target_type="operation", target_id__in=environment.operations.values("public_id"))
    targets |= Q(
        target_type="snapshot", target_id__in=Snapshot.objects.filter(environment=environment).values("public_id")
    )
    return visible_events(user).filter(targets)


def can_read_environment_history(user, environment) -> bool:
    return permissions.is_auditor(user) or owned_teams(user).filter(pk=environment.team_id).exists()


# --- integrity status ---------------------------------------------------------------------------

STATUS_CACHE_KEY = "audit:integrity-status"


def integrity_status(*, refresh: bool = False) -> dict[str, Any]:
    """The verification shown on every audit page: events since the last checkpoint (and that
    checkpoint's signature), recomputed at most once a minute (MICROSTAX_AUDIT_STATUS_CACHE_SECONDS)."""
    status = None if refresh else cache.get(STATUS_CACHE_KEY)
    if status is None:
        status = _compute_status()
        cache.set(STATUS_CACHE_KEY, status, settings.MICROSTAX_AUDIT_STATUS_CACHE_SECONDS)
    return status


def _compute_status() -> dict[str, Any]:
    from audit.actions import verify_chain

    latest = AuditCheckpoint.objects.order_by("-last_sequence", "-pk").first()
    result = verify_chain(since=latest.day + timedelta(days=1) if latest else None)
    return {
        **result.as_dict(),
        "verified_at": timezone.now(),
        "checkpoint": (
            {"kind": latest.kind, "day": latest.day, "last_sequence": latest.last_sequence, "key_id": latest.key_id}
            if latest
            else None
        ),
    }


# --- compliance summary -------------------------------------------------------------------------


def compliance_summary(user) -> dict[str, Any]:
    """Who can access what, for the teams ``user`` reviews: members by role, API tokens and their
    last use, snapshots restored into other teams' environments, unsanitized snapshots still kept,
    baselines promoted, and the platform-wide admins and auditors."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Permission

    from microstax.teams.models import ApiToken, Membership
    from snapshots.models import Snapshot, SnapshotRestore, SnapshotState

    teams = reviewable_teams(user)
    auditor = permissions.is_auditor(user)
    memberships = (
        Membership.objects.filter(team__in=teams)
        .select_related("team", "user")
        .order_by("team__slug", "role", "user__username")
    )
    members: dict[str, dict[str, list[str]]] = {}
    for membership in memberships:
        members.setdefault(membership.team.slug, {}).setdefault(membership.role, []).append(membership.user.username)
    tokens = ApiToken.objects.select_related("user").order_by("user__username", "-created_at")
    if not auditor:
        tokens = tokens.filter(user__memberships__team__in=teams).distinct()
    restores = (
        SnapshotRestore.objects.exclude(environment__team=F("snapshot__team"))
        .filter(Q(environment__team__in=teams) | Q(snapshot__team__in=teams))
        .select_related("snapshot__team", "environment__team", "requested_by")
        .order_by("-created_at")
    )
    unsanitized = (
        Snapshot.objects.filter(team__in=teams, sanitized=False)
        .exclude(state=SnapshotState.DELETED)
        .select_related("team", "environment", "created_by")
        .order_by("-created_at")
    )
    promoted = visible_events(user).filter(action=PROMOTE_ACTION, outcome=Outcome.SUCCESS).order_by("-sequence")
    platform = []
    if auditor:
        perm = Permission.objects.get(content_type__app_label="audit", codename="view_all_events")
        platform = list(
            get_user_model()
            .objects.filter(is_active=True)
            .filter(Q(is_superuser=True) | Q(user_permissions=perm) | Q(groups__permissions=perm))
            .distinct()
            .order_by("username")
            .values("username", "is_superuser")
        )
    return {
        "members": members,
        "tokens": list(tokens),
        "cross_team_restores": list(restores),
        "unsanitized_snapshots": list(unsanitized),
        "promotions": list(promoted.only(*LIST_FIELDS)),
        "platform": platform,
    }
