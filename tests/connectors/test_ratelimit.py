import asyncio
import time

from connectors.contract import RateLimit
from connectors.ratelimit import RateLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_bucket_allows_burst_then_reports_wait() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock)
    limit = RateLimit(requests=3, per_seconds=1.0)
    assert [limiter.try_acquire("ws", "http", limit) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.try_acquire("ws", "http", limit)
    assert abs(wait - 1 / 3) < 1e-9
    clock.now += 1 / 3
    assert limiter.try_acquire("ws", "http", limit) == 0.0


def test_buckets_are_per_workspace_and_key() -> None:
    limiter = RateLimiter(FakeClock())
    limit = RateLimit(requests=1, per_seconds=60)
    assert limiter.try_acquire("ws1", "slack", limit) == 0.0
    assert limiter.try_acquire("ws1", "slack", limit) > 0
    assert limiter.try_acquire("ws2", "slack", limit) == 0.0
    assert limiter.try_acquire("ws1", "email", limit) == 0.0


async def test_acquire_waits_when_empty() -> None:
    limiter = RateLimiter()
    limit = RateLimit(requests=2, per_seconds=0.2)  # 10 tokens/s
    start = time.monotonic()
    await asyncio.gather(*(limiter.acquire("ws", "http", limit) for _ in range(4)))
    elapsed = time.monotonic() - start
    # 2 immediately, then 2 more at 0.1 s each.
    assert 0.15 <= elapsed < 1.0
