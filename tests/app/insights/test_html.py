"""The HTML report: self-contained (inline CSS and SVG, no script, nothing fetched), every finding
and workflow on it, and what comes from the data escaped."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from app.insights.html import REPORT_CSP, codes, secs, to_html
from app.insights.report import InsightReport
from tests.app.insights.rendered import synthetic_report


class Tags(HTMLParser):
    """Every start tag with its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> InsightReport:
    return synthetic_report(tmp_path_factory.mktemp("html"))


@pytest.fixture(scope="module")
def page(report: InsightReport) -> str:
    return to_html(report)


def test_the_page_is_self_contained(page: str) -> None:
    parser = Tags()
    parser.feed(page)
    names = [t for t, _ in parser.tags]
    assert "script" not in names and "link" not in names and "iframe" not in names
    assert not [a for _, a in parser.tags if any(k in a for k in ("src", "href"))]  # nothing to fetch
    assert names.count("svg") == 5 and names.count("figure") == 5
    assert not re.search(r"https?://(?!www\.w3\.org/)[^\s\"'<]+\.(css|js|woff2?)", page)
    assert "script-src" not in REPORT_CSP and "default-src 'none'" in REPORT_CSP


def test_every_finding_and_workflow_is_on_the_page(report: InsightReport, page: str) -> None:
    for f in report.findings:
        assert f'id="{f.id}"' in page
    for w in report.workflows:
        assert f"<td>{w['name']}</td>" in page
    proposal = next(f.proposal for f in report.findings if f.proposal)
    assert f"flowwright insights --accept {proposal.id}" in page
    assert f"<b>{report.totals['runs']}</b>" in page


def test_text_from_the_data_is_escaped(report: InsightReport) -> None:
    import copy

    hostile = copy.deepcopy(report)
    hostile.workflows[0]["name"] = "<script>alert(1)</script>"
    hostile.findings[0].title = "<img src=x onerror=alert(1)>"
    page = to_html(hostile, drawn=[])  # the charts draw text as paths: nothing to escape there
    assert "<script>alert" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_small_helpers() -> None:
    assert str(codes("run `flowwright x` <now>")) == "run <code>flowwright x</code> &lt;now&gt;"
    assert [secs(v) for v in (None, 840, 2400, 190_000, 90_000_000, 400_000_000)] == [
        "", "840 ms", "2.4 s", "3 min", "25 h", "4.6 d"]
