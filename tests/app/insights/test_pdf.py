"""The PDF report: a real PDF whose text holds every finding and workflow, with the charts as
images, read back with pypdf."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from pypdf import PdfReader

from app.insights.charts import charts
from app.insights.pdf import to_pdf
from app.insights.report import InsightReport
from tests.app.insights.rendered import synthetic_report


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> InsightReport:
    return synthetic_report(tmp_path_factory.mktemp("pdf"))


@pytest.fixture(scope="module")
def pdf(report: InsightReport) -> PdfReader:
    return PdfReader(io.BytesIO(to_pdf(report, drawn=charts(report, formats=("png",), dpi=100))))


def _text(pdf: PdfReader) -> str:
    return " ".join(" ".join((page.extract_text() or "").split()) for page in pdf.pages)


def test_every_finding_and_workflow_is_in_the_text(report: InsightReport, pdf: PdfReader) -> None:
    text = _text(pdf)
    assert len(pdf.pages) >= 3
    assert pdf.metadata is not None and pdf.metadata.title == "Flowwright insights — default"
    for f in report.findings:
        assert " ".join(f.title.split()) in text, f.title
    for w in report.workflows:
        assert w["name"] in text
    proposal = next(f.proposal for f in report.findings if f.proposal)
    assert f"flowwright insights --accept {proposal.id}" in text.replace("- -", "--")
    assert "→" in text  # the window's arrow prints: the fonts carry it
    assert f"page {len(pdf.pages)}" in text


def test_the_charts_are_embedded_as_images(pdf: PdfReader) -> None:
    images = [image for page in pdf.pages for image in page.images]
    assert len(images) == 5
    assert all(image.image is not None and image.image.width == 720 for image in images)


def test_a_workspace_without_runs_is_a_short_pdf(tmp_path: Path) -> None:
    from app.insights.report import build_report
    from engine.db import make_engine

    db = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    empty = PdfReader(io.BytesIO(to_pdf(build_report(db, "default"))))
    db.dispose()
    assert len(empty.pages) == 1 and "Nothing stands out in this window." in _text(empty)
