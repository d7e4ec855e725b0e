"""Replays of signed webhook requests, refused within the signature's tolerance window.

A signature binds a timestamp and the body, so outside ``tolerance_s`` a captured request is
refused as ``stale``; inside it, the same request sent again verifies just as well. Each accepted
delivery's signature is remembered (``webhook_signatures_seen``, in Flowwright's database, so every
API process sees the others' deliveries) until its timestamp leaves the window; a request whose
signature is there already is a replay — 401 ``webhook_signature_invalid`` with reason
``replayed``, and nothing runs. A sender that really means to deliver the same body twice signs it
again with a new timestamp (as Stripe and GitHub senders do on a retry).
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Column, Float, Index, MetaData, PrimaryKeyConstraint, String, Table, delete
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine

_metadata = MetaData()
SEEN = Table(
    "webhook_signatures_seen", _metadata,
    Column("workflow_id", String(64), nullable=False),
    Column("signature", String(64), nullable=False),
    Column("expires_at", Float, nullable=False),
    PrimaryKeyConstraint("workflow_id", "signature"),
    Index("ix_webhook_signatures_seen_expires_at", "expires_at"),
)


class SeenSignatures:
    """The signatures of the signed deliveries accepted and still inside their window."""

    def __init__(self, engine: Engine, *, clock: Any = time.time) -> None:
        self.engine = engine
        self._clock = clock
        _metadata.create_all(engine)

    def first_time(self, workflow_id: str, signature: str, *, expires_at: float) -> bool:
        """Remember ``signature`` for ``workflow_id`` until ``expires_at``; False when it was
        remembered already (a replay). Atomic: of two processes accepting the same request at
        once, one gets True. Signatures whose window has passed are forgotten here too."""
        upsert = postgresql_insert if self.engine.dialect.name == "postgresql" else sqlite_insert
        with self.engine.begin() as conn:
            conn.execute(delete(SEEN).where(SEEN.c.expires_at < self._clock()))
            inserted = conn.execute(upsert(SEEN).values(workflow_id=workflow_id, signature=signature,
                                                        expires_at=expires_at).on_conflict_do_nothing())
            return bool(inserted.rowcount == 1)


__all__ = ["SEEN", "SeenSignatures"]
