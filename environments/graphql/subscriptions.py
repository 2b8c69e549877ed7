"""Live environment events and logs over GraphQL subscriptions (WebSocket, channels).

Events travel over the channel layer (Redis when REDIS_URL is set, so a worker process reaches
every web process); logs are followed from the cluster in a thread and handed to the socket.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator

import strawberry
from channels.db import database_sync_to_async
from strawberry.types import Info

from environments import events
from environments.graphql.types import LogLine
from microstax.graphql.context import current_user
from microstax.graphql.errors import bad_input


@strawberry.type
class EnvironmentEvent:
    kind: str = strawberry.field(description="state, step.started or step.finished")
    state: str | None = None
    reason: str | None = None
    step: str | None = None
    outcome: str | None = None


@database_sync_to_async
def _visible(user, environment_id: str):
    from environments.graphql.schema import resolve_environment
    from microstax.lib.errors import NotFound

    try:
        return resolve_environment(user, environment_id)
    except NotFound:
        raise bad_input("environment not found", field="id") from None


@strawberry.type
class Subscription:
    @strawberry.subscription(description="State changes and provisioning steps of one environment, as they happen")
    async def environment_events(self, info: Info, id: strawberry.ID) -> AsyncGenerator[EnvironmentEvent, None]:
        user = current_user(info)
        env = await _visible(user, id)
        ws = info.context["ws"]
        async with ws.listen_to_channel("environment.event", groups=[events.group_name(env.public_id)]) as messages:
            # The current state first, so a client never waits for a change to know where it stands.
            yield EnvironmentEvent(kind="state", state=env.state, reason=env.state_reason)
            async for message in messages:
                yield EnvironmentEvent(
                    kind=message["kind"],
                    state=message.get("state"),
                    reason=message.get("reason"),
                    step=message.get("step"),
                    outcome=message.get("outcome"),
                )

    @strawberry.subscription(description="A service's log lines: the recent tail, then new lines when following")
    async def environment_logs(
        self, info: Info, id: strawberry.ID, service: str, tail_lines: int = 50, follow: bool = True
    ) -> AsyncGenerator[LogLine, None]:
        from environments.actions import cluster_config
        from microstax import kube

        user = current_user(info)
        env = await _visible(user, id)
        config = await database_sync_to_async(cluster_config)(env.cluster)
        if not follow:
            lines = await asyncio.to_thread(
                kube.tail, config, env.namespace, service, environment_id=env.public_id, tail_lines=tail_lines
            )
            for line in lines:
                yield LogLine(pod=line.pod, line=line.line)
            return
        stop = threading.Event()
        stream = kube.follow(
            config, env.namespace, service, environment_id=env.public_id, tail_lines=tail_lines, stop=stop
        )
        try:
            while True:
                line = await asyncio.to_thread(next, stream, None)
                if line is None:
                    return
                yield LogLine(pod=line.pod, line=line.line)
        finally:
            stop.set()
