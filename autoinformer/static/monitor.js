// The dispatcher console's live monitor (REQ-O3): a WebSocket of the
// campaign's snapshots (autoinformer.web.monitor_ws) drawn into the page.
// The page gives the campaign, the socket's path and the titles in the JSON
// block #monitor-data. Text goes in with textContent only (no HTML built here).
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("monitor-data").textContent);
  const TITLES = data.results;
  const STATUSES = data.statuses;

  function fmtEta(s) {
    if (s == null) return "—";
    s = Math.round(s);
    return Math.floor(s / 60) + " мин " + (s % 60) + " с";
  }

  function set(id, value) {
    document.getElementById(id).textContent = value;
  }

  function fill(tableId, headers, rows) {
    const table = document.getElementById(tableId);
    table.replaceChildren();
    const head = table.insertRow();
    for (const h of headers) {
      const th = document.createElement("th");
      th.textContent = h;
      head.appendChild(th);
    }
    for (const cells of rows) {
      const tr = table.insertRow();
      for (const [text, attrs] of cells) {
        const td = tr.insertCell();
        td.textContent = text;
        for (const [k, v] of Object.entries(attrs || {})) td.setAttribute(k, v);
      }
    }
  }

  function render(m) {
    const st = m.stats;
    set("lines", m.lines_in_use + " из " + m.lines_limit);
    set("in_flight", st.in_flight);
    set("total", st.total);
    set("finished", st.finished);
    set("positive", st.positive);
    set("rate", Math.round(st.positive_rate * 100) + "%");
    set("eta", fmtEta(m.eta_seconds));
    set("status", STATUSES[st.status] || st.status);
    document.getElementById("progress").value = st.progress;
    fill(
      "results",
      ["Результат", "Попыток"],
      Object.entries(st.results).map(([k, v]) => [
        [TITLES[k] || k],
        [String(v), { "data-result": k }],
      ])
    );
    fill(
      "calls",
      ["Попытка", "Состояние", "Сек."],
      m.calls.map((c) => [[String(c.attempt_id)], [c.state], [String(c.seconds)]])
    );
    fill(
      "recent",
      ["Абонент", "Номер", "Результат", "Причина"],
      (m.recent || []).map((r) => [
        [r.callee || (r.account ? "ЛС " + r.account : "—")],
        [r.phone],
        [r.result_title, { "data-result": r.result }],
        [r.cause || "—", { "class": "cause" }],
      ])
    );
    const trunk = document.getElementById("trunk-problem");
    if (m.trunk_problem) {
      trunk.textContent =
        "Звонки не совершаются: " + m.trunk_problem +
        ". Проверьте настройку outbound_trunk и конфигурацию Asterisk.";
      trunk.hidden = false;
    } else {
      trunk.hidden = true;
    }
    window.lastMonitor = m;
  }

  function connect() {
    const proto = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(
      proto + "://" + location.host + data.ws + "?campaign=" + encodeURIComponent(data.campaign)
    );
    ws.onmessage = (e) => render(JSON.parse(e.data));
    ws.onclose = () => setTimeout(connect, 1000);
  }

  connect();
})();
