from __future__ import annotations

import re

from audit import context, denials

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


class RequestIdMiddleware:
    """Give every request an id (honouring a well-formed ``X-Request-ID``) and a RequestContext."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _SAFE_REQUEST_ID.match(incoming) else context.new_request_id()
        request.request_id = request_id
        token = context.set_current(
            context.RequestContext(
                request_id=request_id,
                ip=request.META.get("REMOTE_ADDR") or None,
                user_agent=request.headers.get("User-Agent", "")[:300],
            )
        )
        try:
            response = self.get_response(request)
        finally:
            context.reset(token)
        response["X-Request-ID"] = request_id
        return response


def _env_action(kwargs: dict) -> str:
    # The button names differ from the audit actions for two of them.
    names = {"extend": "ttl", "idle": "idle_policy"}
    return "environment." + names.get(kwargs.get("action", ""), kwargs.get("action", ""))


# Dashboard form posts that change state, by URL name: (audit action, target type, URL argument
# naming the target). The denied event of a refused post carries the action its success records.
# The coverage test (tests/audit/test_coverage.py) fails on a URL missing from this table and from
# its own list of routes that change nothing.
FORM_AUDIT = {
    "frontend:team-create": ("team.create", "team", ""),
    "frontend:team-rename": ("team.rename", "team", "team_id"),
    "frontend:team-policy": ("team.policy.update", "team", "team_id"),
    "frontend:member-add": ("team.member.add", "team", "team_id"),
    "frontend:member-role": ("team.member.role", "team", "team_id"),
    "frontend:member-remove": ("team.member.remove", "team", "team_id"),
    "frontend:token-create": ("token.create", "api_token", ""),
    "frontend:token-revoke": ("token.revoke", "api_token", "token_id"),
    "environments:create": ("environment.create", "", ""),
    "environments:action": (_env_action, "environment", "env_id"),
    "environments:promote": ("environment.promote", "environment", "env_id"),
    "environments:overlay-create": ("environment.overlay.create", "environment", "env_id"),
    "environments:clusters": ("cluster.register", "cluster", ""),
    "blueprints:new": ("blueprint.create", "", ""),
    "blueprints:publish": ("blueprint.publish", "blueprint", "blueprint_id"),
    "snapshots:policies": ("snapshot_policy.create", "", ""),
    "snapshots:environment": ("snapshot.create", "environment", "env_id"),
    "snapshots:restore": ("snapshot.restore", "snapshot", "snap_id"),
    "snapshots:delete": ("snapshot.delete", "snapshot", "snap_id"),
}


class DeniedFormMiddleware:
    """A refused dashboard form post writes one ``denied`` event (see ``audit.denials``).

    The post runs as an attempt; it was refused when the action raised a refusal that the view
    rendered as an error, or when the view answered 404 because the caller may not see the object.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method != "POST":
            return self.get_response(request)
        with denials.attempt("") as scope:
            response = self.get_response(request)
            match = request.resolver_match
            audited = FORM_AUDIT.get(match.view_name) if match is not None else None
            if audited is None:
                scope.trail.clear()  # not a form this table knows (GraphQL audits its own)
                return response
            action, target_type, target_arg = audited
            scope.action = (action(match.kwargs) if callable(action) else action)[:80]
            scope.target_type = target_type
            scope.target_id = str(match.kwargs.get(target_arg, ""))[:80] if target_arg else ""
            user = getattr(request, "user", None)
            scope.actor = user if getattr(user, "is_authenticated", False) else None
            if response.status_code == 404:
                scope.refused = "NOT_FOUND: not found, or not visible to the caller"
        return response
