"""The prediction rate is a sliding window kept in the suite's real Redis: a burst gets no
more than the rate through wherever it falls, and a client that waits is let through."""

import time

from webapp.lib import limits


def test_a_rate_counts_the_last_window_not_the_clock_s_minute():
    rate = limits.Limit("test", 3, 4)
    assert limits.hit(rate, "a") is None
    time.sleep(2)
    assert [limits.hit(rate, "a") for _ in range(2)] == [None] * 2
    wait = limits.hit(rate, "a")
    # Until the first request leaves the window, two seconds or more after it was sent.
    assert wait is not None and 0 < wait <= 2
    # Refused requests are not counted: they would keep a client out for ever.
    assert limits.hit(rate, "a") is not None
    assert limits.hit(rate, "b") is None  # per subject
    time.sleep(wait + 0.05)
    # The first left the window and the two after it are still in: one more gets through.
    assert limits.hit(rate, "a") is None
    assert limits.hit(rate, "a") is not None


def test_no_limit_counts_nothing(redis_url):
    import redis

    assert all(limits.hit(limits.Limit("test", 0, 60), "a") is None for _ in range(10))
    assert not list(redis.Redis.from_url(redis_url).scan_iter("limit:test:*"))
