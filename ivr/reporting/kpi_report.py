"""The KPI report of a period, grouped by agent, team, queue or day, as HTML (with charts), CSV or XLSX.

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
from typing import Any, Literal

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape

from ivr.domain import kpis
from ivr.domain.kpis import Grouping, Period

Format = Literal["html", "csv", "xlsx"]
FORMATS: tuple[Format, ...] = ("html", "csv", "xlsx")
CENTRE = "centre"


@dataclass(frozen=True)
class Column:
    header: str
    value: Callable[[Any], float | int | None]
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
    Column("transfers", lambda k: k.transferred, "count"),
    Column("transfer rate", lambda k: k.transfer_rate, "rate"),
)
OUTBOUND_COLUMNS = (
    Column("outbound calls", lambda k: k.dialled, "count"),
    Column("answered", lambda k: k.answered, "count"),
    Column("contact rate", lambda k: k.contact_rate, "rate"),
    Column("agent requests", lambda k: k.agent_requests, "count"),
    Column("appointment rate", lambda k: k.appointment_rate, "rate"),
    Column("already paid", lambda k: k.already_paid, "count"),
    Column("refusal rate", lambda k: k.refusal_rate, "rate"),
    Column("abandoned rate", lambda k: k.abandoned_rate, "rate"),
)


@dataclass(frozen=True)
class Table:
    """One family of figures: a row per group and the centre's row."""

    name: str  # inbound or outbound
    columns: tuple[Column, ...]
    charted: tuple[str, ...]  # the headers charted
    rows: list[Any]
    centre: Any


@dataclass(frozen=True)
class KpiReport:
    period: Period
    by: Grouping
    tables: list[Table]
    agents: list[kpis.AgentTime]
    containment: list[kpis.Containment]
    made_at: datetime
    distributions: list[kpis.Distribution]  # of the answered calls' waits and handle times (inbound)

    def table(self, name: str) -> Table | None:
        return next((table for table in self.tables if table.name == name), None)


def build(period: Period, by: Grouping) -> KpiReport:
    tables = []
    if by in kpis.INBOUND_GROUPINGS:
        rows = kpis.queue_kpis(period, by)
        tables.append(Table("inbound", COLUMNS, ("service level", "abandon rate", "AHT s", "FCR"), rows,
                            summed(rows, kpis.QueueKpis)))
    if by in kpis.OUTBOUND_GROUPINGS:
        rows = kpis.outbound_kpis(period, by)
        tables.append(Table("outbound", OUTBOUND_COLUMNS, ("contact rate", "appointment rate", "refusal rate",
                                                           "abandoned rate"), rows, summed(rows, kpis.OutboundKpis)))
    spreads = [kpis.wait_distribution(period), kpis.handle_time_distribution(period)] \
        if by in kpis.INBOUND_GROUPINGS else []
    return KpiReport(period, by, tables, kpis.agent_time(period) if by == "agent" else [],
                     kpis.ivr_containment(period) if by == "day" else [], datetime.now(timezone.utc), spreads)


def summed(rows: list[Any], kind: type) -> Any:
    """The centre: every group's counts and sums added up (counts add up; rates do not)."""
    fields = [f.name for f in dataclasses.fields(kind) if f.name != "key"]
    return kind(CENTRE, **{name: sum(getattr(row, name) for row in rows) for name in fields})


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
    """Each table under a line naming it, ratios raw (0.3333), a blank line between tables."""
    out = io.StringIO()
    writer = csv.writer(out)
    for number, table in enumerate(report.tables):
        if number:
            writer.writerow([])
        writer.writerow([f"{table.name} by {report.by}"])
        writer.writerow([report.by, *(column.header for column in table.columns)])
        for row in [*table.rows, table.centre]:
            writer.writerow([row.key, *(_raw(column.value(row)) for column in table.columns)])
    for spread in report.distributions:
        writer.writerow([])
        writer.writerow([f"{spread.name} distribution"])
        writer.writerow(["seconds", "answered calls"])
        writer.writerows(zip(spread.labels, spread.counts))
    return out.getvalue()


