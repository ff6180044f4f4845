// The appeal's page (supervision.appeals_web): every action form posts its
// fields as JSON (the shell's Hotline.post carries the CSRF token) to
// /appeals/{id}/{action}; on success the page is read again, on failure the
// server's Russian message is shown in #appeal-msg (data-state="error").
"use strict";
(function () {
  const box = document.getElementById("appeal");
  const msg = document.getElementById("appeal-msg");
  if (!box) return;
  const id = box.dataset.id;
  for (const form of document.querySelectorAll("form[data-action]")) {
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const body = {};
      for (const el of form.elements) {
        if (!el.name) continue;
        body[el.name] = el.type === "checkbox" ? el.checked : el.value;
      }
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      msg.textContent = form.dataset.action === "extend" ? "Извещаем клиента…" : "Сохраняем…";
      msg.dataset.state = "busy";
      try {
        await window.Hotline.post(`/appeals/${id}/${form.dataset.action}`, body);
        msg.dataset.state = "done";
        location.reload();
      } catch (e) {
        msg.textContent = "Не получилось: " + e.message;
        msg.dataset.state = "error";
        button.disabled = false;
      }
    });
  }
})();
