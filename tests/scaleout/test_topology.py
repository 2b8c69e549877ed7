"""Two web processes and two django-q2 workers on PostgreSQL and Redis, with kubesim as the cluster
(issue 10, part 1): tasks are claimed once, subscriptions cross processes, the fleet sweep runs once.

The topology starts once for the module (tests/scaleout/conftest.py). Its environments are created
first, half of them through each web process; half of those are then made to expire and the fleet
schedule is armed, so the workers' schedulers — each looks for due schedules every 30 s, counted
from its start — find the sweep due while the other checks run.
"""

from __future__ import annotations

import asyncio
import json
import math
import threading
import time
from collections import Counter
from dataclasses import dataclass

import pytest
import websocket
from asgiref.sync import async_to_sync
from channels_redis.core import RedisChannelLayer

from environments.events import group_name
from environments.tasks import FLEET_SCHEDULE_NAME
from tests.scaleout.topology import Topology

ENVIRONMENTS = 6
EXPIRING = 3
SCHEDULER_PERIOD = 30.0  # django-q2's guard calls the scheduler every 30 s of guard cycles
BLUEPRINT = """\
name: web
ttl: 8h
services:
  - name: web
    image: nginx:1.27-alpine
    ports: ["80"]
    expose: true
    resources: {cpu: 50m, memory: 64Mi}
"""
CREATE = """mutation($t: ID!, $y: String!, $n: String!) {
  createEnvironment(input: {team: $t, yaml: $y, name: $n}) {
    environment { id state } operation { id kind } errors { code message } } }"""
STOP = """mutation($id: ID!) { stopEnvironment(input: {id: $id}) {
    environment { state } errors { code message } } }"""
EVENTS = "subscription($id: ID!) { environmentEvents(id: $id) { kind state step outcome } }"


@dataclass
class Fleet:
    ids: list[str]  # created alternately through web A and web B
    expiring: list[str]
    armed_at: float  # when the expired rows and the due schedule were written (epoch seconds)
    seconds_to_ready: float


@pytest.fixture(scope="module")
def fleet(topology: Topology) -> Fleet:
    # Until the environments to expire exist, the sweep is kept from firing (bootstrap made it due).
    topology.sql(
        "UPDATE django_q_schedule SET next_run = now() + interval '1 hour' WHERE name = %s", (FLEET_SCHEDULE_NAME,)
    )
    started = time.monotonic()
    ids = []
    for i in range(ENVIRONMENTS):
        data = topology.graphql(i % 2, CREATE, {"t": topology.team_id, "y": BLUEPRINT, "n": f"web-{i}"})
        payload = data["createEnvironment"]
        assert payload["errors"] == [], payload
        ids.append(payload["environment"]["id"])

    def states() -> dict[str, str]:
        return dict(
            topology.sql("SELECT public_id, state FROM environments_environment WHERE public_id = ANY(%s)", (ids,))
        )

    def all_ready():
        current = states()
        broken = {k: v for k, v in current.items() if v not in ("pending", "provisioning", "ready")}
        assert not broken, f"environments left the path to ready: {broken}"
        return all(state == "ready" for state in current.values())

    topology.wait_until(all_ready, 60, f"{ENVIRONMENTS} environments to be ready")
    seconds_to_ready = time.monotonic() - started
    expiring = ids[-EXPIRING:]
    topology.sql(
        "UPDATE environments_environment SET expires_at = now() - interval '1 minute' WHERE public_id = ANY(%s)",
        (expiring,),
    )
    topology.sql("UPDATE django_q_schedule SET next_run = now() WHERE name = %s", (FLEET_SCHEDULE_NAME,))
    return Fleet(ids=ids, expiring=expiring, armed_at=time.time(), seconds_to_ready=seconds_to_ready)


