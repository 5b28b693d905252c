// The campaign page draws its charts and refreshes itself: every few seconds it reads
// /api/campaigns/<id> and rewrites the figures, the tables and the two SVG charts.
// Everything is built with createElement/createElementNS and set as text only (textContent):
// status names and labels never become markup.
"use strict";

(function () {
  const root = document.getElementById("campaign-figures");
  if (!root) return;

  const SVG = "http://www.w3.org/2000/svg";
  const COLOURS = {
    planned: "#9aa5b1", skipped: "#bdbdbd", dialing: "#f0b400", answered: "#2e7d32", busy: "#ef6c00",
    no_answer: "#8d6e63", congestion: "#6a1b9a", failed: "#c62828", invalid_number: "#455a64",
    customer_hung_up: "#d81b60", machine: "#1565c0",
  };
  const words = (text) => String(text).replace(/_/g, " ");
  const colour = (status) => COLOURS[status] || "#607d8b";
  const FORMATS = {
    percent0: (value) => `${(value * 100).toFixed(0)}%`,
    percent1: (value) => `${(value * 100).toFixed(1)}%`,
  };

  function svg(name, attributes, text) {
    const node = document.createElementNS(SVG, name);
    Object.entries(attributes).forEach(([key, value]) => node.setAttribute(key, String(value)));
    if (text !== undefined) node.textContent = String(text);
    return node;
  }

  function sized(chart, width, height) {
    chart.setAttribute("width", width);
    chart.setAttribute("height", height);
    chart.setAttribute("viewBox", `0 0 ${width} ${height}`);
  }

  function tableRows(tableId, entries, key, empty) {
    const body = document.querySelector(`#${tableId} tbody`);
    if (entries.length === 0) {
      const tr = document.createElement("tr");
      const td = document.createElement("td");
      td.colSpan = 2;
      td.textContent = empty;
      tr.appendChild(td);
      body.replaceChildren(tr);
      return;
    }
    body.replaceChildren(...entries.map(([name, count]) => {
      const tr = document.createElement("tr");
      tr.dataset[key] = name;
      [words(name), count].forEach((text) => {
        const td = document.createElement("td");
        td.textContent = String(text);
        tr.appendChild(td);
      });
      return tr;
    }));
  }

  // Attempts by status: one horizontal bar each, longest = the largest count.
  function drawOutcomes(entries) {
    const chart = document.getElementById("outcomes-chart");
    const rowHeight = 24, labelWidth = 150, barSpace = 420, width = 640;
    const height = Math.max(1, entries.length) * rowHeight + 6;
    sized(chart, width, height);
    const largest = Math.max(1, ...entries.map(([, count]) => count));
    const nodes = entries.map(([status, count], index) => {
      const y = index * rowHeight + 3;
      const group = svg("g", { "data-status": status });
      const length = (count / largest) * barSpace;
      group.appendChild(svg("text", { x: labelWidth - 6, y: y + 15, "text-anchor": "end", "font-size": 12 },
        words(status)));
      const bar = svg("rect", { x: labelWidth, y, height: rowHeight - 6, width: Math.max(1, length),
        fill: colour(status), "data-status": status, "data-count": count });
      bar.appendChild(svg("title", {}, `${words(status)}: ${count}`));
      group.appendChild(bar);
      group.appendChild(svg("text", { x: labelWidth + length + 6, y: y + 15, "font-size": 12,
        class: "count" }, count));
      return group;
    });
    if (nodes.length === 0) nodes.push(svg("text", { x: 4, y: 18, "font-size": 12 }, "No attempts yet."));
    chart.replaceChildren(...nodes);
  }

  // Calls per hour: one column per hour, stacked by result, the same colours as the outcomes.
  function drawTimeline(timeline) {
    const chart = document.getElementById("timeline-chart");
    const width = 720, height = 240, left = 36, bottom = 24, top = 8;
    sized(chart, width, height);
    const slots = timeline.slots;
    const plotHeight = height - bottom - top;
    const step = (width - left - 4) / Math.max(1, slots.length);
    const largest = Math.max(1, ...slots.map((slot) => slot.total));
    const nodes = [
      svg("line", { x1: left, y1: top + plotHeight, x2: width - 4, y2: top + plotHeight, stroke: "#555" }),
      svg("text", { x: left - 4, y: top + 10, "text-anchor": "end", "font-size": 11, class: "y-max" }, largest),
      svg("text", { x: left - 4, y: top + plotHeight, "text-anchor": "end", "font-size": 11 }, 0),
    ];
    const labelEvery = Math.max(1, Math.ceil(slots.length / 8));
    slots.forEach((slot, index) => {
      const x = left + index * step + 1;
      const column = svg("g", { "data-hour": slot.hour, "data-total": slot.total });
      let y = top + plotHeight;
      timeline.statuses.forEach((status) => {
        const count = slot.by_status[status] || 0;
        if (count === 0) return;
        const barHeight = (count / largest) * plotHeight;
        y -= barHeight;
        const bar = svg("rect", { x, y, width: Math.max(1, step - 2), height: barHeight, fill: colour(status),
          "data-status": status, "data-count": count });
        bar.appendChild(svg("title", {}, `${slot.label}: ${words(status)} ${count}`));
        column.appendChild(bar);
      });
      if (index % labelEvery === 0) {
        column.appendChild(svg("text", { x: x + step / 2, y: height - 8, "text-anchor": "middle", "font-size": 10 },
          slot.label.slice(6)));
      }
      nodes.push(column);
    });
    chart.replaceChildren(...nodes);
    const legend = document.getElementById("timeline-legend");
    legend.replaceChildren(...timeline.statuses.map((status) => {
      const item = document.createElement("li");
      const swatch = svg("svg", { width: 12, height: 12 });
      swatch.appendChild(svg("rect", { width: 12, height: 12, fill: colour(status) }));
      item.append(swatch, ` ${words(status)}`);
      return item;
    }));
  }

  function show(detail) {
    const figures = detail.figures;
    const state = document.getElementById("campaign-state");
    state.textContent = detail.campaign.state;
    state.dataset.state = detail.campaign.state;
    root.querySelectorAll("[data-field]").forEach((cell) => {
      const value = figures[cell.dataset.field];
      const format = FORMATS[cell.dataset.format];
      cell.textContent = format ? format(value) : String(value);
    });
    const order = ["planned", "skipped", ...detail.timeline.statuses];
    const byStatus = Object.entries(figures.by_status)
      .sort(([a], [b]) => order.indexOf(a) - order.indexOf(b));
    tableRows("by-status", byStatus, "status", "No attempts yet.");
    tableRows("skipped", Object.entries(figures.skipped_by_reason).sort(), "reason", "None skipped.");
    drawOutcomes(byStatus);
    drawTimeline(detail.timeline);
    root.dataset.drawn = String(Date.now());
  }

  async function refresh() {
    const note = document.getElementById("figures-state");
    try {
      const response = await fetch(root.dataset.source, { headers: { Accept: "application/json" } });
      if (response.ok) {
        show(await response.json());
        note.textContent = "";
      } else if (response.status === 401) {
        window.location.reload();
      } else {
        note.textContent = ` (last refresh failed: ${response.status})`;
      }
    } catch (error) {
      note.textContent = " (cannot reach the console; retrying)";
    }
  }

  refresh();
  setInterval(refresh, Number(root.dataset.refresh || 5) * 1000);
})();
