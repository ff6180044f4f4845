// The operator's card (crm_bridge.web): receives the caller's card over the
// WebSocket when this operator is connected to a call, and sends the appeal
// actions back (JSON POSTs with the session's CSRF token).
"use strict";
(function () {
  const statusEl = document.getElementById("status");
  const cardEl = document.getElementById("card");
  const codes = document.getElementById("codes").innerHTML;
  const reasons = document.getElementById("reasons").innerHTML;
  let current = null;

  function esc(value) {
    return String(value == null ? "" : value).replace(/[&<>"']/g, (c) => ({
      "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;",
    })[c]);
  }
  function when(iso) {
    return iso ? new Date(iso).toLocaleString("ru-RU") : "—";
  }
  function money(v) {
    return v == null ? "—" : Number(v).toLocaleString("ru-RU", { minimumFractionDigits: 2 }) + " ₽";
  }

  const post = window.Hotline.post;

  function identBlock(card) {
    const id = card.ident;
    const acc = card.account;
    if (!acc) {
      const cands = (id.candidates || []).map((c) => `<li>${esc(c.number)} — ${esc(c.address)}</li>`).join("");
      return `<div id="ident"><h2>Абонент</h2><p>Не определён.</p>${cands ? `<p>Возможные лицевые счета:</p><ul>${cands}</ul>` : ""}</div>`;
    }
    const how = { account: "по номеру лицевого счёта, названному в меню", campaign: "по списку кампании обзвона (звонили на номер из договора)", call: "по данным звонка", phone: "по номеру телефона" }[id.method] || id.method;
    const warn = id.verified ? "" :
      `<p class="warn">Определён только по номеру телефона (уверенность ${Math.round(id.confidence * 100)} %). ` +
      "Сведения о задолженности и показаниях сообщайте только после того, как абонент назовёт номер лицевого счёта или адрес (REQ-T9).</p>";
    const meters = (acc.meters || []).map((m) => {
      const last = m.last.map(([z, v]) => `${esc(z)}: ${esc(v == null ? "—" : v)}`).join(", ");
      const hist = (m.readings || []).map((r) => `<li>${when(r.taken_at)} ${esc(r.zone)} = ${esc(r.value)} (${esc(r.source)}, ${esc(r.status)})</li>`).join("");
      return `<li>Счётчик ${esc(m.serial)}: ${last}; снят ${when(m.last_reading_at)}<ul>${hist}</ul></li>`;
    }).join("");
    return `<div id="ident"><h2>Абонент</h2>${warn}
      <p>Определён ${esc(how)}.</p>
      <p><b>Лицевой счёт:</b> <span id="account-number">${esc(acc.number)}</span><br>
      <b>Владелец:</b> ${esc(acc.holder)} (${esc(acc.category)})<br>
      <b>Адрес:</b> ${esc(acc.address)}<br>
      <b>Задолженность:</b> <span id="debt">${money(acc.debt)}</span>${acc.debt_as_of ? " на " + esc(acc.debt_as_of) : ""}</p>
      <p><label>Способ уведомления, выбранный абонентом <select id="notify-by">${notifyOptions(acc.notify_by)}</select></label>
      <button id="save-notify">Сохранить способ</button> <span id="notify-msg"></span></p>
      <h2>Счётчики и последние показания</h2><ul>${meters || "<li>нет</li>"}</ul></div>`;
  }

  const NOTIFY = [["", "не выбран (сначала звонок)"], ["phone", "звонок"], ["sms", "СМС"], ["email", "электронная почта"]];
  function notifyOptions(chosen) {
    return NOTIFY.map(([v, t]) => `<option value="${v}"${(chosen || "") === v ? " selected" : ""}>${esc(t)}</option>`).join("");
  }

  function wireNotify(card) {
    const btn = document.getElementById("save-notify");
    if (!btn || !card.account) return;
    btn.addEventListener("click", async () => {
      const out = document.getElementById("notify-msg");
      try {
        await post(`api/calls/${encodeURIComponent(card.uniqueid)}/notify-by`, {
          account: card.account.id, notify_by: document.getElementById("notify-by").value,
        });
        out.textContent = "Сохранено"; out.className = "ok";
      } catch (e) { out.textContent = e.message; out.className = "error"; }
    });
  }

  function appealBlock(card) {
    const a = card.appeal;
    if (!a) return `<div id="appeal"><h2>Обращение</h2><p>По этому звонку обращение ещё не зарегистрировано.</p>
      <label>Суть обращения <textarea id="new-content" rows="3" cols="40"></textarea></label>
      <label>Классификация <select id="new-code"><option value="">—</option>${codes}</select></label>
      <button id="register">Зарегистрировать обращение</button><p id="appeal-msg"></p></div>`;
    return `<div id="appeal"><h2>Обращение <span id="appeal-number">${esc(a.number)}</span></h2>
      <p>Статус: <b id="appeal-status">${esc(a.status_ru)}</b>; классификация: <b id="appeal-class">${esc(a.classification || "—")}</b></p>
      <p>${esc(a.content)}</p>
      <label>Классификация <select id="code">${codes}</select></label>
      <button id="classify">Сохранить классификацию</button>
      <label>Что сделано, примечание <textarea id="note" rows="3" cols="40"></textarea></label>
      <p><button id="answer">Ответ дан</button> <button id="close">Закрыть обращение</button></p>
      <label>Не рассматривается <select id="reason">${reasons}</select></label>
      <button id="not-considered">Отметить</button>
      <p id="appeal-msg"></p></div>`;
  }

  function render(card) {
    current = card;
    const call = card.call;
    const ob = card.outbound;
    const out = !ob ? "" : ob.name
      ? `<div id="outbound"><p><b>Обзвон:</b> абонент нажал 0 во время сообщения кампании <span id="campaign-name">«${esc(ob.name)}»</span> (${esc(ob.kind)}).</p>
        <p><b>Абонент слышал:</b> <span id="campaign-message">${esc(ob.message)}</span></p></div>`
      : `<p id="outbound"><b>Кампания обзвона № ${esc(ob.campaign)}</b> (контакт № ${esc(ob.contact)})</p>`;
    const number = (ob && ob.phone) || call.caller_number || "скрыт";  // outbound: the callee
    const ivr = (card.ivr || []).map((e) => `<li>${esc(e.text)}</li>`).join("");
    const open = (card.open_appeals || []).map((a) => `<li>${esc(a.number)} от ${when(a.received_at)} — ${esc(a.status_ru)}, ${esc(a.classification || "без кода")}: ${esc(a.content)}</li>`).join("");
    cardEl.innerHTML = `
      <div id="call"><h2>Звонок</h2>
        <p><b>Номер:</b> <span id="caller">${esc(number)}</span><br>
        <b>Начало:</b> ${when(call.started_at)}<br>
        <b>Ожидание в очереди:</b> ${esc(card.hold_time != null ? card.hold_time + " с" : (call.wait_seconds != null ? Math.round(call.wait_seconds) + " с" : "—"))}</p>
        ${out}
        ${call.recorded ? `<p>Запись разговора: <audio id="call-recording" controls preload="none" src="api/calls/${encodeURIComponent(card.uniqueid)}/recording"></audio>${window.OPERATOR.supervisor ? ` <a href="api/calls/${encodeURIComponent(card.uniqueid)}/recording?download=1">скачать</a>` : ""}</p>` : ""}
        <p><label>Завершить звонок из-за <select id="abusive-kind"><option value="obscene">нецензурной брани</option><option value="threat">угроз</option></select></label>
        <button id="abusive" class="danger">Завершить звонок</button></p>
        <h2>Действия в голосовом меню</h2><ol class="ivr">${ivr || "<li>нет данных</li>"}</ol></div>
      ${identBlock(card)}
      ${appealBlock(card)}
      <div id="open"><h2>Открытые обращения абонента</h2><ul>${open || "<li>нет</li>"}</ul></div>`;
    cardEl.hidden = false;
    cardEl.dataset.uniqueid = card.uniqueid;
    statusEl.textContent = "Идёт разговор";
    wire(card);
    cardEl.dataset.shownAt = String(Date.now() / 1000);
  }

  function showAppeal(a) {
    current.appeal = a;
    document.getElementById("appeal-status").textContent = a.status_ru;
    document.getElementById("appeal-class").textContent = a.classification || "—";
  }

  function msg(t, bad) {
    const el = document.getElementById("appeal-msg");
    if (el) { el.textContent = t; el.className = bad ? "error" : "ok"; }
  }

  function wireAppeal(card) {
    const act = (id, action, body) => {
      const el = document.getElementById(id);
      if (!el) return;
      el.addEventListener("click", async () => {
        try {
          const a = await post(`api/appeals/${current.appeal.id}/${action}`, body());
          showAppeal(a);
          msg("Сохранено");
        } catch (e) { msg(e.message, true); }
      });
    };
    const note = () => document.getElementById("note").value;
    act("classify", "classify", () => ({ code: document.getElementById("code").value }));
    act("answer", "answer", () => ({ note: note() }));
    act("close", "close", () => ({ note: note() }));
    act("not-considered", "not-considered", () => ({ reason: document.getElementById("reason").value, note: note() }));
    const codeSel = document.getElementById("code");
    if (codeSel && card.appeal && card.appeal.classification) codeSel.value = card.appeal.classification;
    const reg = document.getElementById("register");
    if (reg) reg.addEventListener("click", async () => {
      try {
        const a = await post(`api/calls/${encodeURIComponent(card.uniqueid)}/appeal`, {
          content: document.getElementById("new-content").value,
          code: document.getElementById("new-code").value,
        });
        current.appeal = a;
        document.getElementById("appeal").outerHTML = appealBlock(current);
        wireAppeal(current);
        msg("Обращение зарегистрировано");
      } catch (e) { msg(e.message, true); }
    });
  }

  function wire(card) {
    wireAppeal(card);
    wireNotify(card);
    document.getElementById("abusive").addEventListener("click", async () => {
      const kind = document.getElementById("abusive-kind").value;
      const why = kind === "threat" ? "угроз" : "нецензурной брани";
      if (!window.confirm(`Завершить звонок из-за ${why}?`)) return;
      try {
        const r = await post(`api/calls/${encodeURIComponent(card.uniqueid)}/end-abusive`, { kind });
        if (r.appeal) showAppeal(r.appeal);
        statusEl.textContent = `Звонок завершён оператором из-за ${why}`;
        statusEl.dataset.ended = kind;
      } catch (e) { statusEl.textContent = e.message; }
    });
  }

  function connect() {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const ws = new WebSocket(`${proto}//${location.host}/operator/ws`);
    ws.onmessage = (ev) => {
      const msg = JSON.parse(ev.data);
      if (msg.type === "hello") { document.body.dataset.ws = "ready"; }
      else if (msg.type === "card") { render(msg.card); }
      else if (msg.type === "call_ended" && current && msg.uniqueid === current.uniqueid) {
        statusEl.textContent = "Звонок завершён";
      }
    };
    ws.onclose = () => { document.body.dataset.ws = "closed"; setTimeout(connect, 2000); };
  }
  connect();
})();
