"""Fixtures shared by the insight tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.app.insights.loopback import Receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A real OTLP/HTTP receiver (and flaky endpoint) on a loopback port."""
    server = Receiver()
    try:
        yield server
    finally:
        server.close()
