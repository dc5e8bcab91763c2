"""The redis-server the tests use is real and keeps what it acknowledged across a crash (append-only file)."""

import redis


def test_a_killed_redis_keeps_acknowledged_writes(redis_server):
    client = redis.Redis.from_url(redis_server.url)
    client.set("easel:probe", "kept")
    redis_server.kill()
    redis_server.start()
    assert redis.Redis.from_url(redis_server.url).get("easel:probe") == b"kept"
