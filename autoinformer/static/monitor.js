// The dispatcher console's live monitor (REQ-O3): a WebSocket of the
// campaign's snapshots (autoinformer.web.monitor_ws) drawn into the page.
// The page gives the campaign, the socket's path and the titles in the JSON
// block #monitor-data. Text goes in with textContent only (no HTML built here).
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("monitor-data").textContent);
  const TITLES = data.results;
  const STATUSES = data.statuses;
  const HELD = data.held;
  const SVG = "http://www.w3.org/2000/svg";

  function fmtEta(s) {
    if (s == null) return "—";
    s = Math.round(s);
    return Math.floor(s / 60) + " мин " + (s % 60) + " с";
  }

  function svg(tag, attrs, text) {
    const el = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
    if (text != null) el.textContent = text;
    return el;
  }

  // The hourly chart and its legend, redrawn from the snapshot (the
  // server's layout: autoinformer.outlook.chart_data).
  function drawChart(chart) {
    const box = document.getElementById("chart-box");
    if (!box) return;
    const key = JSON.stringify(chart);
    if (box.dataset.drawn === key) return;
    box.dataset.drawn = key;
    let pic;
    if (!chart) {
      pic = svg("svg", { width: 640, height: 40, role: "img", "aria-label": "Результаты по часам" });
      pic.appendChild(svg("text", { x: 4, y: 24 }, "Звонков ещё не было"));
    } else {
      pic = svg("svg", {
        id: "chart", width: chart.width, height: chart.height + 40,
        role: "img", "aria-label": "Результаты по часам",
      });
      for (const b of chart.bars) {
        const rect = svg("rect", { x: b.x, y: b.y, width: b.width, height: b.height, fill: b.colour });
        rect.appendChild(svg("title", {}, b.title));
        pic.appendChild(rect);
      }
      for (const [x, hour] of chart.hours) {
        pic.appendChild(svg("text", { x: x, y: chart.height + 14, "font-size": 10 }, hour));
      }
      pic.appendChild(svg("text", { x: 4, y: 14, "font-size": 11 }, "макс. " + chart.top));
    }
    const legend = document.createElement("ul");
    legend.id = "chart-legend";
    legend.className = "legend";
    for (const item of (chart && chart.legend) || []) {
      const li = document.createElement("li");
      li.dataset.result = item.result;
      const swatch = svg("svg", { width: 12, height: 12, "aria-hidden": "true" });
      swatch.appendChild(svg("rect", { width: 12, height: 12, fill: item.colour }));
      li.appendChild(swatch);
      li.appendChild(document.createTextNode(" " + item.title + ": " + item.count));
      legend.appendChild(li);
    }
    box.replaceChildren(pic, legend);
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
    const ahead = m.outlook || {};
    // No count-down when nothing can be dialled now: when it resumes, in
    // the callees' local time (the windows, the 230-FZ caps, holidays).
    set("eta", m.eta_seconds == null && ahead.resume && !ahead.dialable ? ahead.resume : fmtEta(m.eta_seconds));
    const resume = document.getElementById("resume");
    if (resume) {
      // Only beside a count-down: otherwise «Осталось» says it already.
      const shown = Boolean(ahead.resume && ahead.dialable);
      resume.textContent = shown ? "Остальные " + ahead.waiting + ": " + ahead.resume : "";
      resume.hidden = !shown;
    }
    const held = Object.entries(ahead.held || {});
    fill(
      "held",
      ["Причина", "Контактов"],
      held.length
        ? held.map(([k, n]) => [[HELD[k] || k, { "data-reason": k }], [String(n)]])
        : [[["Никого не задерживаем"], ["0"]]]
    );
    drawChart(m.chart);
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
      ["Абонент", "Номер", "Лицевой счёт", "Состояние", "Сек."],
      m.calls.map((c) => [
        [c.callee || "—"],
        [c.phone || "—"],
        [c.account || "—"],
        [c.state_title, { "data-state": c.flow_state || c.state, "class": "state" }],
        [String(Math.round(c.seconds))],
      ])
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
