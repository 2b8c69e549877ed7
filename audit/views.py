"""Pages for compliance reviewers: the event list (filters with stable URLs, keyset pages), an
event's detail with its before/after diff, an environment's history, exports, the compliance summary
and the integrity status. Read-only: every view is a GET and none writes anything.

Auditors read everything; team owners read their team's; anyone else gets 404.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from audit import export, queries
from audit.choices import Outcome
from audit.diff import diff
from audit.models import AuditCheckpoint
from microstax.teams import permissions

PAGE_SIZE = 50


def _reviewer(request: HttpRequest) -> None:
    if not queries.can_review(request.user):
        raise Http404("not found")


def _page(request: HttpRequest, template: str, context: dict) -> HttpResponse:
    """Every audit page shows the integrity status of the trail."""
    context.setdefault("integrity", queries.integrity_status())
    context.setdefault("reviewer_is_auditor", permissions.is_auditor(request.user))
    return render(request, template, context)


def _before(request: HttpRequest) -> int | None:
    value = request.GET.get("before", "")
    return int(value) if value.isdigit() else None


@login_required
@require_GET
def event_list(request: HttpRequest) -> HttpResponse:
    _reviewer(request)
    filters = queries.EventFilter.from_params(request.GET)
    events = filters.apply(queries.visible_events(request.user))
    page = queries.keyset_page(events, before=_before(request), size=PAGE_SIZE)
    params = filters.to_params()
    return _page(
        request,
        "audit/events.html",
        {
            "audit_tab": "events",
            "filters": filters,
            "page": page,
            "query": urlencode(params),
            "next_query": urlencode({**params, "before": page.next_before}) if page.next_before else "",
            "teams": queries.reviewable_teams(request.user).only("slug", "name").order_by("slug"),
            "outcomes": Outcome.choices,
        },
    )


@login_required
@require_GET
def event_detail(request: HttpRequest, sequence: int) -> HttpResponse:
    _reviewer(request)
    event = queries.visible_events(request.user).select_related("team").filter(sequence=sequence).first()
    if event is None:
        raise Http404("no such event")
    related = (
        queries.visible_events(request.user)
        .filter(request_id=event.request_id)
        .exclude(sequence=event.sequence)
        .only(*queries.LIST_FIELDS)
        .order_by("sequence")[:20]
        if event.request_id
        else []
    )
    return _page(
        request,
        "audit/event_detail.html",
        {"audit_tab": "events", "event": event, "diff": diff(event.before, event.after), "related": related},
    )


@login_required
@require_GET
def environment_history(request: HttpRequest, env_id: str) -> HttpResponse:
    from environments.models import Environment

    _reviewer(request)
    environment = Environment.objects.select_related("team").filter(public_id=env_id).first()
    if environment is None or not queries.can_read_environment_history(request.user, environment):
        raise Http404("environment not found")
    events = queries.environment_history(request.user, environment)
    page = queries.keyset_page(events, before=_before(request), size=PAGE_SIZE)
    return _page(
        request,
        "audit/environment_history.html",
        {
            "audit_tab": "events",
            "environment": environment,
            "page": page,
            "next_query": urlencode({"before": page.next_before}) if page.next_before else "",
            "export_query": urlencode({"target": environment.public_id}),
        },
    )


@login_required
@require_GET
def export_events(request: HttpRequest, fmt: str) -> StreamingHttpResponse:
    """The filtered events, oldest first, streamed (any range, bounded memory)."""
    _reviewer(request)
    filters = queries.EventFilter.from_params(request.GET)
    events = filters.apply(queries.visible_events(request.user))
    stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
    if fmt == "csv":
        response = StreamingHttpResponse(
            export.batched(export.csv_lines(events)), content_type="text/csv; charset=utf-8"
        )
    else:
        response = StreamingHttpResponse(
            export.batched(export.jsonl_lines(events)), content_type="application/x-ndjson"
        )
    response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.{fmt}"'
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_GET
def compliance(request: HttpRequest) -> HttpResponse:
    _reviewer(request)
    return _page(
        request,
        "audit/compliance.html",
        {"audit_tab": "compliance", "summary": queries.compliance_summary(request.user)},
    )


@login_required
@require_GET
def integrity(request: HttpRequest) -> HttpResponse:
    _reviewer(request)
    checkpoints = AuditCheckpoint.objects.order_by("-last_sequence", "-pk")[:60]
    return _page(request, "audit/integrity.html", {"audit_tab": "integrity", "checkpoints": checkpoints})
