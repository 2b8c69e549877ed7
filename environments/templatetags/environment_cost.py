"""``{% environment_cost env as cost %}``: an environment's estimated cost for its detail page."""

from __future__ import annotations

from decimal import Decimal

from django import template

from environments.actions.costs import environment_cost as estimate
from environments.cost import money

register = template.Library()


@register.simple_tag
def environment_cost(env) -> dict:
    """Money rounded for display; an overlay's saving as a percentage of a full clone's rate."""
    result = estimate(env)
    saving = result.saving
    return {
        "currency": result.currency,
        "total": money(result.total),
        "hourly": money(result.rate.running),
        "stopped_hourly": money(result.rate.stopped),
        "monthly": result.rate.monthly.quantize(Decimal("0.01")),
        "running_hours": round(result.running_seconds / 3600, 1),
        "stopped_hours": round(result.stopped_seconds / 3600, 1),
        "full_clone_hourly": money(saving.full_clone.running) if saving else None,
        "saved_hourly": money(saving.full_clone.running - saving.overlay.running) if saving else None,
        "saving_percent": round(saving.ratio * 100) if saving else None,
    }
