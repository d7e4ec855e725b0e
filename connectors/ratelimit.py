"""Per-workspace token buckets for connector rate limits.

The engine calls :meth:`RateLimiter.acquire` before every operation attempt with the key
``"<connector>"`` (connector-wide limit) and/or ``"<connector>.<operation>"`` (operation limit).
A bucket holds at most ``limit.requests`` tokens and refills continuously at
``limit.requests / limit.per_seconds`` tokens per second; ``acquire`` takes one token, waiting
(without blocking the event loop) until one is available. Buckets live in memory: a limit is a
courtesy to remote APIs from this process, not a global quota across replicas.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from connectors.contract import RateLimit


@dataclass
class _Bucket:
    capacity: float
    rate: float  # tokens per second
    tokens: float
    updated: float

    def refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now


class RateLimiter:
    """Token buckets keyed by (workspace, key). Safe for concurrent use within one event loop."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}

    def _bucket(self, ident: tuple[str, str], limit: RateLimit) -> _Bucket:
        capacity = float(max(1, limit.requests))
        rate = capacity / max(limit.per_seconds, 1e-9)
        bucket = self._buckets.get(ident)
        if bucket is None or bucket.capacity != capacity or bucket.rate != rate:
            # A new or changed limit starts full (changing a limit must not stall running work).
            bucket = _Bucket(capacity, rate, capacity, self._clock())
            self._buckets[ident] = bucket
        return bucket

    def try_acquire(self, workspace_id: str, key: str, limit: RateLimit) -> float:
        """Take a token if one is there and return 0.0; otherwise return the seconds to wait."""
        bucket = self._bucket((workspace_id, key), limit)
        bucket.refill(self._clock())
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return 0.0
        return (1.0 - bucket.tokens) / bucket.rate

    async def acquire(self, workspace_id: str, key: str, limit: RateLimit) -> None:
        """Take one token from the (workspace, key) bucket, sleeping until one is available.

        Waiters on the same bucket are served in arrival order (a lock per bucket), so a burst
        of concurrent attempts spreads out at the configured rate instead of stampeding.
        """
        ident = (workspace_id, key)
        lock = self._locks.setdefault(ident, asyncio.Lock())
        async with lock:
            while True:
                wait = self.try_acquire(workspace_id, key, limit)
                if wait <= 0.0:
                    return
                await asyncio.sleep(wait)
