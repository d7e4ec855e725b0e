"""The report's charts: one per figure that has data, as SVG and as PNG, drawn from the report."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from app.insights.charts import Chart, charts
from app.insights.report import InsightReport
from tests.app.insights.rendered import synthetic_report


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> InsightReport:
    return synthetic_report(tmp_path_factory.mktemp("charts"))


@pytest.fixture(scope="module")
def drawn(report: InsightReport) -> list[Chart]:
    return charts(report, dpi=100)


def test_every_chart_of_a_busy_workspace_is_drawn(drawn: list[Chart]) -> None:
    assert [c.name for c in drawn] == ["executions", "health", "durations", "failing_nodes", "cost"]
    for c in drawn:
        assert c.svg.startswith("<svg") and c.svg.rstrip().endswith("</svg>")
        picture = Image.open(io.BytesIO(c.png))
        assert picture.format == "PNG" and picture.width == round(c.width_in * 100)
        assert picture.height == round(c.height_in * 100)
        colours = picture.convert("RGB").getcolors(maxcolors=1_000_000) or []
        assert len(colours) > 20, c.name  # not a blank picture


def test_the_failing_nodes_chart_names_the_nodes_that_fail(report: InsightReport, drawn: list[Chart]) -> None:
    top = report.failing_nodes[0]
    assert (top["workflow"], top["node_id"], top["top_error"]) == ("Lead enrichment", "enrich", "permanent_error")
    assert top["failed"] == max(n["failed"] for n in report.failing_nodes)
    assert [n["failed"] for n in report.failing_nodes] == sorted((n["failed"] for n in report.failing_nodes),
                                                                 reverse=True)


def test_only_the_asked_formats_are_drawn(report: InsightReport) -> None:
    [executions, *_] = charts(report, formats=("svg",))
    assert executions.svg and executions.png == b""


def test_a_workspace_without_runs_has_no_charts(tmp_path: Path) -> None:
    from app.insights.report import build_report
    from engine.db import make_engine

    db = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    assert charts(build_report(db, "default")) == []
    db.dispose()
