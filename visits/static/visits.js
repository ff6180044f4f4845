// The visits panel of the operator's workplace (visits/panel.html): shown
// with the caller's card (the "hotline:card" event of operator.js) when the
// card has an account; books, moves and cancels the account's visit through
// /visits/api/ (JSON POSTs with the session's CSRF token).
"use strict";
(function () {
  const box = document.getElementById("visits-panel");
  if (!box) return;
  const el = (id) => document.getElementById(id);
  const officeSel = el("visits-office"), dateIn = el("visits-date"), slotSel = el("visits-slot");
  const notifySel = el("visits-notify"), msg = el("visits-msg"), list = el("visits-booked");
  let account = null, moving = null;

  async function getJson(path) {
    const r = await fetch(path, { credentials: "same-origin", headers: { Accept: "application/json" } });
    const data = await r.json().catch(() => ({}));
    if (!r.ok) throw new Error(data.error || r.statusText);
    return data;
  }

  function say(text, ok) { msg.textContent = text; msg.className = ok ? "ok" : "error"; }

  async function load() {
    const data = await getJson(`/visits/api/accounts/${account}`);
    list.innerHTML = "";
    for (const v of data.visits) {
      const li = document.createElement("li");
      li.dataset.visit = v.id;
      li.textContent = `Запись № ${v.id}: ${v.when}, ${v.office} (${v.address}) `;
      const mv = document.createElement("button"); mv.type = "button"; mv.textContent = "Перенести"; mv.className = "visit-move";
      mv.addEventListener("click", () => { moving = v.id; officeSel.value = String(v.office_id); el("visits-move").hidden = false; el("visits-book").hidden = true; slots(); });
      const cx = document.createElement("button"); cx.type = "button"; cx.textContent = "Отменить"; cx.className = "visit-cancel";
      cx.addEventListener("click", async () => {
        try { await window.Hotline.post(`/visits/api/visits/${v.id}/cancel`, {}); await load(); say(`Запись № ${v.id} отменена.`, true); }
        catch (e) { say(e.message, false); }
      });
      li.append(mv, " ", cx);
      list.append(li);
    }
    if (!data.visits.length) list.innerHTML = "<li>Записей нет.</li>";
    box.dataset.visits = String(data.visits.length);
    officeSel.innerHTML = "";
    for (const o of data.offices) officeSel.add(new Option(`${o.name} — ${o.address}`, String(o.id)));
    notifySel.innerHTML = "";
    if (data.channels.email) notifySel.add(new Option("e-mail " + data.channels.email, "email"));
    if (data.channels.sms) notifySel.add(new Option("SMS на " + data.channels.sms, "sms"));
    notifySel.add(new Option("не отправлять", "none"));
    moving = null; el("visits-move").hidden = true; el("visits-book").hidden = false;
    await slots();
  }

  let asked = 0;  // the latest request for slots: an older answer is dropped

  // The free slots of the chosen office (and day); data-slots is set once
  // they are listed, and removed while they are being fetched.
  async function slots() {
    const mine = ++asked;
    slotSel.innerHTML = "";
    delete box.dataset.slots;
    if (!officeSel.value) return;
    el("visits-day-link").href = `/visits/offices/${officeSel.value}/day` + (dateIn.value ? `?date=${encodeURIComponent(dateIn.value)}` : "");
    const q = dateIn.value ? `?date=${encodeURIComponent(dateIn.value)}` : "";
    try {
      const data = await getJson(`/visits/api/offices/${officeSel.value}/slots${q}`);
      if (mine !== asked) return;
      for (const s of data.slots) slotSel.add(new Option(`${s.label} (свободно окон: ${s.free})`, s.starts_at));
      box.dataset.slots = String(data.slots.length);
      if (data.closed) say("Офис в этот день не принимает: " + data.closed + ".", false);
      else if (!data.slots.length) say("Свободного времени нет.", false);
      else msg.textContent = "";
    } catch (e) { if (mine === asked) say(e.message, false); }
  }

  officeSel.addEventListener("change", slots);
  dateIn.addEventListener("change", slots);
  el("visits-book").addEventListener("click", async () => {
    if (!slotSel.value) { say("Выберите время.", false); return; }
    try {
      const v = await window.Hotline.post(`/visits/api/accounts/${account}/visits`, { office_id: Number(officeSel.value), starts_at: slotSel.value, notify: notifySel.value });
      await load();
      say(`Записан: № ${v.id}, ${v.when}.`, true);
    } catch (e) { say(e.message, false); await slots(); }
  });
  el("visits-move").addEventListener("click", async () => {
    try {
      const v = await window.Hotline.post(`/visits/api/visits/${moving}/move`, { starts_at: slotSel.value });
      await load();
      say(`Запись № ${v.id} перенесена: ${v.when}.`, true);
    } catch (e) { say(e.message, false); await slots(); }
  });

  document.addEventListener("hotline:card", (ev) => {
    const acc = ev.detail && ev.detail.account;
    box.hidden = !acc;
    if (!acc || acc.id === account) return;
    account = acc.id;
    msg.textContent = "";
    load().catch((e) => say(e.message, false));
  });
})();
