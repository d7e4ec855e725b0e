"""The insights connector: its step returns what the service renders, validated; without a
service it is a clear permanent error."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from connectors.errors import PermanentError
from connectors.insights import CONNECTOR, ReportInput
from connectors.services import ConnectorServices, InsightService
from tests.connectors.conftest import Ctx

report = CONNECTOR.operation("report")
assert report is not None


class Reports:
    """A report service over a fixed answer, recording what it was asked."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, float, str | None, str]] = []

    async def report(self, workspace_id: str, *, days: float, workflow_id: str | None,
                     attach: str) -> Mapping[str, Any]:
        self.asked.append((workspace_id, days, workflow_id, attach))
        return {"subject": "s", "text": "# t", "totals": {"runs": 3}, "findings": 1,
                "attachments": [{"filename": "r.pdf", "content_type": "application/pdf", "content_base64": "JVBE"}]}


async def test_the_step_asks_for_its_own_workspace() -> None:
    service = Reports()
    assert isinstance(service, InsightService)
    out = await report.run(ReportInput(days=30, attach="pdf"), Ctx(services=ConnectorServices(insights=service)))
    assert service.asked == [("ws_test", 30.0, None, "pdf")]
    assert out.model_dump()["attachments"][0]["filename"] == "r.pdf" and out.findings == 1


async def test_without_a_service_it_is_a_permanent_error() -> None:
    with pytest.raises(PermanentError) as raised:
        await report.run(ReportInput(), Ctx())
    assert raised.value.code == "insights_unavailable"
