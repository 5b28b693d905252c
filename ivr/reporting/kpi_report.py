"""The KPI report of a period, grouped by agent, queue or day, as HTML (with charts), CSV or XLSX.

Every number comes from ``ivr.domain.kpis``; this module only lays them out.
The centre's row is the same definitions over every group's counts summed
(counts add up; rates do not), and sits beside each group in the charts.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Literal

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape

from ivr.domain import kpis
from ivr.domain.kpis import Grouping, Period, QueueKpis

Format = Literal["html", "csv", "xlsx"]
FORMATS: tuple[Format, ...] = ("html", "csv", "xlsx")
CENTRE = "centre"


@dataclass(frozen=True)
class Column:
    header: str
    value: Callable[[QueueKpis], float | int | None]
    kind: Literal["count", "rate", "seconds"]


COLUMNS = (
    Column("offered", lambda k: k.offered, "count"),
    Column("answered", lambda k: k.answered, "count"),
    Column("abandoned", lambda k: k.abandoned, "count"),
    Column("short abandons", lambda k: k.short_abandons, "count"),
    Column("abandon rate", lambda k: k.abandon_rate, "rate"),
    Column("service level", lambda k: k.service_level, "rate"),
    Column("ASA s", lambda k: k.average_speed_of_answer, "seconds"),
    Column("AHT s", lambda k: k.average_handle_time, "seconds"),
    Column("FCR", lambda k: k.first_call_resolution, "rate"),
    Column("complaint rate", lambda k: k.complaint_rate, "rate"),
)
CHARTS = ("service level", "abandon rate", "AHT s", "FCR")


@dataclass(frozen=True)
class KpiReport:
    period: Period
    by: Grouping
    rows: list[QueueKpis]
    centre: QueueKpis
    agents: list[kpis.AgentTime]
    containment: list[kpis.Containment]
    made_at: datetime


def build(period: Period, by: Grouping) -> KpiReport:
    rows = kpis.queue_kpis(period, by)
    return KpiReport(period, by, rows, summed(rows), kpis.agent_time(period) if by == "agent" else [],
                     kpis.ivr_containment(period) if by == "day" else [], datetime.now(timezone.utc))


def summed(rows: list[QueueKpis]) -> QueueKpis:
    """The centre: every group's counts and sums added up."""
    fields = [f.name for f in dataclasses.fields(QueueKpis) if f.name != "key"]
    return QueueKpis(CENTRE, **{name: sum(getattr(row, name) for row in rows) for name in fields})


def shown(value: float | int | None, kind: str) -> str:
    if value is None:
        return "-"
    if kind == "rate":
        return f"{value * 100:.1f}%"
    if kind == "seconds":
        return f"{value:.0f}"
    return str(value)


def report_path(folder: Path, by: str, period: Period, fmt: str) -> Path:
    return folder / f"kpi-{by}-{period.first}-{period.last}.{fmt}"


def write(report: KpiReport, fmt: Format, folder: Path) -> Path:
    """The report as a file in ``folder``, named after what it holds."""
    folder.mkdir(parents=True, exist_ok=True)
    path = report_path(folder, report.by, report.period, fmt)
    content = as_csv(report).encode() if fmt == "csv" else as_xlsx(report) if fmt == "xlsx" \
        else as_html(report).encode()
    partial = path.with_name(path.name + ".part")
    partial.write_bytes(content)
    partial.replace(path)  # a reader never sees half a report
    return path


def as_csv(report: KpiReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([report.by, *(column.header for column in COLUMNS)])
    for row in [*report.rows, report.centre]:
        writer.writerow([row.key, *(_raw(column.value(row)) for column in COLUMNS)])
    return out.getvalue()


def as_xlsx(report: KpiReport) -> bytes:
    from openpyxl import Workbook  # only reports need it

    book = Workbook()
    sheet = book.active
    sheet.title = f"by {report.by}"
    sheet.append([report.by, *(column.header for column in COLUMNS)])
    for row in [*report.rows, report.centre]:
        sheet.append([row.key, *(column.value(row) for column in COLUMNS)])
    for index, column in enumerate(COLUMNS, start=2):
        if column.kind == "rate":
            for cell in next(sheet.iter_cols(min_col=index, max_col=index, min_row=2)):
                cell.number_format = "0.0%"
    if report.agents:
        times = book.create_sheet("agent time")
        times.append(["agent", "online s", "paused s", "talk s", "occupancy"])
        for agent in report.agents:
            times.append([agent.key, agent.online_seconds, agent.paused_seconds, agent.talk_seconds, agent.occupancy])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def as_html(report: KpiReport) -> str:
    return _templates().get_template("kpi_report.html").render(
        report=report, columns=COLUMNS, shown=shown, charts=charts(report))


def charts(report: KpiReport) -> list[Markup]:
    """One horizontal bar chart (inline SVG) per headline figure: a bar per group, the centre marked."""
    return [_svg(report, header) for header in CHARTS]


BAR_HEIGHT, LABEL_WIDTH, BAR_WIDTH = 22, 110, 200


def _svg(report: KpiReport, header: str) -> Markup:
    column = next(c for c in COLUMNS if c.header == header)
    values = [(row.key, column.value(row)) for row in report.rows]
    centre = column.value(report.centre)
    top = max([v for _, v in values if v is not None] + [centre or 0, 1.0 if column.kind == "rate" else 1e-9])
    height = BAR_HEIGHT * len(values) + 10
    parts = [f'<figure class="chart" data-chart="{escape(header)}"><figcaption>{escape(header)} by '
             f'{escape(report.by)}{" · line: centre " + escape(shown(centre, column.kind)) if centre is not None else ""}'
             f'</figcaption><svg width="{LABEL_WIDTH + BAR_WIDTH + 60}" height="{height}" role="img" '
             f'aria-label="{escape(header)} by {escape(report.by)}">']
    for index, (key, value) in enumerate(values):
        y, width = BAR_HEIGHT * index, BAR_WIDTH * (value or 0) / top
        parts.append(f'<text x="0" y="{y + 16}">{escape(key)}</text>'
                     f'<rect class="bar" x="{LABEL_WIDTH}" y="{y + 4}" width="{width:.1f}" height="16" fill="#3b7dd8">'
                     f'</rect><text x="{LABEL_WIDTH + width + 4:.1f}" y="{y + 16}">{escape(shown(value, column.kind))}'
                     '</text>')
    if centre is not None:
        x = LABEL_WIDTH + BAR_WIDTH * centre / top
        parts.append(f'<line class="centre-line" x1="{x:.1f}" x2="{x:.1f}" y1="0" y2="{height}" stroke="#d83b3b" '
                     'stroke-width="2"></line>')
    parts.append("</svg></figure>")
    return Markup("".join(parts))


def _raw(value: float | int | None) -> str:
    if value is None:
        return ""
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _templates() -> Environment:
    return Environment(loader=PackageLoader("ivr.reporting", "templates"), autoescape=select_autoescape(["html"]))
