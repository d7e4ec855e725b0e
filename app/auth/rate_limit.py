"""The per-key request rate limit (``FLOWWRIGHT_RATE_LIMIT``), on the ``limits`` library.

A moving window in this process's memory by default; with ``FLOWWRIGHT_RATE_LIMIT_STORAGE=database``
it is kept in Flowwright's database (``app.auth.rate_limit_storage``), so every API process — on
one machine over SQLite, on several over PostgreSQL — counts the same requests and a key gets its
limit once, not once per process. Not the default: every request then writes to the database, so
on SQLite a read waits while another writer holds the lock (WAL lets reads go on otherwise).
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage, MovingWindowSupport, Storage
from limits.strategies import MovingWindowRateLimiter

from app.auth.errors import RateLimitedError


def parse_rate(text: str) -> RateLimitItem | None:
    """``"600/minute"`` (the ``limits`` notation: ``N/second|minute|hour|day``, ``N per M minutes``)
    as a limit; empty or ``off`` for none. A bad value raises ``ValueError`` naming it."""
    value = text.strip()
    if value.lower() in {"", "off", "none", "0"}:
        return None
    try:
        return parse(value)
    except ValueError:
        raise ValueError(f"{text!r} is not a rate such as '600/minute' or '10/second' (or 'off')") from None


class RequestLimiter:
    """Counts each key's requests; :meth:`hit` raises 429 (with ``Retry-After``) past the limit."""

    def __init__(self, rate: str, storage: Storage | None = None) -> None:
        """``storage``: where the counts live (a moving-window ``limits`` storage; default this
        process's memory)."""
        self.limit = parse_rate(rate)
        chosen = storage if storage is not None else MemoryStorage()
        assert isinstance(chosen, MovingWindowSupport)
        self._limiter = MovingWindowRateLimiter(chosen)

    def hit(self, key_id: str) -> None:
        """Count one request of ``key_id``."""
        if self.limit is None or self._limiter.hit(self.limit, key_id):
            return
        reset = self._limiter.get_window_stats(self.limit, key_id).reset_time
        retry_after = max(1, math.ceil(reset - time.time()))
        raise RateLimitedError(f"too many requests for this API key (limit {self.limit}); retry in {retry_after} s",
                               retry_after_s=retry_after, limit=str(self.limit))
