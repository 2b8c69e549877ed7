"""GraphQL subscriptions over WebSocket: environment events as they happen, and logs."""

from __future__ import annotations

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from strawberry.channels.testing import GraphQLWebsocketCommunicator

from environments import actions
from microstax.asgi import application
from microstax.teams import actions as team_actions
from tests.environments.test_lifecycle import STACK

EVENTS = "subscription($id: ID!) { environmentEvents(id: $id) { kind state step outcome } }"
LOGS = 'subscription($id: ID!) { environmentLogs(id: $id, service: "api", tailLines: 5, follow: false) { pod line } }'


def _communicator(token: str) -> GraphQLWebsocketCommunicator:
    return GraphQLWebsocketCommunicator(
        application=application,
        path="/graphql",
        headers=[
            (b"authorization", f"Bearer {token}".encode()),
            (b"host", b"localhost:8000"),
            (b"origin", b"http://localhost:8000"),
        ],
    )


@pytest.fixture
def ready_env(transactional_db, team, owner, sandbox_cluster):
    return actions.create_environment(actor=owner, team=team, source=STACK)


@pytest.mark.django_db(transaction=True)
def test_events_arrive_as_the_environment_stops(ready_env, owner):
    token = team_actions.create_api_token(actor=owner, name="ws")[1]
    ready_env.refresh_from_db()
    assert ready_env.state == "ready"

    async def scenario() -> list[dict]:
        received = []
        async with _communicator(token) as ws:
            async for result in ws.subscribe(EVENTS, {"id": ready_env.public_id}):
                event = result.data["environmentEvents"]
                received.append(event)
                if len(received) == 1:
                    await sync_to_async(actions.stop_environment)(actor=owner, env=ready_env)
                if event["kind"] == "state" and event["state"] == "stopped":
                    break
        return received

    events = async_to_sync(scenario)()
    assert events[0] == {"kind": "state", "state": "ready", "step": None, "outcome": None}
    kinds = [(e["kind"], e["step"]) for e in events]
    assert ("step.finished", "namespace") in kinds and events[-1]["state"] == "stopped"


@pytest.mark.django_db(transaction=True)
def test_logs_subscription_returns_the_tail(ready_env, owner):
    token = team_actions.create_api_token(actor=owner, name="ws")[1]

    async def scenario() -> list[dict]:
        async with _communicator(token) as ws:
            return [r.data["environmentLogs"] async for r in ws.subscribe(LOGS, {"id": ready_env.public_id})]

    lines = async_to_sync(scenario)()
    assert lines and all(line["pod"].startswith("api-") for line in lines)


@pytest.mark.django_db(transaction=True)
def test_outsiders_cannot_subscribe(ready_env, outsider):
    token = team_actions.create_api_token(actor=outsider, name="ws")[1]

    async def scenario():
        async with _communicator(token) as ws:
            async for result in ws.subscribe(EVENTS, {"id": ready_env.public_id}):
                return result

    result = async_to_sync(scenario)()
    assert result.errors and "not found" in result.errors[0].message


@pytest.mark.django_db(transaction=True)
def test_a_bad_token_closes_the_socket(db):
    async def scenario():
        ws = _communicator("msx_wrong")
        connected, code = await ws.connect()
        await ws.disconnect()
        return connected, code

    connected, code = async_to_sync(scenario)()
    assert not connected and code == 4401


@pytest.mark.django_db(transaction=True)
def test_pages_of_other_sites_cannot_open_a_socket(db):
    async def scenario():
        ws = GraphQLWebsocketCommunicator(
            application=application,
            path="/graphql",
            headers=[(b"host", b"localhost:8000"), (b"origin", b"https://evil.example")],
        )
        connected, _ = await ws.connect()
        await ws.disconnect()
        return connected

    assert async_to_sync(scenario)() is False


@pytest.mark.django_db(transaction=True)
def test_events_arrive_from_a_separate_worker_without_a_shared_channel_layer(ready_env, owner, monkeypatch):
    # With the embedded in-memory layer a worker process's messages never reach the web process:
    # model that by publishing nothing at all; the subscription must still see every change.
    from environments import events as environment_events

    monkeypatch.setattr(environment_events, "publish", lambda *args, **kwargs: None)
    token = team_actions.create_api_token(actor=owner, name="ws")[1]

    async def scenario() -> list[dict]:
        received = []
        async with _communicator(token) as ws:
            async for result in ws.subscribe(EVENTS, {"id": ready_env.public_id}):
                received.append(result.data["environmentEvents"])
                if len(received) == 1:
                    await sync_to_async(actions.stop_environment)(actor=owner, env=ready_env)
                if received[-1]["state"] == "stopped":
                    break
        return received

    events = async_to_sync(scenario)()
    assert events[-1]["state"] == "stopped" and any(e["kind"] == "step.finished" for e in events)
