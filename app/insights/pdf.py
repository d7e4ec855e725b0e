"""The insight report as a PDF (reportlab: pure Python, no browser), A4, with the charts of
:mod:`app.insights.charts` and DejaVu fonts (shipped inside matplotlib), so every character of a
workflow's name prints."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any
from xml.sax.saxutils import escape

from app.insights.charts import BAND_COLOURS, Chart, charts
from app.insights.findings import money
from app.insights.html import pct, secs

if TYPE_CHECKING:
    from reportlab.platypus import Flowable

    from app.insights.report import InsightReport

SANS, BOLD, MONO = "FwSans", "FwSans-Bold", "FwMono"
SEVERITY_COLOURS = {"high": "#cf222e", "medium": "#9a6700", "low": "#6e7781"}
_CODE = re.compile(r"`([^`]+)`")


@lru_cache(maxsize=1)
def _fonts() -> None:
    """Register the DejaVu fonts that matplotlib ships (once per process)."""
    import matplotlib
    from reportlab.lib.fonts import addMapping
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    folder = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
    for name, file in ((SANS, "DejaVuSans.ttf"), (BOLD, "DejaVuSans-Bold.ttf"), (MONO, "DejaVuSansMono.ttf")):
        pdfmetrics.registerFont(TTFont(name, str(folder / file)))
    addMapping(SANS, 0, 0, SANS)
    addMapping(SANS, 1, 0, BOLD)
    addMapping(SANS, 0, 1, SANS)
    addMapping(SANS, 1, 1, BOLD)


def _markup(text: str) -> str:
    """``text`` for a reportlab Paragraph: escaped, `backticked` parts in the monospace font."""
    return _CODE.sub(lambda m: f'<font face="{MONO}" size="7.5">{m.group(1)}</font>', escape(text))


def to_pdf(report: InsightReport, *, workflow: str | None = None, drawn: list[Chart] | None = None,
           generated: datetime | None = None) -> bytes:
    """The report as PDF bytes (``drawn``: charts already drawn for it with PNG)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.platypus import SimpleDocTemplate

    _fonts()
    generated = generated or datetime.now(UTC)
    buffer = io.BytesIO()
    title = f"Flowwright insights — {report.workspace_id}"
    doc = SimpleDocTemplate(buffer, pagesize=A4, leftMargin=16 * mm, rightMargin=16 * mm, topMargin=15 * mm,
                            bottomMargin=16 * mm, title=title, author="Flowwright",
                            subject=f"{report.since[:16]} to {report.until[:16]} UTC", creator="Flowwright",
                            invariant=True)
    drawn = drawn if drawn is not None else charts(report, formats=("png",))
    story = _Story(report, doc.width, drawn).build(title, workflow, generated)

    def footer(canvas: Any, document: Any) -> None:
        canvas.saveState()
        canvas.setFont(SANS, 7.5)
        canvas.setFillColorRGB(0.34, 0.38, 0.42)
        canvas.drawString(document.leftMargin, 9 * mm, f"{title} · {report.since[:10]} → {report.until[:10]}")
        canvas.drawRightString(A4[0] - document.rightMargin, 9 * mm, f"page {document.page}")
        canvas.restoreState()

    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return buffer.getvalue()


