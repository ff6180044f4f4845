// The callback worklist (shift.web): «Позвонить» rings the operator's phone,
// then the customer; the result form records what came of it. The list is
// read again after every action.
"use strict";
(function () {
  const post = window.Hotline.post;
  const msg = document.getElementById("callbacks-msg");

  for (const row of document.querySelectorAll("#callbacks tbody tr")) {
    const id = row.dataset.id;
    row.querySelector("button.call").addEventListener("click", async () => {
      try {
        await post(`/shift/callbacks/${id}/call`);
        row.dataset.status = "in_progress";
        msg.textContent = "Звонит ваш телефон: снимите трубку, затем наберётся номер абонента.";
        msg.dataset.state = "calling";
      } catch (e) { msg.textContent = "Не получилось: " + e.message; msg.dataset.state = "error"; }
    });
    row.querySelector("form.result").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const form = ev.target;
      try {
        await post(`/shift/callbacks/${id}/result`, {
          result: form.result.value,
          note: form.note.value,
          call_back_at: form.call_back_at.value,
        });
        location.reload();
      } catch (e) { msg.textContent = "Не получилось: " + e.message; msg.dataset.state = "error"; }
    });
  }
})();
