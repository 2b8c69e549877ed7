"""Live environment events and logs over GraphQL subscriptions (WebSocket, channels).

Events travel over the channel layer (Redis when REDIS_URL is set, so a worker process reaches
every web process); logs are followed from the cluster in a thread and handed to the socket.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncGenerator

import strawberry
from channels.db import database_sync_to_async
from graphql import GraphQLError
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


# How often a subscription reads the database when no message woke it. The in-memory channel layer
# never carries another process's messages, so there the poll is what delivers a worker's changes;
# a layer across processes (Redis) wakes each subscription as changes happen, and its poll is only a
# safety net for a message lost in between (hundreds of open subscriptions polling twice a second
# would otherwise cost a web process more than its requests do).
EVENT_POLL_SECONDS = 0.5
SAFETY_POLL_SECONDS = 5.0


def _poll_seconds() -> float:
    from channels.layers import InMemoryChannelLayer, get_channel_layer

    return EVENT_POLL_SECONDS if isinstance(get_channel_layer(), InMemoryChannelLayer) else SAFETY_POLL_SECONDS


ACTIVITY_SECONDS = 60.0


class _EventWatcher:
    """Turns what changed in the database since the last poll into events: steps first, then state."""

    def __init__(self, environment_pk: int) -> None:
        from environments.models import OperationStep

        self.environment_pk = environment_pk
        self.state: tuple[str, str] | None = None
        self.outcomes: dict[int, str] = {}
        self.after = (
            OperationStep.objects.filter(operation__environment_id=environment_pk)
            .order_by("-pk")
            .values_list("pk", flat=True)
            .first()
            or 0
        )

    def poll(self) -> list[EnvironmentEvent]:
        from environments.models import Environment, OperationStep

        out: list[EnvironmentEvent] = []
        steps = OperationStep.objects.filter(operation__environment_id=self.environment_pk, pk__gt=self.after)
        for pk, name, outcome in steps.order_by("pk").values_list("pk", "name", "outcome"):
            previous = self.outcomes.get(pk)
            if previous is None:
                out.append(EnvironmentEvent(kind="step.started", step=name))
            if outcome != "running" and previous != outcome:
                out.append(EnvironmentEvent(kind="step.finished", step=name, outcome=outcome))
            self.outcomes[pk] = outcome
        state = tuple(Environment.objects.filter(pk=self.environment_pk).values_list("state", "state_reason").get())
        if state != self.state:
            self.state = state
            out.append(EnvironmentEvent(kind="state", state=state[0], reason=state[1]))
        return out


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
        wake: asyncio.Queue = asyncio.Queue()
        async with ws.listen_to_channel("environment.event", groups=[events.group_name(env.public_id)]) as messages:

            async def pump() -> None:
                async for message in messages:
                    wake.put_nowait(message)

            pump_task = asyncio.create_task(pump())
            poll_seconds = _poll_seconds()
            try:
                watcher = await database_sync_to_async(_EventWatcher)(env.pk)
                while True:
                    for event in await database_sync_to_async(watcher.poll)():
                        yield event
                    # The database is the source of truth; channel-layer messages wake us as soon as
                    # something changes (see _poll_seconds for when nothing does).
                    try:
                        await asyncio.wait_for(wake.get(), poll_seconds)
                    except TimeoutError:
                        pass
            finally:
                pump_task.cancel()

    @strawberry.subscription(description="A service's log lines: the recent tail, then new lines when following")
    async def environment_logs(
        self, info: Info, id: strawberry.ID, service: str, tail_lines: int = 50, follow: bool = True
    ) -> AsyncGenerator[LogLine, None]:
        from environments.actions import cluster_config, not_running, touch_activity
        from microstax import kube

        user = current_user(info)
        env = await _visible(user, id)
        stopped = not_running(env, "read its logs")
        if stopped:
            raise GraphQLError(stopped, extensions={"code": "NOT_RUNNING", "field": "id", "state": env.state})
        await database_sync_to_async(touch_activity)(env)
        config = await database_sync_to_async(cluster_config)(env.cluster)
        if not follow:
            lines = await asyncio.to_thread(
                kube.tail, config, env.namespace, service, environment_id=env.public_id, tail_lines=tail_lines
            )
            for line in lines:
                yield LogLine(pod=line.pod, line=line.line)
            return
        stop = threading.Event()
        touched = time.monotonic()
        stream = kube.follow(
            config, env.namespace, service, environment_id=env.public_id, tail_lines=tail_lines, stop=stop
        )
        try:
            while True:
                line = await asyncio.to_thread(next, stream, None)
                if line is None:
                    return
                if time.monotonic() - touched >= ACTIVITY_SECONDS:
                    # Following logs is use; touch_activity writes at most once a minute anyway.
                    touched = time.monotonic()
                    await database_sync_to_async(touch_activity)(env)
                yield LogLine(pod=line.pod, line=line.line)
        finally:
            stop.set()