class _Story:
    """The flowables of one report, in reading order."""

    def __init__(self, report: InsightReport, width: float, drawn: list[Chart]) -> None:
        from reportlab.lib.styles import ParagraphStyle

        self.r, self.width, self.charts = report, width, drawn
        ink = "#24292f"
        self.body = ParagraphStyle("body", fontName=SANS, fontSize=8.5, leading=11.5, textColor=ink)
        self.small = ParagraphStyle("small", parent=self.body, fontSize=7.5, leading=10, textColor="#57606a")
        self.h1 = ParagraphStyle("h1", parent=self.body, fontName=BOLD, fontSize=17, leading=21, spaceAfter=2)
        self.h2 = ParagraphStyle("h2", parent=self.body, fontName=BOLD, fontSize=12, leading=15, spaceBefore=10,
                                 spaceAfter=5)
        self.h3 = ParagraphStyle("h3", parent=self.body, fontName=BOLD, fontSize=9, leading=12)
        self.cell = ParagraphStyle("cell", parent=self.body, fontSize=7.5, leading=9.5)

    def build(self, title: str, workflow: str | None, generated: datetime) -> list[Flowable]:
        from reportlab.platypus import Paragraph, Spacer

        r, t = self.r, self.r.totals
        window = f"{r.since[:16].replace('T', ' ')} → {r.until[:16].replace('T', ' ')} UTC"
        story: list[Flowable] = [Paragraph(escape(title), self.h1),
                                 Paragraph(escape(window + (f" · workflow {workflow}" if workflow else "")), self.small),
                                 Spacer(1, 8), self._tiles(t)]
        story += self._charts(("executions", "health"))
        story.append(Paragraph("What to fix", self.h2))
        if not r.findings:
            story.append(Paragraph("Nothing stands out in this window.", self.body))
        story += [self._finding(f) for f in r.findings]
        story += [Paragraph("Workflows", self.h2), self._workflows(),
                  Spacer(1, 3), Paragraph("Health = reliability 30% + efficiency 25% + cost 20% + security 25% "
                                          "(90+ excellent, 70+ good, 50+ needs improvement, below 50 critical).",
                                          self.small)]
        story += self._charts(("durations", "failing_nodes", "cost"))
        story += self._model()
        story += [Spacer(1, 10), Paragraph(
            escape(f"Generated by Flowwright at {generated:%Y-%m-%d %H:%M} UTC from {t['runs']} runs."), self.small)]
        return story

    def _tiles(self, t: dict[str, Any]) -> Flowable:
        from reportlab.platypus import Paragraph, Table, TableStyle

        tiles = [(str(t["runs"]), f"runs of {t['workflows']} workflow(s)"),
                 (pct(t["failure_rate"]), f"{t['failed']} failed"),
                 (str(t["completed_with_errors"]), "completed with errors"),
                 ("—" if t.get("health_score") is None else f"{t['health_score']}", "mean health score"),
                 (f"{t['model_tokens']:,}", "model tokens"), (money(t["model_cost_usd"]), "model spend"),
                 (money(t["modelled_cost_per_month_usd"]), "modelled cost per month"),
                 (str(t["findings"]), f"findings, {t['proposals']} with a proposed fix")]
        cells = [Paragraph(f'<font name="{BOLD}" size="13">{escape(big)}</font><br/>'
                           f'<font size="7" color="#57606a">{escape(small)}</font>', self.body)
                 for big, small in tiles]
        table = Table([cells[:4], cells[4:]], colWidths=[self.width / 4] * 4)
        table.setStyle(TableStyle([("BOX", (0, 0), (-1, -1), 0.5, "#d0d7de"),
                                   ("INNERGRID", (0, 0), (-1, -1), 0.5, "#d0d7de"),
                                   ("BACKGROUND", (0, 0), (-1, -1), "#f6f8fa"),
                                   ("TOPPADDING", (0, 0), (-1, -1), 5), ("BOTTOMPADDING", (0, 0), (-1, -1), 6)]))
        return table

    def _charts(self, names: tuple[str, ...]) -> list[Flowable]:
        from reportlab.platypus import Image, KeepTogether, Paragraph, Spacer

        out: list[Flowable] = []
        for c in (c for c in self.charts if c.name in names and c.png):
            height = self.width * c.height_in / c.width_in
            out.append(KeepTogether([Spacer(1, 8), Paragraph(escape(c.title), self.h3),
                                     Image(io.BytesIO(c.png), width=self.width, height=height)]))
        return out

    def _finding(self, f: Any) -> Flowable:
        from reportlab.platypus import Paragraph, Table, TableStyle

        colour = SEVERITY_COLOURS[f.severity]
        node = f' <font name="{MONO}" size="7.5">{escape(f.node_id)}</font>' if f.node_id else ""
        parts = [Paragraph(f'<font color="{colour}">{f.severity.upper()}</font>  {escape(f.title)}{node}', self.h3),
                 Paragraph(_markup(f.detail), self.body),
                 Paragraph(f"<b>Fix:</b> {_markup(f.fix)}", self.body)]
        if f.impact:
            parts.append(Paragraph(f"<b>Impact:</b> {_markup(f.impact)}", self.body))
        if f.estimated_savings:
            parts.append(Paragraph(f"<b>Saves:</b> {escape(f.estimated_savings)}", self.body))
        if f.proposal:
            parts.append(Paragraph(f"<b>Proposed version:</b> {escape(f.proposal.summary)} — "
                                   f"{_markup(f'`flowwright insights --accept {f.proposal.id}`')}", self.body))
        meta = f"{f.type} · effort {f.implementation_effort}"
        if f.execution_ids:
            meta += " · runs " + ", ".join(f.execution_ids[:3])
        if f.started_at:
            meta += f" · since {f.started_at[:16]}"
        parts.append(Paragraph(escape(meta), self.small))
        box = Table([[parts]], colWidths=[self.width])
        box.setStyle(TableStyle([("LINEBEFORE", (0, 0), (0, -1), 3, colour),
                                 ("BOX", (0, 0), (-1, -1), 0.4, "#d0d7de"),
                                 ("LEFTPADDING", (0, 0), (-1, -1), 8), ("TOPPADDING", (0, 0), (-1, -1), 4),
                                 ("BOTTOMPADDING", (0, 0), (-1, -1), 5)]))
        box.keepWithNext = False
        return _spaced(box)

    def _workflows(self) -> Flowable:
        from reportlab.platypus import Paragraph, Table, TableStyle

        head = ["workflow", "health", "runs", "failed", "with errors", "p50", "p95", "p99", "slowest node", "$ / mo"]
        rows: list[list[Any]] = [[Paragraph(f"<b>{h}</b>", self.cell) for h in head]]
        style = [("LINEBELOW", (0, 0), (-1, -1), 0.4, "#d0d7de"), ("BACKGROUND", (0, 0), (-1, 0), "#f6f8fa"),
                 ("VALIGN", (0, 0), (-1, -1), "TOP"), ("ALIGN", (2, 1), (7, -1), "RIGHT"),
                 ("ALIGN", (9, 1), (9, -1), "RIGHT"), ("FONT", (0, 1), (-1, -1), SANS, 7.5),
                 ("LEFTPADDING", (0, 0), (-1, -1), 3), ("RIGHTPADDING", (0, 0), (-1, -1), 3)]
        for w in self.r.workflows:
            h = w.get("health") or {}
            health = ""
            if h:
                health = (f'<font color="{BAND_COLOURS[h["band"]]}"><b>{h["score"]:.0f}</b></font> '
                          f'{escape(h["band"])}')
            rows.append([Paragraph(escape(w["name"]), self.cell), Paragraph(health, self.cell), w["runs"],
                         w["failed"], w["completed_with_errors"], secs(w["p50_ms"]), secs(w["p95_ms"]),
                         secs(w["p99_ms"]), Paragraph(_markup(f"`{w['slowest_node']}`") if w["slowest_node"] else "",
                                                      self.cell),
                         f"{(w.get('cost') or {}).get('per_month', 0):.2f}"])
        widths = [0.18, 0.15, 0.06, 0.06, 0.07, 0.08, 0.08, 0.08, 0.16, 0.08]
        table = Table(rows, colWidths=[self.width * x for x in widths], repeatRows=1)
        table.setStyle(TableStyle(style))
        return table

    def _model(self) -> list[Flowable]:
        from reportlab.platypus import Paragraph, Table, TableStyle

        m = self.r.model
        out: list[Flowable] = [Paragraph("Model usage", self.h2), Paragraph(escape(
            f"{m['calls']} calls, {m['attempts']} provider attempts, {m['cache_hits']} cache hits "
            f"({pct(m['cache_hit_rate'])}), {m['parse_errors']} parse errors, {m['tokens']:,} tokens "
            f"({m['saved_tokens']:,} saved by the cache), {money(m['cost_usd'])}."), self.body)]
        if m["tokens_by_purpose"]:
            rows: list[list[Any]] = [["purpose", "tokens", "USD"]]
            rows += [[p, f"{n:,}", money(m["cost_by_purpose"].get(p, 0))]
                     for p, n in sorted(m["tokens_by_purpose"].items())]
            table = Table(rows, colWidths=[self.width * 0.4, self.width * 0.2, self.width * 0.2], hAlign="LEFT")
            table.setStyle(TableStyle([("FONT", (0, 0), (-1, -1), SANS, 7.5), ("FONT", (0, 0), (-1, 0), BOLD, 7.5),
                                       ("LINEBELOW", (0, 0), (-1, -1), 0.4, "#d0d7de"),
                                       ("ALIGN", (1, 0), (-1, -1), "RIGHT")]))
            out.append(_spaced(table))
        return out


def _spaced(flowable: Flowable) -> Flowable:
    from reportlab.platypus import KeepTogether, Spacer

    return KeepTogether([Spacer(1, 5), flowable])


__all__ = ["to_pdf"]