def as_xlsx(report: KpiReport) -> bytes:
    from openpyxl import Workbook  # only reports need it

    book = Workbook()
    book.remove(book.active)
    for table in report.tables:
        sheet = book.create_sheet(f"{table.name} by {report.by}")
        sheet.append([report.by, *(column.header for column in table.columns)])
        for row in [*table.rows, table.centre]:
            sheet.append([row.key, *(column.value(row) for column in table.columns)])
        for index, column in enumerate(table.columns, start=2):
            if column.kind == "rate":
                for cell in next(sheet.iter_cols(min_col=index, max_col=index, min_row=2)):
                    cell.number_format = "0.0%"
    if report.agents:
        times = book.create_sheet("agent time")
        times.append(["agent", "online s", "paused s", "talk s", "occupancy", "script adherence", "scored calls"])
        for agent in report.agents:
            times.append([agent.key, agent.online_seconds, agent.paused_seconds, agent.talk_seconds, agent.occupancy,
                          agent.script_adherence, agent.scored_calls])
    for spread in report.distributions:
        sheet = book.create_sheet(f"{spread.name} distribution")
        sheet.append(["seconds", "answered calls"])
        for row in zip(spread.labels, spread.counts):
            sheet.append(list(row))
    if report.containment:
        days = book.create_sheet("ivr containment")
        days.append(["day", "ivr calls", "self-served", "containment"])
        for day in report.containment:
            days.append([day.key, day.calls, day.self_served, day.rate])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def as_html(report: KpiReport) -> str:
    return _templates().get_template("kpi_report.html").render(report=report, charts=charts(report),
                                                                tables=tables_html(report))


def charts(report: KpiReport) -> list[Markup]:
    """One horizontal bar chart (inline SVG) per headline figure, a bar per group with the centre marked
    (by day, week or month: the trend); then a histogram per distribution."""
    return [*(_svg(report.by, table, header) for table in report.tables for header in table.charted),
            *(_histogram(spread) for spread in report.distributions)]


def tables_html(report: KpiReport) -> Markup:
    """The report's tables as HTML (escaped), the same in the file and in the console."""
    parts = []
    for table in report.tables:
        head = "".join(f"<th>{escape(c.header)}</th>" for c in table.columns)
        body = "".join(_row_html(row, table.columns) for row in table.rows)
        parts.append(f'<h2>{escape(table.name.capitalize())} by {escape(report.by)}</h2><table id="{table.name}">'
                     f"<thead><tr><th>{escape(report.by)}</th>{head}</tr></thead><tbody>{body}"
                     f'{_row_html(table.centre, table.columns, "centre")}</tbody></table>')
    inbound = report.table("inbound")
    if report.by == "agent" and inbound is not None:
        parts.append(_scorecards(inbound))
    if report.agents:
        rows = "".join(f"<tr><td>{escape(a.key)}</td><td>{a.online_seconds / 3600:.2f}</td>"
                       f"<td>{a.paused_seconds / 3600:.2f}</td><td>{a.talk_seconds / 3600:.2f}</td>"
                       f"<td>{shown(a.occupancy, 'rate')}</td><td>{shown(a.script_adherence, 'rate')}</td>"
                       f"<td>{a.scored_calls}</td></tr>" for a in report.agents)
        parts.append('<h2>Agent time</h2><table id="agent-time"><thead><tr><th>agent</th><th>online h</th>'
                     "<th>paused h</th><th>talk h</th><th>occupancy</th><th>script adherence</th>"
                     f"<th>scored calls</th></tr></thead><tbody>{rows}</tbody></table>")
    if report.containment:
        rows = "".join(f"<tr><td>{escape(d.key)}</td><td>{d.calls}</td><td>{d.self_served}</td>"
                       f"<td>{shown(d.rate, 'rate')}</td></tr>" for d in report.containment)
        parts.append('<h2>IVR containment</h2><table id="containment"><thead><tr><th>day</th><th>IVR calls</th>'
                     f"<th>self-served</th><th>containment</th></tr></thead><tbody>{rows}</tbody></table>")
    return Markup("\n".join(parts))


