"""The channel layer that REDIS_URL selects carries group messages, with a bounded Redis pool.

On the services leg (REDIS_URL set) the round trip goes through Redis.
"""

from __future__ import annotations

import asyncio
import os
import uuid

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from channels_redis.core import RedisChannelLayer
from channels_redis.pubsub import RedisPubSubChannelLayer
from django.conf import settings

POOL_CODE = (
    "import django; django.setup();"
    "from channels.layers import get_channel_layer;"
    "layer = get_channel_layer();"
    "print(type(layer).__name__, layer.create_pool(0).max_connections)"
)


def test_the_backend_is_the_one_redis_url_and_channel_layer_ask_for():
    layer = get_channel_layer()
    if os.environ.get("REDIS_URL", "").strip():
        configured = settings.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"][0]
        assert configured["address"] == os.environ["REDIS_URL"].strip()
        if os.environ.get("CHANNEL_LAYER", "core").strip().lower() == "pubsub":
            assert isinstance(layer, RedisPubSubChannelLayer)
        else:
            assert isinstance(layer, RedisChannelLayer)
            assert layer.create_pool(0).max_connections == configured["max_connections"]
    else:
        assert isinstance(layer, InMemoryChannelLayer)


def test_a_group_message_makes_the_round_trip_through_the_configured_layer():
    async def round_trip() -> dict:
        layer = get_channel_layer()
        group = f"test-{uuid.uuid4().hex}"
        channel = await layer.new_channel()
        await layer.group_add(group, channel)
        try:
            await layer.group_send(group, {"type": "lot.status", "lot": 7, "status": "开标中"})
            # A guard against hanging, not a timing assertion.
            return await asyncio.wait_for(layer.receive(channel), timeout=10)
        finally:
            await layer.group_discard(group, channel)

    assert async_to_sync(round_trip)() == {"type": "lot.status", "lot": 7, "status": "开标中"}


def test_the_redis_pool_is_bounded_by_max_connections(run_django):
    # Building a pool does not connect, so this holds on either leg.
    default = run_django("-c", POOL_CODE, REDIS_URL="redis://127.0.0.1:6379/0")
    assert default.stdout.split() == ["RedisChannelLayer", "1000"], default.stderr
    tuned = run_django("-c", POOL_CODE, REDIS_URL="redis://127.0.0.1:6379/0", REDIS_MAX_CONNECTIONS="250")
    assert tuned.stdout.split() == ["RedisChannelLayer", "250"], tuned.stderr


def test_a_redis_pool_below_ten_connections_refuses_to_start(run_django):
    result = run_django("-c", POOL_CODE, REDIS_URL="redis://127.0.0.1:6379/0", REDIS_MAX_CONNECTIONS="5")
    assert result.returncode != 0
    assert "REDIS_MAX_CONNECTIONS=5 is below the minimum 10" in result.stderr


def test_without_redis_url_the_layer_is_in_memory(run_django):
    code = "import django; django.setup(); from channels.layers import get_channel_layer; print(type(get_channel_layer()).__name__)"
    result = run_django("-c", code)
    assert result.stdout.strip() == "InMemoryChannelLayer", result.stderr
