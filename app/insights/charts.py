"""The report's charts, drawn with matplotlib (no pyplot, no display, no global state): executions
over time, duration percentiles, cost, top failing nodes and health scores. Each chart comes as
SVG (for the HTML report, text as paths so it looks the same everywhere) and PNG (for the PDF).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from app.insights.report import InsightReport

# the bands' colours, as the HTML report's badges use them
BAND_COLOURS = {"excellent": "#1a7f37", "good": "#4c9a2a", "needs improvement": "#d4a72c", "critical": "#cf222e"}
STATUS_COLOURS = {"completed": "#2da44e", "with errors": "#d4a72c", "failed": "#cf222e", "other": "#8c959f"}
INK, GRID = "#24292f", "#d0d7de"
WIDTH_IN = 7.2  # fits an A4 page's text width at 200 dpi and a 760 px HTML column


@dataclass(frozen=True)
class Chart:
    """One chart: ``name`` (a stable id), ``title``, and the picture as SVG text and PNG bytes
    (each drawn only when asked for: ``""`` / ``b""`` otherwise)."""

    name: str
    title: str
    svg: str
    png: bytes
    height_in: float
    width_in: float = 7.2


def charts(report: InsightReport, *, formats: tuple[str, ...] = ("svg", "png"), dpi: int = 200) -> list[Chart]:
    """The report's charts, in reading order, in ``formats`` (``svg``, ``png``); a chart with
    nothing to show is left out."""
    import matplotlib

    matplotlib.use("Agg", force=False)  # no display; harmless when a backend is already chosen
    from matplotlib import rc_context

    style: dict[Any, Any] = {"font.family": "DejaVu Sans", "font.size": 8.5, "axes.edgecolor": GRID, "axes.labelcolor": INK,
             "xtick.color": INK, "ytick.color": INK, "axes.spines.top": False, "axes.spines.right": False,
             "svg.fonttype": "path", "svg.hashsalt": "flowwright", "axes.titlesize": 9.5}
    out: list[Chart] = []
    with rc_context(style):
        for name, title, draw in _CHARTS:
            drawn = draw(report)
            if drawn is not None:
                figure, height = drawn
                out.append(Chart(name, title, _svg(figure) if "svg" in formats else "",
                                 _png(figure, dpi) if "png" in formats else b"", height, WIDTH_IN))
    return out


def _figure(height_in: float) -> Figure:
    from matplotlib.figure import Figure

    return Figure(figsize=(WIDTH_IN, height_in), layout="constrained")


def _svg(figure: Figure) -> str:
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None})
    text = buffer.getvalue()
    return text[text.index("<svg"):]  # inline in HTML: no XML declaration or DOCTYPE


def _png(figure: Figure, dpi: int) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    return buffer.getvalue()


def _grid(ax: Axes, axis: Literal["x", "y"] = "y") -> None:
    ax.grid(True, axis=axis, color=GRID, linewidth=0.6)
    ax.set_axisbelow(True)


def _executions(report: InsightReport) -> tuple[Figure, float] | None:
    buckets = (report.timeline or {}).get("buckets") or []
    if not any(b["runs"] for b in buckets):
        return None
    hourly = report.timeline.get("grain") == "hour"
    labels = [datetime.fromisoformat(b["start"]).strftime("%H:%M" if hourly else "%a %d %b") for b in buckets]
    series: dict[str, list[int]] = {k: [] for k in STATUS_COLOURS}
    for b in buckets:
        st = b["statuses"]
        failed = st.get("failed", 0) + st.get("timed_out", 0)
        series["with errors"].append(b["with_errors"])
        series["completed"].append(st.get("completed", 0) - b["with_errors"])
        series["failed"].append(failed)
        series["other"].append(b["runs"] - st.get("completed", 0) - failed)
    fig = _figure(2.6)
    ax = fig.add_subplot()
    x = list(range(len(buckets)))
    bottom = [0] * len(buckets)
    for name, values in series.items():
        if any(values):
            ax.bar(x, values, bottom=bottom, color=STATUS_COLOURS[name], width=0.8, label=name)
            bottom = [a + b for a, b in zip(bottom, values, strict=True)]
    step = max(1, len(x) // 12)
    ax.set_xticks(x[::step], labels[::step], rotation=0 if len(x[::step]) <= 8 else 45,
                  ha="center" if len(x[::step]) <= 8 else "right")
    ax.set_ylabel("runs per hour" if hourly else "runs per day")
    _grid(ax)
    ax.legend(loc="upper left", frameon=False, ncols=4, fontsize=7.5, bbox_to_anchor=(0, 1.12))
    return fig, 2.6


def _percentiles(report: InsightReport) -> tuple[Figure, float] | None:
    rows = [w for w in report.workflows if w.get("p50_ms") is not None][:12]
    if not rows:
        return None
    height = 0.9 + 0.42 * len(rows)
    fig = _figure(height)
    ax = fig.add_subplot()
    names = [_short(w["name"], 28) for w in rows]
    y = list(range(len(rows)))
    for offset, (key, label, colour) in zip((-0.27, 0, 0.27), (("p50_ms", "p50", "#54aeff"),
                                                                ("p95_ms", "p95", "#0969da"),
                                                                ("p99_ms", "p99", "#0a3069")), strict=True):
        values = [(w[key] or 0) / 1000 for w in rows]
        ax.barh([v + offset for v in y], values, height=0.26, color=colour, label=label)
    ax.set_yticks(y, names)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("run duration, seconds (log scale)")
    _grid(ax, "x")
    ax.legend(loc="lower left", frameon=False, ncols=3, fontsize=7.5, bbox_to_anchor=(0, 1.0))
    return fig, height


def _cost(report: InsightReport) -> tuple[Figure, float] | None:
    by_purpose = {k: v for k, v in (report.model.get("cost_by_purpose") or {}).items() if v}
    modelled = [(w["name"], w.get("cost", {}).get("per_month", 0.0)) for w in report.workflows]
    modelled = sorted((m for m in modelled if m[1]), key=lambda m: -m[1])[:8]
    if not by_purpose and not modelled:
        return None
    rows = max(len(by_purpose), len(modelled), 1)
    height = 1.0 + 0.32 * rows
    fig = _figure(height)
    left, right = fig.subplots(1, 2)
    _hbars(left, [_short(k, 22) for k in by_purpose], list(by_purpose.values()), "#8250df",
           "model spend by purpose, USD", "{:.4f}", slots=rows)
    _hbars(right, [_short(n, 22) for n, _ in modelled], [v for _, v in modelled], "#bf8700",
           "modelled cost per month, USD", "{:.2f}", slots=rows)
    return fig, height


def _failing(report: InsightReport) -> tuple[Figure, float] | None:
    nodes = report.failing_nodes[:8]
    if not nodes:
        return None
    height = 0.8 + 0.32 * len(nodes)
    fig = _figure(height)
    ax = fig.add_subplot()
    labels = [f"{_short(n['workflow'], 20)} · {_short(n['node_id'], 18)}" for n in nodes]
    _hbars(ax, labels, [n["failed"] for n in nodes], STATUS_COLOURS["failed"], "failed node runs", "{:.0f}",
           notes=[f"({n['failure_rate']:.0%} of its runs" + (f", mostly {n['top_error']})" if n["top_error"] else ")")
                  for n in nodes])
    return fig, height


def _health(report: InsightReport) -> tuple[Figure, float] | None:
    rows = [w for w in report.workflows if w.get("runs") and w.get("health")][:12]
    if not rows:
        return None
    height = 0.8 + 0.3 * len(rows)
    fig = _figure(height)
    ax = fig.add_subplot()
    scores = [w["health"]["score"] for w in rows]
    y = list(range(len(rows)))
    ax.barh(y, scores, color=[BAND_COLOURS[w["health"]["band"]] for w in rows], height=0.6)
    for edge in (50, 70, 90):
        ax.axvline(edge, color=GRID, linewidth=0.8, linestyle="--")
    for yi, s, w in zip(y, scores, rows, strict=True):
        ax.text(min(s, 100) + 1, yi, f"{s:.0f} {w['health']['band']}", va="center", fontsize=7.5, color=INK)
    ax.set_yticks(y, [_short(w["name"], 28) for w in rows])
    ax.invert_yaxis()
    ax.set_xlim(0, 125)
    ax.set_xticks([0, 25, 50, 70, 90, 100])
    ax.set_xlabel("health score (0–100)")
    return fig, height


def _hbars(ax: Axes, labels: list[str], values: list[float], colour: str, xlabel: str, fmt: str,
           notes: list[str] | None = None, slots: int | None = None) -> None:
    """Horizontal bars with their values written beside them; ``slots`` rows of room (so that
    bars side by side are as thick whatever their count)."""
    if not values:
        ax.set_axis_off()
        ax.text(0.5, 0.5, f"no {xlabel.split(',')[0]}", ha="center", va="center", transform=ax.transAxes,
                color="#57606a")
        return
    y = list(range(len(values)))
    ax.barh(y, values, color=colour, height=0.6)
    top = max(values)
    for i, v in enumerate(values):
        note = f"  {notes[i]}" if notes else ""
        ax.text(v + top * 0.02, i, fmt.format(v) + note, va="center", fontsize=7.5, color=INK)
    ax.set_yticks(y, labels)
    ax.set_ylim(max(slots or 0, len(values)) - 0.5, -0.5)  # top to bottom
    ax.set_xlim(0, top * (2.2 if notes else 1.35))
    ax.set_xlabel(xlabel)
    _grid(ax, "x")


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


_CHARTS: list[tuple[str, str, Any]] = [
    ("executions", "Executions over time", _executions),
    ("health", "Health score per workflow", _health),
    ("durations", "Run duration percentiles", _percentiles),
    ("failing_nodes", "Top failing nodes", _failing),
    ("cost", "Cost", _cost),
]

__all__ = ["Chart", "charts"]
