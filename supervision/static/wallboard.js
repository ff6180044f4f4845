// The supervisor's wallboard (supervision.wallboard_web): snapshots over
// /supervision/ws, rendered into tiles and the operators' table; times in
// state and the longest wait tick every second from the server's clock.
// The page shows what it shows in the DOM (tile[data-value], .red,
// section[data-version], tr[data-state]) for people and tests.
"use strict";
(function () {
  const box = document.getElementById("wallboard");
  if (!box) return;
  const el = (id) => document.getElementById(id);
  const buttons = el("listen-buttons");
  let snap = null;
  let skew = 0; // server clock − browser clock, ms

  const mss = (s) => {
    if (s === null || s === undefined) return "—";
    s = Math.max(0, Math.round(s));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
    return (h ? h + ":" + String(m).padStart(2, "0") : m) + ":" + String(r).padStart(2, "0");
  };
  const since = (iso) => (Date.now() + skew - new Date(iso).getTime()) / 1000;

  function tile(name, value, text, red) {
    const t = el("tile-" + name);
    t.dataset.value = value === null || value === undefined ? "" : String(value);
    t.classList.toggle("red", !!red);
    t.querySelector(".value").textContent = text;
  }

  function tick() {
    if (!snap) return;
    const lw = snap.tiles.longest_wait;
    if (lw.since) el("tile-longest_wait").querySelector(".value").textContent = mss(since(lw.since));
    for (const td of document.querySelectorAll("#operators td.in-state")) td.textContent = mss(since(td.dataset.since));
  }

  function render(s) {
    if (s.version < Number(box.dataset.version) && s.cause.event !== "start") return;
    snap = s;
    skew = new Date(s.now).getTime() - Date.now();
    box.dataset.version = String(s.version);
    const t = s.tiles;
    tile("waiting", t.waiting.value, String(t.waiting.value), t.waiting.red);
    tile("longest_wait", t.longest_wait.value, t.longest_wait.since ? mss(t.longest_wait.value) : "—", t.longest_wait.red);
    tile("service_level", t.service_level.value, t.service_level.value === null ? "—" : t.service_level.value + " %", t.service_level.red);
    tile("abandon_rate", t.abandon_rate.value, t.abandon_rate.value === null ? "—" : t.abandon_rate.value + " %", t.abandon_rate.red);
    tile("avg_wait", t.avg_wait.value, mss(t.avg_wait.value), false);
    tile("avg_handling", t.avg_handling.value, mss(t.avg_handling.value), false);
    tile("am_messages", t.am_messages.value, String(t.am_messages.value), false);
    tile("callbacks", t.callbacks.value, t.callbacks.value + (t.callbacks.overdue ? " (просрочено " + t.callbacks.overdue + ")" : ""), t.callbacks.red);
    const d = s.today;
    const today = el("today");
    today.dataset.answered = d.answered;
    today.dataset.abandoned = d.abandoned;
    today.textContent = `Сегодня в очереди: ${d.queue_calls}, отвечено: ${d.answered} (за 40 с: ${d.within_sla}), не дождались: ${d.abandoned}, ушли на обратный звонок: ${d.left_queue}.`;
    const bs = s.by_state;
    el("by-state").textContent = `Разговаривают: ${bs.talking || 0} · готовы: ${bs.ready || 0} · на паузе: ${bs.paused || 0} · обработка: ${bs.wrapup || 0}`;
    const body = el("operators");
    body.replaceChildren();
    for (const p of s.operators) {
      const tr = document.createElement("tr");
      tr.dataset.operator = p.id;
      tr.dataset.state = p.state;
      const name = document.createElement("td");
      name.textContent = p.name;
      const st = document.createElement("td");
      st.className = "state-" + p.state;
      st.textContent = p.state_title + (p.state === "paused" && p.reason_title ? ": " + p.reason_title : "");
      const dur = document.createElement("td");
      dur.className = "in-state";
      dur.dataset.since = p.since;
      dur.textContent = mss(since(p.since));
      tr.append(name, st, dur);
      if (buttons) {
        const act = document.createElement("td");
        if (p.state === "talking") act.append(buttons.content.cloneNode(true));
        tr.append(act);
      }
      body.append(tr);
    }
    el("operators-empty").hidden = s.operators.length > 0;
  }

  box.addEventListener("click", async (ev) => {
    const b = ev.target.closest("button.listen");
    if (!b) return;
    const tr = b.closest("tr");
    const msg = el("listen-msg");
    msg.hidden = false;
    msg.className = "status";
    msg.textContent = "Звоним на ваш телефон…";
    try {
      const r = await window.Hotline.post("/supervision/listen", { operator_id: Number(tr.dataset.operator), mode: b.dataset.mode });
      msg.dataset.mode = r.mode;
      msg.textContent = r.title + ": снимите трубку вашего телефона.";
    } catch (e) {
      msg.className = "status warn";
      msg.textContent = e.message;
    }
  });

  let retry = 1000;
  function connect() {
    const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/supervision/ws");
    ws.onopen = () => { box.dataset.ws = "ready"; el("wallboard-status").hidden = true; retry = 1000; };
    ws.onmessage = (m) => { const s = JSON.parse(m.data); if (s.type === "wallboard") render(s); };
    ws.onclose = () => {
      box.dataset.ws = "closed";
      const st = el("wallboard-status");
      st.hidden = false;
      st.className = "status warn";
      st.textContent = "Нет связи с сервером, переподключаемся…";
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 15000);
    };
  }
  connect();
  setInterval(tick, 1000);
})();
