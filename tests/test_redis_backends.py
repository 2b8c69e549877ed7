"""With REDIS_URL set, the channel layer and the django-q2 broker run on the real Redis on loopback."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import uuid

import pytest
from asgiref.sync import async_to_sync

REDIS_URL = "redis://127.0.0.1:6379/14"


@pytest.fixture(scope="module", autouse=True)
def redis_reachable():
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=2).close()
    except OSError:
        pytest.fail("Redis is expected on 127.0.0.1:6379 (it runs on every development and CI machine)")


def test_channel_layer_round_trip_through_redis():
    from channels_redis.core import RedisChannelLayer

    layer = RedisChannelLayer(hosts=[REDIS_URL])
    channel = f"msx-test-{uuid.uuid4().hex}"

    async def round_trip():
        await layer.send(channel, {"type": "environment.event", "state": "ready"})
        message = await layer.receive(channel)
        await layer.flush()
        return message

    assert async_to_sync(round_trip)() == {"type": "environment.event", "state": "ready"}


def test_a_consumer_waits_idle_longer_than_the_redis_read_timeout():
    """A subscription with no event for a while stays open (redis-py 8 reads time out after 5 s by
    default, shorter than the channel layer's blocking pop: every idle WebSocket was closed with 1011)."""
    from channels_redis.core import RedisChannelLayer

    production = subprocess.run(
        [
            sys.executable,
            "-c",
            "import json, microstax.settings as s; print(json.dumps(s.CHANNEL_LAYERS['default']['CONFIG']))",
        ],
        env={**os.environ, "DEBUG": "true", "REDIS_URL": REDIS_URL},
        capture_output=True,
        text=True,
        check=True,
    )
    layer = RedisChannelLayer(**json.loads(production.stdout))

    async def idle_then_event():
        channel = await layer.new_channel()

        async def later():
            await asyncio.sleep(7)
            await layer.send(channel, {"type": "environment.event", "state": "ready"})

        sender = asyncio.create_task(later())
        message = await layer.receive(channel)
        await sender
        await layer.flush()
        return message

    assert async_to_sync(idle_then_event)() == {"type": "environment.event", "state": "ready"}


def test_django_q_redis_broker_enqueues_and_dequeues(monkeypatch):
    from django_q.brokers.redis_broker import Redis
    from django_q.conf import Conf

    # The broker reads its connection from Conf.REDIS, which settings fill from REDIS_URL.
    monkeypatch.setattr(Conf, "REDIS", REDIS_URL)
    broker = Redis(list_key=f"msx-test-{uuid.uuid4().hex}")
    try:
        assert broker.ping()
        broker.enqueue("signed-task-payload")
        assert broker.queue_size() == 1
        [(_, payload)] = broker.dequeue()
        assert payload == b"signed-task-payload"
    finally:
        broker.delete_queue()
