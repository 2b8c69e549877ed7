"""Environment events for live clients (GraphQL subscriptions, dashboard): one channel-layer group
per environment. With REDIS_URL the layer is Redis, so events cross processes (worker → web)."""

from __future__ import annotations

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

log = logging.getLogger(__name__)


def group_name(environment_public_id: str) -> str:
    return f"env.{environment_public_id}"


def publish(environment_public_id: str, kind: str, **data) -> None:
    """Best effort: a client that misses an event re-reads state; provisioning never fails on this."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(
            group_name(environment_public_id), {"type": "environment.event", "kind": kind, **data}
        )
    except Exception:  # noqa: BLE001 - a broken event bus must not fail provisioning
        log.warning("could not publish %s for %s", kind, environment_public_id, exc_info=True)
