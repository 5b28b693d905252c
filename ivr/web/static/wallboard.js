// The wallboard refreshes itself: every 2 s it reads /api/wallboard and rewrites the tables.
// Values are set as text only (textContent).
"use strict";

(function () {
  const state = document.getElementById("board-state");
  if (!state) return;

  const percent = (value) => (value === null ? "–" : `${Math.round(value * 100)}%`);
  const words = (text) => (text || "").replace(/_/g, " ");
  const clock = (iso) => (iso ? iso.slice(11, 16) : "");

  function rows(tableId, items, key, cells) {
    const body = document.querySelector(`#${tableId} tbody`);
    body.replaceChildren(...items.map((entry) => {
      const tr = document.createElement("tr");
      tr.dataset[key] = entry[key === "queue" ? "queue" : "username"];
      cells(entry).forEach(([text, className, meterValue]) => {
        const td = document.createElement("td");
        if (meterValue !== undefined) td.appendChild(meter(meterValue));
        td.append(String(text));
        if (className) td.className = className;
        tr.appendChild(td);
      });
      return tr;
    }));
  }

  // Service level as a bar: red under 60 %, amber under 80 %, green above (the browser's <meter>).
  function meter(value) {
    const bar = document.createElement("meter");
    Object.assign(bar, { min: 0, max: 1, low: 0.6, high: 0.8, optimum: 1, value: value === null ? 0 : value });
    return bar;
  }

  function show(board) {
    document.querySelector('[data-field="at"]').textContent = board.at.slice(11, 19);
    document.querySelector('[data-field="answered"]').textContent = board.answered;
    document.querySelector('[data-field="abandoned"]').textContent = board.abandoned;
    document.querySelector('[data-field="service_level"]').textContent = percent(board.service_level);
    document.getElementById("service-level-meter").value = board.service_level === null ? 0 : board.service_level;
    rows("queues", board.queues, "queue", (q) => [[q.queue], [q.waiting, "waiting"], [q.longest_wait_seconds],
      [q.members], [q.members_free], [q.today.answered], [q.today.abandoned],
      [` ${percent(q.service_level)}`, "", q.service_level]]);
    rows("agents", board.agents, "agent", (a) => [[a.display_name || a.username], [words(a.state), "state"],
      [words(a.reason)], [a.queues.join(", ")], [clock(a.since)], [a.phone]]);
    document.getElementById("alerts").replaceChildren(...board.alerts.map((alert) => {
      const item = document.createElement("li");
      const label = document.createElement("strong");
      label.textContent = "Alert:";
      item.dataset.code = alert.code;
      item.append(label, ` ${alert.message}`);
      return item;
    }));
    state.dataset.live = board.live ? "yes" : "no";
  }

  async function refresh() {
    try {
      const response = await fetch(state.dataset.source, { headers: { Accept: "application/json" } });
      if (response.ok) show(await response.json());
      else if (response.status === 401) window.location.reload();
    } catch (error) {
      state.dataset.live = "no";
    }
  }

  setInterval(refresh, 2000);
})();