def test_every_operation_is_claimed_and_run_exactly_once(topology, fleet):
    # given environments created through both web processes, all ready
    operations = topology.sql(
        """SELECT o.id, e.public_id, o.state, o.attempts, o.claimed_by
           FROM environments_operation o JOIN environments_environment e ON e.id = o.environment_id
           WHERE e.public_id = ANY(%s) AND o.kind = 'create'""",
        (fleet.ids,),
    )
    # then each has one create operation, succeeded at the first and only attempt
    assert sorted(row[1] for row in operations) == sorted(fleet.ids)
    assert {(row[2], row[3]) for row in operations} == {("succeeded", 1)}, operations
    # the work spread over more than one worker process, and no web process ran any of it
    claimers = Counter(row[4] for row in operations)
    web_pids = {str(p.popen.pid) for p in topology.processes if p.name.startswith("web")}
    assert len(claimers) >= 2 and not {c.rsplit(":", 1)[-1] for c in claimers} & web_pids, claimers
    for operation_id, env_id, *_ in operations:
        steps = topology.sql(
            "SELECT position, name, outcome, details FROM environments_operationstep "
            "WHERE operation_id = %s ORDER BY position",
            (operation_id,),
        )
        names = [name for _, name, _, _ in steps]
        # no step ran twice, and the positions leave no gap a second run would have filled
        assert len(names) == len(set(names)), (env_id, names)
        assert [position for position, *_ in steps] == list(range(1, len(steps) + 1))
        assert {outcome for _, _, outcome, _ in steps} == {"ok"}
        details = {name: d for _, name, _, d in steps}
        applies = [d for name, d in details.items() if name.startswith("apply ")]
        # every rendered object created once: none updated, none found already there
        assert sum(d["created"] for d in applies) == details["render"]["objects"], (env_id, applies)
        assert sum(d["updated"] + d["unchanged"] for d in applies) == 0, (env_id, applies)
    # the broker delivered each task once: one django-q2 task per operation, first attempt
    tasks = topology.sql(
        "SELECT name, success, attempt_count FROM django_q_task WHERE name = ANY(%s)",
        ([f"operation-{row[0]}" for row in operations],),
    )
    assert sorted(tasks) == sorted((f"operation-{row[0]}", True, 1) for row in operations)
    # and the cluster saw each object added once and its spec never rewritten
    added = Counter()
    for path in ("/api/v1/services", "/apis/apps/v1/deployments", "/api/v1/namespaces"):
        for event in _history(topology, path):
            metadata = event["object"]["metadata"]
            if (metadata.get("labels") or {}).get("microstax.io/environment") not in fleet.ids:
                continue
            key = (path, metadata.get("namespace"), metadata["name"])
            if event["type"] == "ADDED":
                added[key] += 1
            if event["type"] != "DELETED" and not metadata.get("deletionTimestamp"):  # the sweep may be deleting
                assert metadata.get("generation", 1) == 1, (key, metadata.get("generation"))
    assert added and set(added.values()) == {1}, added
    assert len({key[2] for key in added if key[0] == "/api/v1/namespaces"}) == ENVIRONMENTS
    print(
        f"\n{ENVIRONMENTS} environments ready {fleet.seconds_to_ready:.1f} s after the first create; "
        f"operations per worker process: {sorted(claimers.values())}"
    )


def _history(topology: Topology, path: str) -> list[dict]:
    """Every watch event of a resource since the cluster started (kubesim keeps 20 000)."""
    body = topology.kube(f"{path}?watch=1&resourceVersion=1&timeoutSeconds=1&allowWatchBookmarks=false")
    return [json.loads(line) for line in body.splitlines() if line.strip()]