def _scorecards(table: Table) -> str:
    """One card per agent: each figure with the centre's beside it."""
    cards = []
    for row in table.rows:
        if row.key == kpis.NO_AGENT:
            continue
        lines = "".join(f"<tr><th>{escape(c.header)}</th><td>{escape(shown(c.value(row), c.kind))}</td>"
                        f"<td>{escape(shown(c.value(table.centre), c.kind))}</td></tr>" for c in table.columns)
        cards.append(f'<table class="scorecard" data-agent="{escape(row.key)}"><caption>{escape(row.key)}</caption>'
                     f"<thead><tr><th></th><th>agent</th><th>centre</th></tr></thead><tbody>{lines}</tbody></table>")
    return '<h2>Agent scorecards</h2><section class="scorecards">' + "".join(cards) + "</section>"


def _row_html(row: Any, columns: tuple[Column, ...], css: str = "") -> str:
    cells = "".join(f"<td>{escape(shown(c.value(row), c.kind))}</td>" for c in columns)
    return f'<tr{f" class={chr(34)}{css}{chr(34)}" if css else ""}><td>{escape(row.key)}</td>{cells}</tr>'


BAR_HEIGHT, LABEL_WIDTH, BAR_WIDTH = 22, 110, 200


def _svg(by: str, table: Table, header: str) -> Markup:
    column = next(c for c in table.columns if c.header == header)
    values = [(row.key, column.value(row)) for row in table.rows]
    centre = column.value(table.centre)
    top = max([v for _, v in values if v is not None] + [centre or 0, 1.0 if column.kind == "rate" else 1e-9])
    height = BAR_HEIGHT * len(values) + 10
    parts = [f'<figure class="chart" data-chart="{escape(header)}"><figcaption>{escape(header)} by '
             f'{escape(by)}{" · line: centre " + escape(shown(centre, column.kind)) if centre is not None else ""}'
             f'</figcaption><svg width="{LABEL_WIDTH + BAR_WIDTH + 60}" height="{height}" role="img" '
             f'aria-label="{escape(header)} by {escape(by)}">']
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


COLUMN_WIDTH, HISTOGRAM_HEIGHT = 44, 150


def _histogram(spread: kpis.Distribution) -> Markup:
    """Vertical bars, one per bucket, each with its count above and its bucket below."""
    top = max(spread.counts + (1,))
    width = COLUMN_WIDTH * len(spread.counts)
    parts = [f'<figure class="chart histogram" data-chart="{escape(spread.name)} distribution"><figcaption>'
             f'{escape(spread.name.capitalize())} of answered calls ({sum(spread.counts)})</figcaption>'
             f'<svg width="{width}" height="{HISTOGRAM_HEIGHT + 40}" role="img" '
             f'aria-label="{escape(spread.name)} distribution">']
    for index, (label, count) in enumerate(zip(spread.labels, spread.counts)):
        x, height = COLUMN_WIDTH * index, HISTOGRAM_HEIGHT * count / top
        y = 14 + HISTOGRAM_HEIGHT - height
        parts.append(f'<rect class="bucket" x="{x + 4}" y="{y:.1f}" width="{COLUMN_WIDTH - 8}" height="{height:.1f}" '
                     f'fill="#3b7dd8" data-bucket="{escape(label)}" data-count="{count}"></rect>'
                     f'<text x="{x + 4}" y="{y - 2:.1f}">{count}</text>'
                     f'<text x="{x + 2}" y="{HISTOGRAM_HEIGHT + 30}" font-size="9">{escape(label)}</text>')
    parts.append("</svg></figure>")
    return Markup("".join(parts))


def _raw(value: float | int | None) -> str:
    if value is None:
        return ""
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _templates() -> Environment:
    return Environment(loader=PackageLoader("ivr.reporting", "templates"), autoescape=select_autoescape(["html"]))
