// The agent desk's screen pop: each call put through to this agent arrives as a server-sent
// event with its card, and fills the #screen-pop section. Every value is set as text
// (textContent), never as markup: callers' names and notes stay inert.
"use strict";

(function () {
  const section = document.getElementById("screen-pop");
  const streamState = document.getElementById("stream-state");
  if (!section) return;

  function words(text) {
    return (text || "").replace(/_/g, " ");
  }

  function field(name, text) {
    section.querySelector(`[data-field="${name}"]`).textContent = text;
  }

  function fill(listName, rows, render) {
    const list = section.querySelector(`[data-list="${listName}"]`);
    list.replaceChildren();
    if (!rows.length) {
      const empty = document.createElement(list.tagName === "TBODY" ? "tr" : "li");
      empty.textContent = "none";
      list.appendChild(empty);
      return;
    }
    rows.forEach((row) => list.appendChild(render(row)));
  }

  function item(text) {
    const li = document.createElement("li");
    li.textContent = text;
    return li;
  }

  function policyRow(policy) {
    const tr = document.createElement("tr");
    tr.dataset.policy = policy.policy_no;
    [policy.policy_no, policy.product_name, words(policy.status), policy.premium + " / " + words(policy.payment_frequency),
     policy.next_due_date || "", policy.lapse_date || ""].forEach((text) => {
      const td = document.createElement("td");
      td.textContent = text;
      tr.appendChild(td);
    });
    return tr;
  }

  function show(card) {
    const customer = card.customer;
    const number = card.pop.number || "withheld number";
    field("caller", customer ? `${customer.identity.name} (${number})` : `unknown caller ${number}`);
    field("verified", card.verified ? "verified" : "NOT verified");
    field("queue", card.pop.queue || "direct (advisor)");
    field("intent", words(card.call && card.call.path.intent) || "none");
    section.querySelector('[data-field="wrapup-link"]').href = `/calls/${encodeURIComponent(card.pop.call_unique_id)}/wrapup`;
    const customerLink = section.querySelector('[data-field="customer-link"]');
    customerLink.hidden = !customer;
    if (customer) customerLink.href = `/customers/${card.customer_id}`;
    fill("path", card.call ? card.call.path.steps : [], item);
    fill("policies", customer ? customer.policies : [], policyRow);
    fill("claims", customer ? customer.claims.filter((c) => c.open) : [],
         (c) => item(`${c.claim_no} · policy ${c.policy_no} · ${words(c.status)}`));
    fill("complaints", customer ? customer.complaints.filter((c) => c.open) : [],
         (c) => item(`${c.ticket_no} · ${words(c.subject)} · ${words(c.status)}${c.overdue ? " · OVERDUE" : ""}`));
    const earlier = customer ? customer.calls.items.filter((c) => c.unique_id !== card.pop.call_unique_id) : [];
    fill("history", earlier, (c) => item(`${c.started_at} · ${words(c.disposition)} · ${words(c.path.intent) || "no service"}`));
    section.dataset.call = card.pop.call_unique_id;
    showRecording(false, "Recording.");
    section.hidden = false;
  }

  // Pausing the recording while the customer reads out a card number: the server mutes the call's
  // MixMonitor through AMI and marks the pause in the recording catalogue.
  const recordingToggle = document.getElementById("recording-toggle");
  const recordingState = document.getElementById("recording-state");

  function showRecording(paused, text) {
    recordingToggle.dataset.paused = String(paused);
    recordingToggle.textContent = paused ? "Resume recording" : "Pause recording";
    recordingState.textContent = text;
  }

  recordingToggle.addEventListener("click", async () => {
    const paused = recordingToggle.dataset.paused !== "true";
    recordingToggle.disabled = true;
    const response = await fetch(`/api/calls/${encodeURIComponent(section.dataset.call)}/recording`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json",
                 "X-CSRF-Token": document.querySelector('meta[name="csrf-token"]').content },
      body: JSON.stringify({ paused }),
    }).catch(() => null);
    recordingToggle.disabled = false;
    if (response && response.ok) {
      showRecording(paused, paused ? "Recording PAUSED." : "Recording.");
      return;
    }
    const body = response ? await response.json().catch(() => null) : null;
    recordingState.textContent = (body && body.error && body.error.message) || "The console cannot be reached.";
  });

  // The browser reconnects by itself after a dropped stream (Last-Event-ID resumes it). A refused
  // one (session over, server restarted) is closed for good: reconnect here, or go to the login page.
  let lastPop = section.dataset.after;

  function connect() {
    const source = new EventSource(`${section.dataset.events}?after=${encodeURIComponent(lastPop)}`);
    source.addEventListener("open", () => { streamState.textContent = "Connected: waiting for calls…"; });
    source.addEventListener("pop", (event) => {
      lastPop = event.lastEventId || lastPop;
      show(JSON.parse(event.data));
      streamState.textContent = "Call connected.";
    });
    source.addEventListener("error", async () => {
      streamState.textContent = "Connection lost: reconnecting…";
      if (source.readyState !== EventSource.CLOSED) return;
      const state = await fetch("/api/agent/state", { headers: { Accept: "application/json" } }).catch(() => null);
      if (state && state.status === 401) window.location.reload();
      else setTimeout(connect, 3000);
    });
  }

  connect();
})();
