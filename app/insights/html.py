"""The insight report as one self-contained HTML page: inline CSS and inline SVG charts, no
script, nothing fetched (it opens offline, from a mail attachment or a file)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING

from markupsafe import Markup, escape

from app.insights.charts import BAND_COLOURS, Chart, charts
from app.insights.findings import money

if TYPE_CHECKING:
    from jinja2 import Environment

    from app.insights.report import InsightReport

# a report page may show its own inline styles and images; nothing else (no script, no fetch)
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'"
_CODE = re.compile(r"`([^`]+)`")


def codes(text: str) -> Markup:
    """``text`` escaped, with its `backticked` parts as ``<code>``."""
    return Markup(_CODE.sub(lambda m: f"<code>{m.group(1)}</code>", str(escape(text))))


def secs(ms: float | None) -> str:
    """A duration in ms as it reads best: 840 ms, 2.4 s, 3.1 min, 25 h, 3.2 d."""
    if ms is None:
        return ""
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 120_000:
        return f"{ms / 1000:.1f} s"
    if ms < 120 * 60_000:
        return f"{ms / 60_000:.0f} min"
    if ms < 48 * 3_600_000:
        return f"{ms / 3_600_000:.0f} h"
    return f"{ms / 86_400_000:.1f} d"


def pct(rate: float) -> str:
    """A rate as a percentage."""
    return f"{rate:.0%}"


@lru_cache(maxsize=1)
def _environment() -> Environment:
    from pathlib import Path

    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    # the template sits beside this module (package data: *.j2)
    env = Environment(loader=FileSystemLoader(Path(__file__).parent), autoescape=select_autoescape(["j2", "html"]),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["codes"] = codes
    env.globals.update(money=money, secs=secs, pct=pct, band_colours=BAND_COLOURS)
    return env


def to_html(report: InsightReport, *, workflow: str | None = None, drawn: list[Chart] | None = None,
            generated: datetime | None = None) -> str:
    """The report as HTML (``drawn``: charts already drawn for it, e.g. shared with the PDF)."""
    return _environment().get_template("report.html.j2").render(
        r=report, t=report.totals, m=report.model, workflow=workflow,
        charts=drawn if drawn is not None else charts(report, formats=("svg",)),
        since=report.since[:16].replace("T", " "), until=report.until[:16].replace("T", " "),
        generated=(generated or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M"), version=_version())


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("flowwright")
    except PackageNotFoundError:  # a source tree that was never installed
        return "dev"


__all__ = ["REPORT_CSP", "to_html"]