def test_a_subscriber_on_web_a_sees_what_a_worker_does_for_web_b(topology, fleet):
    # given a subscription on web A, and a listener on the Redis channel layer in this process
    env_id = fleet.ids[0]
    received: list[dict] = []
    subscribed = threading.Event()
    done = threading.Event()
    errors: list[BaseException] = []

    def subscribe() -> None:
        try:
            ws = websocket.create_connection(
                topology.web[0].replace("http", "ws", 1) + "/graphql",
                header=[f"Authorization: Bearer {topology.token}"],
                subprotocols=["graphql-transport-ws"],
                timeout=30,
            )
            try:
                ws.send(json.dumps({"type": "connection_init", "payload": {}}))
                assert json.loads(ws.recv())["type"] == "connection_ack"
                ws.send(
                    json.dumps(
                        {"id": "1", "type": "subscribe", "payload": {"query": EVENTS, "variables": {"id": env_id}}}
                    )
                )
                while not done.is_set():
                    message = json.loads(ws.recv())
                    if message["type"] == "ping":
                        ws.send(json.dumps({"type": "pong"}))
                        continue
                    assert message["type"] == "next", message
                    event = message["payload"]["data"]["environmentEvents"]
                    received.append(event)
                    subscribed.set()  # the first event is the current state: the subscription is live
                    if event["kind"] == "state" and event["state"] == "stopped":
                        done.set()
            finally:
                ws.close()
        except BaseException as exc:  # reported by the test below
            errors.append(exc)
            subscribed.set()
            done.set()

    layer = RedisChannelLayer(hosts=[topology.redis_url])
    bus: list[dict] = []
    listening = threading.Event()

    async def listen_on_the_bus() -> None:
        channel = await layer.new_channel()
        await layer.group_add(group_name(env_id), channel)
        listening.set()
        try:
            while not done.is_set():
                try:
                    bus.append(await asyncio.wait_for(layer.receive(channel), 0.5))
                except TimeoutError:
                    pass
        finally:
            await layer.group_discard(group_name(env_id), channel)

    threads = [threading.Thread(target=subscribe), threading.Thread(target=async_to_sync(listen_on_the_bus))]
    for thread in threads:
        thread.start()
    try:
        assert subscribed.wait(20) and listening.wait(20) and not errors, errors
        # when the environment is stopped through web B (a worker on either cluster runs it)
        started = time.monotonic()
        payload = topology.graphql(1, STOP, {"id": env_id})["stopEnvironment"]
        assert payload["errors"] == [], payload
        assert done.wait(30), f"no 'stopped' event reached web A; got {received}"
        seconds = time.monotonic() - started
    finally:
        done.set()
        for thread in threads:
            thread.join(10)
    # then web A's client saw the steps and the new state, in order
    assert not errors, errors
    assert received[0] == {"kind": "state", "state": "ready", "step": None, "outcome": None}
    kinds = [(e["kind"], e["step"] or e["state"]) for e in received[1:]]
    assert ("step.started", "namespace") in kinds and kinds[-1] == ("state", "stopped"), kinds
    # and the worker's events crossed processes over Redis itself, not only by the web's database polling
    assert ("step.finished", "namespace") in {(m["kind"], m.get("step")) for m in bus}, bus
    assert ("state", "stopped") in {(m["kind"], m.get("state")) for m in bus}, bus
    print(
        f"\nstop through web B → 'stopped' on web A's subscription in {seconds:.2f} s; "
        f"{len(received)} subscription events, {len(bus)} channel-layer messages"
    )


def test_the_fleet_sweep_runs_once_across_both_workers(topology, fleet):
    # given expired environments and a due fleet schedule, and two clusters whose schedulers both look
    # for due schedules every 30 s: wait until each has looked at least once since the schedule was armed
    deadline = max(_next_scheduler_pass(worker_ready, fleet.armed_at) for worker_ready in topology.workers_ready)
    deadline += 3.0  # guard-loop drift and the sweep itself

    def deleted():
        rows = topology.sql("SELECT state FROM environments_environment WHERE public_id = ANY(%s)", (fleet.expiring,))
        return all(state == "deleted" for (state,) in rows)

    topology.wait_until(deleted, max(5.0, deadline - time.time()) + 30, "the expired environments to be deleted")
    time.sleep(max(0.0, deadline - time.time()))
    seconds = time.time() - fleet.armed_at
    # then exactly one sweep ran for the interval: one task, one "created … from schedule" among both clusters
    sweeps = topology.sql(
        "SELECT success, attempt_count FROM django_q_task WHERE func = 'environments.tasks.fleet_sweep'"
    )
    assert sweeps == [(True, 1)], sweeps
    fired = sum(w.output().count(f"from schedule [{FLEET_SCHEDULE_NAME}]") for w in topology.workers)
    assert fired == 1
    # and each expired environment was deleted once: one delete operation, one audit event
    deletes = topology.sql(
        """SELECT e.public_id, count(*), min(o.attempts), max(o.attempts), min(o.state)
           FROM environments_operation o JOIN environments_environment e ON e.id = o.environment_id
           WHERE o.kind = 'delete' GROUP BY e.public_id""",
    )
    assert sorted(deletes) == sorted((env_id, 1, 1, 1, "succeeded") for env_id in fleet.expiring)
    audited = topology.sql(
        "SELECT target_id, count(*) FROM audit_auditevent WHERE action = 'environment.delete' GROUP BY target_id"
    )
    assert sorted(audited) == sorted((env_id, 1) for env_id in fleet.expiring)
    # nothing else was expired
    survivors = topology.sql(
        "SELECT count(*) FROM environments_environment WHERE public_id = ANY(%s) AND state <> 'deleted'",
        (fleet.ids[:-EXPIRING],),
    )
    assert survivors == [(ENVIRONMENTS - EXPIRING,)]
    print(f"\n{EXPIRING} expired environments deleted by one sweep; checked {seconds:.1f} s after arming")


def _next_scheduler_pass(ready_at: float, after: float) -> float:
    """When a cluster whose guard started at ``ready_at`` next calls the scheduler after ``after``."""
    passes = max(1, math.ceil((after - ready_at) / SCHEDULER_PERIOD))
    return ready_at + passes * SCHEDULER_PERIOD
