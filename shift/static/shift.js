// The presence bar of the operator's workplace (shift.web): the operator's
// state in the queue, live over /shift/ws, and the buttons that change it
// (JSON POSTs with the session's CSRF token). The page shows its state in
// the DOM (section#presence[data-state], [data-phone]) for people and tests.
"use strict";
(function () {
  const box = document.getElementById("presence");
  if (!box) return;
  const el = (id) => document.getElementById(id);
  const stateEl = el("presence-state");
  const phoneEl = el("presence-phone");
  const errorEl = el("presence-error");
  const reasonSel = el("pause-reason");
  let timer = null;
  let shown = -1;

  function show(p) {
    // An action's answer can arrive after the live update that followed it.
    if (p.version < shown) return;
    shown = p.version;
    box.dataset.state = p.state;
    box.dataset.phone = p.phone;
    box.dataset.reason = p.reason || "";
    if (!reasonSel.options.length) {
      for (const [value, title] of p.pause_reasons || []) reasonSel.add(new Option(title, value));
    }
    let text = p.state_title + (p.reason_title ? ": " + p.reason_title : "");
    if (p.pending === "paused") text += " (после звонка — пауза)";
    stateEl.textContent = text;
    clearInterval(timer);
    if (p.state === "wrapup" && p.wrapup_until) {
      const until = new Date(p.wrapup_until);
      const tick = () => {
        const left = Math.max(0, Math.round((until - new Date()) / 1000));
        stateEl.textContent = `${p.state_title}: осталось ${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
      };
      tick();
      timer = setInterval(tick, 1000);
    }
    const offline = p.state === "offline";
    el("queue-login").hidden = !offline;
    el("queue-logout").hidden = offline;
    el("pause-box").hidden = offline || p.state === "paused";
    el("resume").hidden = p.state !== "paused";
    el("wrapup-end").hidden = p.state !== "wrapup";
    box.dataset.consulting = p.consulting || "";
    el("transfer-box").hidden = p.state !== "talking" || !!p.consulting;
    el("consult-box").hidden = p.state !== "talking" || !p.consulting;
    el("consult-with").textContent = p.consulting ? "Консультация: " + p.consulting + ", абонент на удержании." : "";
    phoneEl.hidden = p.phone !== "unregistered";
    phoneEl.className = "warn";
    phoneEl.textContent = offline
      ? "Телефон не зарегистрирован: включите SIP-телефон, иначе звонки до вас не дойдут."
      : "Телефон не зарегистрирован: звонки до вас не доходят. Проверьте SIP-телефон.";
  }

  async function act(path, body) {
    errorEl.hidden = true;
    try {
      const data = await window.Hotline.post("/shift/" + path, body);
      show(data);
      if (data.transferred) box.dataset.transferred = data.transferred;
    } catch (err) {
      errorEl.textContent = "Не получилось: " + err.message;
      errorEl.hidden = false;
    }
  }

  el("queue-login").addEventListener("click", () => act("login"));
  el("queue-logout").addEventListener("click", () => act("logout"));
  el("pause").addEventListener("click", () => act("pause", { reason: reasonSel.value }));
  el("resume").addEventListener("click", () => act("resume"));
  el("wrapup-end").addEventListener("click", () => act("wrapup-end"));
  const target = () => el("transfer-endpoint").value.trim() || el("transfer-to").value;
  el("transfer").addEventListener("click", () => act("transfer", { to: target() }));
  el("consult").addEventListener("click", () => act("consult", { to: target() }));
  el("consult-complete").addEventListener("click", () => act("consult-complete"));
  el("consult-cancel").addEventListener("click", () => act("consult-cancel"));

  function connect() {
    const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/shift/ws");
    ws.onopen = () => { box.dataset.ws = "ready"; };
    ws.onmessage = (msg) => {
      const data = JSON.parse(msg.data);
      if (data.type === "presence") show(data);
    };
    ws.onclose = (ev) => {
      box.dataset.ws = "closed";
      if (ev.code !== 1008) setTimeout(connect, 2000);
    };
  }
  connect();
})();
