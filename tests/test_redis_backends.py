"""With REDIS_URL set, the channel layer and the django-q2 broker run on the real Redis on loopback."""

from __future__ import annotations

import socket
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
