"""``{% environment_snapshots env %}``: the "Snapshots" card of an environment's page, rendered on
the server with its own context, so the environment view needs no knowledge of snapshots."""

from __future__ import annotations

from django import template

register = template.Library()


@register.inclusion_tag("snapshots/partials/environment_snapshots.html", takes_context=True)
def environment_snapshots(context, env) -> dict:
    from snapshots.pages import environment_section_context

    request = context["request"]
    # The environment page already knows the role: reuse it rather than asking guardian again.
    section = environment_section_context(request.user, env, can_use=context.get("can_use"))
    # The partial's form needs the page's CSRF token.
    return {**section, "csrf_token": context.get("csrf_token"), "request": request}
